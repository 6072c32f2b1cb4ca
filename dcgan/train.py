"""The training loop: strategy, tf.function step, checkpoints, samples and logs."""

import json
import logging
import math
import os
import signal
import time

import tensorflow as tf

from dcgan import distribute, input_pipeline, losses, models, precision, visualize, workdir
from dcgan.errors import UserError

log = logging.getLogger("dcgan")

# The latent grid rendered through training comes from its own seed stream, so it is the same
# picture-to-picture and run-to-run whatever the data order.
GRID_SEED_OFFSET = 7919


class Interrupted(Exception):
    """Training stopped on a signal after saving a checkpoint; carries the exit code."""

    def __init__(self, exit_code, step):
        super().__init__(f"stopped at step {step} on signal; rerun the same command to resume")
        self.exit_code = exit_code


class Diverged(UserError):
    """A loss became NaN or infinite."""


class GAN(tf.Module):
    """Both models, both optimizers, the optional EMA generator and the step counter."""

    def __init__(self, config, dtype_policy):
        super().__init__(name="gan")
        self.generator = models.generator_from_config(config, dtype_policy)
        self.discriminator = models.discriminator_from_config(config, dtype_policy)
        self.ema_decay = float(config.model.ema_decay)
        self.ema_generator = None
        if self.ema_decay > 0:
            # Sampling only: kept in float32 so the average does not round away small updates.
            self.ema_generator = models.generator_from_config(config)
            self.ema_generator.set_weights(self.generator.get_weights())
        self.g_optimizer = make_optimizer(config.optim.g_learning_rate, config.optim, dtype_policy)
        self.d_optimizer = make_optimizer(config.optim.d_learning_rate, config.optim, dtype_policy)
        # Build the slots now: restoring into an unbuilt Keras optimizer silently drops its state.
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")

    def checkpoint(self):
        parts = dict(generator=self.generator, discriminator=self.discriminator,
                     g_optimizer=self.g_optimizer, d_optimizer=self.d_optimizer, step=self.step)
        if self.ema_generator is not None:
            parts["ema_generator"] = self.ema_generator
        # Keras keeps dropout's random state outside the model's weights; without it a resumed
        # run would draw different dropout masks from the uninterrupted one.
        parts["random_states"] = [
            layer.seed_generator.state for model in (self.generator, self.discriminator)
            for layer in model.layers if getattr(layer, "seed_generator", None) is not None]
        return tf.train.Checkpoint(**parts)

    def sampling_generator(self):
        return self.ema_generator or self.generator


def make_optimizer(learning_rate, optim, dtype_policy):
    optimizer = tf.keras.optimizers.Adam(learning_rate, beta_1=optim.beta1, beta_2=optim.beta2)
    if dtype_policy == "mixed_float16":
        # float16 gradients underflow without a loss scale; each optimizer keeps its own,
        # since G and D gradients differ by orders of magnitude.
        optimizer = tf.keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def make_train_fn(gan, strategy, global_batch, label_smoothing, steps_per_call, jit_compile):
    """A tf.function running `steps_per_call` GAN steps; returns summed metrics."""
    scaled = isinstance(gan.g_optimizer, tf.keras.optimizers.LossScaleOptimizer)

    def average(per_example):
        return tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)

    def replica_step(images, noise):
        with tf.GradientTape(persistent=True) as tape:
            fake = gan.generator(noise, training=True)
            real_logits = gan.discriminator(images, training=True)
            fake_logits = gan.discriminator(fake, training=True)
            d_loss = average(losses.discriminator_loss(real_logits, fake_logits, label_smoothing))
            g_loss = average(losses.generator_loss(fake_logits))
            d_target = gan.d_optimizer.scale_loss(d_loss) if scaled else d_loss
            g_target = gan.g_optimizer.scale_loss(g_loss) if scaled else g_loss
        d_vars = gan.discriminator.trainable_variables
        g_vars = gan.generator.trainable_variables
        d_grads = tape.gradient(d_target, d_vars)
        g_grads = tape.gradient(g_target, g_vars)
        del tape
        gan.d_optimizer.apply(d_grads, d_vars)
        gan.g_optimizer.apply(g_grads, g_vars)
        entropy, kl = losses.discriminator_decomposition(real_logits, fake_logits, label_smoothing)
        return {
            "g_loss": g_loss,
            "d_loss": d_loss,
            "d_real": average(tf.reshape(tf.sigmoid(tf.cast(real_logits, tf.float32)), [-1])),
            "d_fake": average(tf.reshape(tf.sigmoid(tf.cast(fake_logits, tf.float32)), [-1])),
            "d_entropy": average(entropy),
            "d_kl": average(kl),
        }

    def update_ema():
        decay = gan.ema_decay
        for ema, live in zip(gan.ema_generator.weights, gan.generator.weights, strict=True):
            ema.assign(decay * ema + (1.0 - decay) * tf.cast(live, ema.dtype))

    names = ("g_loss", "d_loss", "d_real", "d_fake", "d_entropy", "d_kl")

    def train_steps(iterator):
        totals = {k: tf.constant(0.0) for k in names}
        for _ in tf.range(steps_per_call):
            images, noise = next(iterator)
            per_replica = strategy.run(replica_step, args=(images, noise))
            totals = {k: totals[k] + strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica[k],
                                                     axis=None) for k in names}
            if gan.ema_generator is not None:
                update_ema()
            gan.step.assign_add(1)
        return totals

    return tf.function(train_steps, jit_compile=jit_compile or None)


