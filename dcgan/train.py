"""The training loop: strategy, tf.function step, checkpoints, samples and logs."""

import json
import logging
import math
import os
import shutil
import time

import tensorflow as tf

from dcgan import (
    distribute,
    features,
    input_pipeline,
    losses,
    models,
    precision,
    progress,
    recovery,
    report,
    visualize,
    workdir,
)
from dcgan.errors import UserError
from dcgan.recovery import Diverged, Interrupted, StopOnSignal  # noqa: F401 - train.* API

log = logging.getLogger("dcgan")

# The latent grid rendered through training comes from its own seed stream, so it is the same
# picture-to-picture and run-to-run whatever the data order.
GRID_SEED_OFFSET = 7919


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
        # optim.*_learning_rate times this; halved by each rollback after a divergence.
        self.learning_rate_scale = tf.Variable(1.0, trainable=False, name="learning_rate_scale")

    def checkpoint(self, with_scale=True):
        """with_scale=False reads checkpoints from before learning_rate_scale existed."""
        parts = dict(generator=self.generator, discriminator=self.discriminator,
                     g_optimizer=self.g_optimizer, d_optimizer=self.d_optimizer, step=self.step)
        if with_scale:
            parts["learning_rate_scale"] = self.learning_rate_scale
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

    # Plain arithmetic: converting it inside strategy.run only earns an AutoGraph warning.
    @tf.autograph.experimental.do_not_convert
    def average(per_example):
        return tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)

    def replica_step(images, noise):
        with tf.GradientTape(persistent=True) as tape:
            fake = gan.generator(noise, training=True)
            # Two passes, not one over real and fake concatenated: the generator's gradient
            # would then flow back through the real half too (measured 10% slower in bfloat16).
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
        # A plain average would still hold much of the random initial generator after a short
        # run (0.999**1000 = 37%), so the decay ramps up as (1 + step) / (10 + step), like
        # tf.train.ExponentialMovingAverage's num_updates, until it reaches model.ema_decay.
        step = tf.cast(gan.step, tf.float32)
        decay = tf.minimum(gan.ema_decay, (1.0 + step) / (10.0 + step))
        for ema, live in zip(gan.ema_generator.weights, gan.generator.weights, strict=True):
            ema.assign(decay * ema + (1.0 - decay) * tf.cast(live, ema.dtype))

    names = ("g_loss", "d_loss", "d_real", "d_fake", "d_entropy", "d_kl")

    def train_steps(iterator):
        totals = {k: tf.constant(0.0) for k in names}
        # A graph loop only when it pays: one step runs straight-line, with no loop overhead.
        for _ in (range if steps_per_call == 1 else tf.range)(steps_per_call):
            images, noise = next(iterator)
            per_replica = strategy.run(replica_step, args=(images, noise))
            totals = {k: totals[k] + strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica[k],
                                                     axis=None) for k in names}
            if gan.ema_generator is not None:
                update_ema()
            gan.step.assign_add(1)
        return totals

    if jit_compile:
        # XLA compiles the math; reading the input iterator must stay outside the cluster.
        replica_step = tf.function(replica_step, jit_compile=True)
    return tf.function(train_steps)


def make_input(images, batch_size, noise_dim, seed, start_step):
    """Batches of (real images, noise), both pure functions of (seed, step)."""
    real = input_pipeline.make_dataset(images, batch_size, seed, start_step)
    noise = tf.data.Dataset.range(start_step, 2**62).map(
        lambda step: tf.random.stateless_normal(
            [batch_size, noise_dim], seed=tf.stack([tf.cast(seed, tf.int64), step])))
    return tf.data.Dataset.zip((real, noise)).prefetch(tf.data.AUTOTUNE)