def make_input(images, batch_size, noise_dim, seed, start_step):
    """Batches of (real images, noise), both pure functions of (seed, step)."""
    real = input_pipeline.make_dataset(images, batch_size, seed, start_step)
    noise = tf.data.Dataset.range(start_step, 2**62).map(
        lambda step: tf.random.stateless_normal(
            [batch_size, noise_dim], seed=tf.stack([tf.cast(seed, tf.int64), step])))
    return tf.data.Dataset.zip((real, noise)).prefetch(tf.data.AUTOTUNE)


class StopOnSignal:
    """Turns the first SIGINT/SIGTERM into a request to stop at the next step boundary."""

    CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}

    def __init__(self):
        self.exit_code = None
        self._previous = {}

    def _handle(self, signum, frame):
        self.exit_code = self.CODES[signum]
        log.warning("signal %d: stopping after this step (again to quit at once)", signum)
        # A second signal takes the default path: an immediate exit.
        signal.signal(signum, self._previous.get(signum, signal.SIG_DFL))

    def __enter__(self):
        try:
            for signum in self.CODES:
                self._previous[signum] = signal.signal(signum, self._handle)
        except ValueError:  # not the main thread: leave signals alone
            self._previous.clear()
        return self

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


class RunLog:
    """metrics.jsonl, train.log lines and TensorBoard scalars, written by the chief only."""

    def __init__(self, root, enabled):
        self.enabled = enabled
        self.metrics_path = os.path.join(root, workdir.METRICS_FILE)
        self.writer = tf.summary.create_file_writer(os.path.join(root, "tensorboard")) \
            if enabled else None

    def scalars(self, step, record):
        if not self.enabled:
            return
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps({"step": step, **record}) + "\n")
        with self.writer.as_default(step=step):
            for name, value in record.items():
                tf.summary.scalar(name, value)
            tf.summary.scalar("equilibrium/d_loss", losses.EQUILIBRIUM_D_LOSS)
            tf.summary.scalar("equilibrium/g_loss", losses.EQUILIBRIUM_G_LOSS)
        self.writer.flush()
        log.info("step %d  %s", step, "  ".join(f"{k} {v:.4g}" for k, v in record.items()))

    def image(self, step, grid):
        if self.enabled:
            with self.writer.as_default(step=step):
                image = grid[None, :, :, None] if grid.ndim == 2 else grid[None]
                tf.summary.image("samples", image)
            self.writer.flush()


def check_resumable(root, config_dict, has_checkpoint):
    saved = workdir.read_config(root)
    if not has_checkpoint or saved is None:
        return
    differences = workdir.model_differences(saved, config_dict)
    if differences:
        raise UserError(
            f"workdir {root} holds a checkpoint of a different model ({'; '.join(differences)}); "
            "use a new --workdir or the config it was trained with")


def validate(t):
    for name in ("batch_size", "num_steps", "log_every_steps", "sample_every_steps",
                 "checkpoint_every_steps", "steps_per_call", "num_grid_images"):
        if t[name] <= 0:
            raise UserError(f"training.{name}={t[name]} must be positive")
    if not 0.0 <= t.label_smoothing < 1.0:
        raise UserError(f"training.label_smoothing={t.label_smoothing} must be in [0, 1)")


def train_and_evaluate(config, root):
    """Train (or resume) the run in `root`; returns the last logged metrics."""
    validate(config.training)
    strategy = distribute.make_strategy(config.runtime.distribute,
                                        config.runtime.virtual_cpu_devices)
    if config.training.batch_size % strategy.num_replicas_in_sync:
        raise UserError(f"training.batch_size={config.training.batch_size} must divide evenly "
                        f"over {strategy.num_replicas_in_sync} replicas")
    policy = precision.resolve_precision(config.training.precision)
    chief = distribute.is_chief(strategy)
    workdir.prepare(root)
    run_lock = workdir.lock(root) if chief else None
    try:
        return _train(config, root, strategy, policy, chief)
    finally:
        if run_lock:
            run_lock.close()