# metrics.jsonl keys (flat, read by other tools) -> TensorBoard tags, grouped into sections.
TENSORBOARD_TAGS = {
    "d_loss": "loss/d", "g_loss": "loss/g",
    "d_real": "discriminator/d_real", "d_fake": "discriminator/d_fake",
    "d_entropy": "cross_entropy/d_entropy", "d_kl": "cross_entropy/d_kl",
    "images_per_sec": "speed/images_per_sec",
    **{name: f"quality/{name}" for name in features.METRIC_NAMES},
}
# Reference lines drawn beside the curves: the losses and D's output when D outputs 1/2.
TENSORBOARD_LINES = {
    "loss/d_equilibrium": losses.EQUILIBRIUM_D_LOSS,
    "loss/g_equilibrium": losses.EQUILIBRIUM_G_LOSS,
    "discriminator/half": 0.5,
}


def custom_scalars_layout():
    """TensorBoard's Custom Scalars tab: each curve on one chart with its reference line."""
    from tensorboard.plugins.custom_scalar import layout_pb2

    def chart(title, *tags):
        return layout_pb2.Chart(title=title, multiline=layout_pb2.MultilineChartContent(
            tag=[f"^{tag}$" for tag in tags]))

    return layout_pb2.Layout(category=[layout_pb2.Category(title="GAN", chart=[
        chart("discriminator loss vs 2 ln 2", "loss/d", "loss/d_equilibrium"),
        chart("generator loss vs ln 2", "loss/g", "loss/g_equilibrium"),
        chart("D(x) and D(G(z)) vs 0.5", "discriminator/d_real", "discriminator/d_fake",
              "discriminator/half"),
        chart("discriminator BCE = H(q) + KL(q || p)", "loss/d", "cross_entropy/d_entropy",
              "cross_entropy/d_kl"),
    ])])


class RunLog:
    """metrics.jsonl and TensorBoard summaries, written by the chief only."""

    def __init__(self, root, enabled):
        self.enabled = enabled
        self.metrics_path = os.path.join(root, workdir.METRICS_FILE)
        self.writer = tf.summary.create_file_writer(os.path.join(root, "tensorboard")) \
            if enabled else None
        if enabled:
            from tensorboard.summary.v1 import custom_scalar_pb

            with self.writer.as_default(step=0):
                tf.summary.experimental.write_raw_pb(
                    custom_scalar_pb(custom_scalars_layout()).SerializeToString(), step=0)

    def scalars(self, step, record, learning_rates=None):
        """Appends `record` to metrics.jsonl and writes it, with reference lines, to TensorBoard.

        `learning_rates` ({"g_learning_rate": ..., ...}) goes to TensorBoard only.
        """
        if not self.enabled:
            return
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps({"step": step, **record}) + "\n")
        with self.writer.as_default(step=step):
            for name, value in record.items():
                tf.summary.scalar(TENSORBOARD_TAGS.get(name, name), value)
            for name, value in TENSORBOARD_LINES.items():
                tf.summary.scalar(name, value)
            for name, value in (learning_rates or {}).items():
                tf.summary.scalar(f"optim/{name}", value)
        self.writer.flush()

    def image(self, step, grid):
        if self.enabled:
            with self.writer.as_default(step=step):
                image = grid[None, :, :, None] if grid.ndim == 2 else grid[None]
                tf.summary.image("samples", image)
            self.writer.flush()


def train_and_evaluate(config, root, allow_new_data=False):
    """Train (or resume) the run in `root`; returns the last logged metrics.

    `config` has passed config_check.check_config; `allow_new_data` lets a resume change
    data.source or seed (workdir.record_config).
    """
    strategy = distribute.make_strategy(config.runtime.distribute,
                                        config.runtime.virtual_cpu_devices)
    if config.training.batch_size % strategy.num_replicas_in_sync:
        raise UserError(f"training.batch_size={config.training.batch_size} must divide evenly "
                        f"over {strategy.num_replicas_in_sync} replicas")
    policy = precision.resolve_precision(config.training.precision)
    chief = distribute.is_chief(strategy)
    run_lock = None
    if chief:  # the workdir is the chief's; other workers only save into temporary folders
        workdir.prepare(root)
        run_lock = workdir.lock(root)
    try:
        return _train(config, root, strategy, policy, chief, allow_new_data)
    except (OSError, tf.errors.OpError) as e:
        problem = recovery.write_problem(e, root)  # a full disk or an unwritable folder
        if problem is None:
            raise
        raise UserError(problem) from None
    finally:
        if run_lock:
            run_lock.close()


def _restore(config, root, strategy, policy, chief, allow_new_data):
    """Build the GAN and load the workdir's latest checkpoint, if any."""
    config_dict = json.loads(config.to_json_best_effort())
    config_dict["resolved_precision"] = policy
    ckpt_dir = os.path.join(root, "checkpoints")
    if chief:  # before restoring: a checkpoint of another model is refused, not loaded
        newest = recovery.checkpoint_candidates(ckpt_dir)[:1]
        resumed = recovery.checkpoint_step(newest[0]) if newest else None
        workdir.record_config(root, config_dict, resumed,
                              resumed is None or resumed < config.training.num_steps,
                              allow_new_data)
    tf.keras.utils.set_random_seed(config.seed)
    with strategy.scope():
        gan = GAN(config, policy)
    # The newest checkpoint that reads back whole: a kill or power cut can tear the last one.
    checkpoint = gan.checkpoint()
    recovery.restore_latest(gan, checkpoint, ckpt_dir, tidy=chief)
    recovery.apply_learning_rates(gan, config.optim)
    manager = tf.train.CheckpointManager(checkpoint, ckpt_dir,
                                         max_to_keep=config.training.keep_checkpoints)
    if chief:  # what was logged past the checkpoint will be logged again
        recovery.forget_after(root, int(gan.step.numpy()))
    return gan, manager


def _train(config, root, strategy, policy, chief, allow_new_data):
    t = config.training
    images = input_pipeline.load_images(config.data.source, config.data.image_size,
                                        config.data.channels, seed=config.seed)
    # Before the GAN is built: loading the extractor must not shift its initial weights.
    scorer = features.run_scorer(config) if t.eval_every_steps else None
    gan, manager = _restore(config, root, strategy, policy, chief, allow_new_data)
    best = BestCheckpoint(gan, root) if scorer else None
    start = int(gan.step.numpy())
    distribute.check_same_step(strategy, start)
    log.info("%s at step %d of %d (%d images, precision %s, %d replica(s))",
             "resuming" if start else "starting", start, t.num_steps, len(images), policy,
             strategy.num_replicas_in_sync)

    def start_input(at_step, pixels):
        dataset = make_input(pixels, t.batch_size, config.model.noise_dim, config.seed, at_step)
        return iter(distribute.distribute_dataset(strategy, dataset))

    iterator = start_input(start, images)
    # The pipeline holds its own copy; only a rollback needs to start another stream.
    rollback_images = images if t.on_nan == "rollback" else None
    del images
    guard = recovery.NanGuard(t.on_nan, gan, manager, config.optim, root, chief)
    if t.on_nan == "rollback" and not manager.latest_checkpoint:
        save_checkpoint(manager, start, chief)  # something to roll back to
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
    # Tracked here, not read from the manager: a non-chief worker's manager never saves, and
    # all workers must make the same saves.
    saved = start if manager.latest_checkpoint else None
    every = {"log": t.log_every_steps, "sample": t.sample_every_steps,
             "checkpoint": t.checkpoint_every_steps}
    if scorer:
        every["eval"] = t.eval_every_steps
    with StopOnSignal() as stop, \
            progress.Progress(start, t.num_steps, t.batch_size, enabled=chief) as bar:
        while step < t.num_steps:
            # Run up to the next step where something is logged, sampled or saved.
            n = min([t.steps_per_call, t.num_steps - step] +
                    [k - step % k for k in every.values()])
            pending.append((n, run_steps(n)))
            step += n
            due = {name: step % k == 0 or step == t.num_steps for name, k in every.items()}
            logged = None
            # Set by a signal at any moment: read once, so all of this step agrees.
            stopping = stop.exit_code
            due_eval = due.get("eval") and not stopping
            # Nothing is logged, drawn or saved from a model that has gone NaN.
            problem = None
            if any(due.values()) or stopping:
                problem = guard.check(pending, step, weights=due["checkpoint"] or stopping)
            if problem:
                if run_log.writer:
                    run_log.writer.close()  # its events past the checkpoint are dropped
                step = saved = guard.handle(problem)  # raises Diverged unless rolling back
                iterator = start_input(step, rollback_images)
                run_log = RunLog(root, chief)
                pending, since = [], time.perf_counter()
                continue
            if due["log"] or due["checkpoint"] or due_eval or stopping:
                record = summarize(pending, time.perf_counter() - since, t.batch_size)
                pending, since = [], time.perf_counter()
                if due_eval:
                    record.update(scorer.score(gan.sampling_generator()))
                    best.offer(step, record["fid"], chief)
                    since = time.perf_counter()  # scoring time is not training throughput
                run_log.scalars(step, record, current_learning_rates(gan))
                last_record = logged = record
            bar.update(step, logged)
            if due["sample"]:
                save_samples(step)
            if due["checkpoint"] or stopping:
                save_checkpoint(manager, step, chief)
                saved = step
            if stopping:
                raise Interrupted(stopping, step)
    if chief:
        if not os.path.exists(workdir.sample_path(root, step)):
            save_samples(step)
        visualize.write_gif(workdir.sample_paths(root), os.path.join(root, workdir.GIF_FILE))
        if os.path.exists(run_log.metrics_path):  # a resumed run may have had nothing to do
            report.write_report(root)
    if saved != step:
        save_checkpoint(manager, step, chief)
    # Workers leave together, once the chief has written everything: a worker that exits
    # while the chief still works is reported by the cluster as a crashed task.
    distribute.check_same_step(strategy, step)
    return last_record