def _restore(config, root, strategy, policy, chief):
    """Build the GAN and load the workdir's latest checkpoint, if any."""
    config_dict = json.loads(config.to_json_best_effort())
    ckpt_dir = os.path.join(root, "checkpoints")
    check_resumable(root, config_dict, tf.train.latest_checkpoint(ckpt_dir) is not None)
    tf.keras.utils.set_random_seed(config.seed)
    with strategy.scope():
        gan = GAN(config, policy)
    manager = tf.train.CheckpointManager(gan.checkpoint(), ckpt_dir,
                                         max_to_keep=config.training.keep_checkpoints)
    if manager.latest_checkpoint:
        try:
            manager.checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        except (AssertionError, ValueError, tf.errors.OpError) as e:
            raise UserError(f"cannot resume from {manager.latest_checkpoint}: "
                            f"{str(e).splitlines()[0]}; use a new --workdir") from None
    if chief:
        workdir.forget_after(root, int(gan.step.numpy()))
        config_dict["resolved_precision"] = policy
        workdir.write_json_atomically(os.path.join(root, workdir.CONFIG_FILE), config_dict)
    return gan, manager


def _train(config, root, strategy, policy, chief):
    t = config.training
    images = input_pipeline.load_images(config.data.source, config.data.image_size,
                                        config.data.channels, seed=config.seed)
    gan, manager = _restore(config, root, strategy, policy, chief)
    start = int(gan.step.numpy())
    log.info("%s at step %d of %d (%d images, precision %s, %d replica(s))",
             "resuming" if start else "starting", start, t.num_steps, len(images), policy,
             strategy.num_replicas_in_sync)
    dataset = make_input(images, t.batch_size, config.model.noise_dim, config.seed, start)
    iterator = iter(strategy.experimental_distribute_dataset(dataset))
    del images  # the pipeline holds its own copy
    run_log = RunLog(root, chief)
    grid_noise = tf.random.stateless_normal(
        [t.num_grid_images, config.model.noise_dim], seed=[config.seed, GRID_SEED_OFFSET])
    step_fns = {}

    def run_steps(n):
        if n not in step_fns:
            step_fns[n] = make_train_fn(gan, strategy, t.batch_size, t.label_smoothing, n,
                                        t.jit_compile)
        return step_fns[n](iterator)

    def save_samples(step):
        images = gan.sampling_generator()(grid_noise, training=False).numpy()
        if chief:
            grid = visualize.save_grid(images, workdir.sample_path(root, step))
            run_log.image(step, grid)

    last_record, pending, since = {}, [], time.perf_counter()
    step = start
    every = {"log": t.log_every_steps, "sample": t.sample_every_steps,
             "checkpoint": t.checkpoint_every_steps}
    with StopOnSignal() as stop:
        while step < t.num_steps:
            # Run up to the next step where something is logged, sampled or saved.
            n = min([t.steps_per_call, t.num_steps - step] +
                    [k - step % k for k in every.values()])
            pending.append((n, run_steps(n)))
            step += n
            due = {name: step % k == 0 or step == t.num_steps for name, k in every.items()}
            if due["log"] or due["checkpoint"] or stop.exit_code:
                record = summarize(pending, time.perf_counter() - since, t.batch_size)
                pending, since = [], time.perf_counter()
                bad = [k for k, v in record.items() if not math.isfinite(v)]
                if bad:
                    raise Diverged(
                        f"{', '.join(bad)} became NaN/Inf by step {step}; the last good checkpoint "
                        f"({manager.latest_checkpoint or 'none'}) is kept; lower the learning "
                        "rates in optim.* and rerun to resume from it")
                run_log.scalars(step, record)
                last_record = record
            if due["sample"]:
                save_samples(step)
            if due["checkpoint"] or stop.exit_code:
                save_checkpoint(manager, step, chief)
            if stop.exit_code:
                raise Interrupted(stop.exit_code, step)
    if chief:
        if not os.path.exists(workdir.sample_path(root, step)):
            save_samples(step)
        visualize.write_gif(workdir.sample_paths(root), os.path.join(root, workdir.GIF_FILE))
    if manager.latest_checkpoint is None or not manager.latest_checkpoint.endswith(f"-{step}"):
        save_checkpoint(manager, step, chief)
    return last_record


def save_checkpoint(manager, step, chief):
    if chief:
        manager.save(checkpoint_number=step)
        return
    # Non-chief workers must take part in the save, into a throwaway folder.
    tmp = os.path.join(manager.directory, f".worker_tmp_{os.getpid()}")
    tf.train.CheckpointManager(manager.checkpoint, tmp, max_to_keep=1).save(step)


def summarize(pending, seconds, batch_size):
    """Mean metrics over the steps run since the last summary, plus throughput."""
    steps = sum(n for n, _ in pending)
    sums = {}
    for _, totals in pending:
        for k, v in totals.items():
            sums[k] = sums.get(k, 0.0) + float(v)
    record = {k: v / steps for k, v in sums.items()}
    record["images_per_sec"] = steps * batch_size / max(seconds, 1e-9)
    return record