def current_learning_rates(gan):
    return {name: float(tf.convert_to_tensor(optimizer.learning_rate))
            for name, optimizer in (("g_learning_rate", gan.g_optimizer),
                                    ("d_learning_rate", gan.d_optimizer))}


class BestCheckpoint:
    """checkpoints/best: the checkpoint of lowest Frechet distance, apart from the latest ones.

    best.json ({step, fid}) carries the score across resumes.
    """

    def __init__(self, gan, root):
        directory = os.path.join(root, "checkpoints", "best")
        self.manager = tf.train.CheckpointManager(gan.checkpoint(), directory, max_to_keep=1)
        self.path = os.path.join(directory, "best.json")
        self.fid = math.inf
        if self.manager.latest_checkpoint and os.path.exists(self.path):
            try:
                with open(self.path) as f:
                    self.fid = float(json.load(f)["fid"])
            except (OSError, ValueError, KeyError, TypeError):
                log.warning("%s is unreadable; the next evaluation replaces the best", self.path)

    def offer(self, step, fid, chief):
        if not fid < self.fid:
            return
        self.fid = fid
        save_checkpoint(self.manager, step, chief)
        if chief:
            workdir.write_json_atomically(self.path, {"step": step, "fid": fid})
            log.info("best Frechet distance so far (%.4g) at step %d: kept in %s", fid, step,
                     self.manager.directory)


def save_checkpoint(manager, step, chief):
    if chief:
        recovery.save_checkpoint(manager, step)
        return
    # Non-chief workers take part in every save (it may hold collective ops), into a folder
    # of their own that they delete: only the chief's checkpoint is the run's.
    tmp = os.path.join(manager.directory, f".worker_tmp_{os.getpid()}")
    try:
        tf.train.CheckpointManager(manager.checkpoint, tmp, max_to_keep=1).save(step)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


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
