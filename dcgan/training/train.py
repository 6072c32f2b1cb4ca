"""The training loop: strategy, tf.function step, checkpoints, samples and logs."""

import json
import logging
import os
import shutil
import time

import tensorflow as tf

from dcgan import models, progress, report, visualize
from dcgan.data import classes, image_folder, input_pipeline
from dcgan.errors import UserError
from dcgan.quality import features
from dcgan.run import checkpoints, run_record, workdir
from dcgan.training import augment, distribute, losses, precision, recovery
from dcgan.training.recovery import Diverged, Interrupted, StopOnSignal  # noqa: F401 - train.* API
from dcgan.training.state import TrainingState

log = logging.getLogger("dcgan")

# The latent grid rendered through training comes from its own seed stream, so it is the same
# picture-to-picture and run-to-run whatever the data order.
GRID_SEED_OFFSET = 7919
# The classes the generator is asked for in training have their own stream: seeds are below
# 2**32 (config_check), so (seed + this, step) never meets the noise's (seed, step).
FAKE_LABEL_SEED_OFFSET = 2**32


def make_train_fn(gan, strategy, training, steps_per_call, augmentation=None):
    """A tf.function running `steps_per_call` GAN steps of the config's `training` settings
    (batch, label smoothing, R1, XLA); returns summed metrics.

    `augmentation` (an augment.Augmentation, or None for none) transforms every image D sees.
    With training.r1_gamma > 0, gamma / 2 x the R1 penalty joins D's loss every
    training.r1_every steps.
    """
    global_batch, label_smoothing = training.batch_size, training.label_smoothing
    r1_gamma, r1_every = training.r1_gamma, training.r1_every
    scaled = isinstance(gan.g_optimizer, tf.keras.optimizers.LossScaleOptimizer)

    # Plain arithmetic: converting it inside strategy.run only earns an AutoGraph warning.
    @tf.autograph.experimental.do_not_convert
    def average(per_example):
        return tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)

    def replica_step(images, noise, labels=None, fake_labels=None):
        # labels: the real images' classes, fake_labels: those the generator is asked for;
        # both None in an unconditional run.
        with tf.GradientTape(persistent=True) as tape:
            fake = gan.generator(models.model_inputs(noise, fake_labels), training=True)
            if augmentation:
                # Inside the tape: G's gradient flows back through the augmentation of its fakes.
                images = augmentation(images, gan.augment_p, gan.step, augment.REAL_STREAM)
                fake = augmentation(fake, gan.augment_p, gan.step, augment.FAKE_STREAM)
            # Two passes, not one over real and fake concatenated: the generator's gradient
            # would then flow back through the real half too (measured 10% slower in bfloat16).
            real_logits = gan.discriminator(models.model_inputs(images, labels), training=True)
            fake_logits = gan.discriminator(models.model_inputs(fake, fake_labels),
                                            training=True)
            d_loss = average(losses.discriminator_loss(real_logits, fake_logits, label_smoothing))
            g_loss = average(losses.generator_loss(fake_logits))
            d_objective = d_loss
            if r1_gamma:
                # Lazy (Karras et al., 2020): only every r1_every-th step, weighted r1_every
                # times, so the pull is the same on average for a fraction of the cost.
                r1 = r1_every * average(tf.cond(
                    gan.step % r1_every == 0,
                    lambda: losses.r1_penalty(lambda x: gan.discriminator(
                        models.model_inputs(x, labels), training=True), images),
                    lambda: tf.zeros([tf.shape(images)[0]])))
                d_objective += 0.5 * r1_gamma * r1
            d_target = gan.d_optimizer.scale_loss(d_objective) if scaled else d_objective
            g_target = gan.g_optimizer.scale_loss(g_loss) if scaled else g_loss
        d_vars = gan.discriminator.trainable_variables
        g_vars = gan.generator.trainable_variables
        d_grads = tape.gradient(d_target, d_vars)
        g_grads = tape.gradient(g_target, g_vars)
        del tape
        gan.d_optimizer.apply(d_grads, d_vars)
        gan.g_optimizer.apply(g_grads, g_vars)
        entropy, kl = losses.discriminator_decomposition(real_logits, fake_logits, label_smoothing)
        penalty = {"d_r1": r1} if r1_gamma else {}
        return {
            **penalty,
            "g_loss": g_loss,
            "d_loss": d_loss,
            "d_real": average(tf.reshape(tf.sigmoid(tf.cast(real_logits, tf.float32)), [-1])),
            "d_fake": average(tf.reshape(tf.sigmoid(tf.cast(fake_logits, tf.float32)), [-1])),
            "d_entropy": average(entropy),
            "d_kl": average(kl),
            # r_t of ADA: rises towards 1 as D memorises the training images.
            "d_sign_real": average(tf.reshape(tf.sign(tf.cast(real_logits, tf.float32)), [-1])),
        }

    names = ("g_loss", "d_loss", "d_real", "d_fake", "d_entropy", "d_kl", "d_sign_real") + \
        (("d_r1",) if r1_gamma else ())

    def train_steps(iterator):
        totals = {k: tf.constant(0.0) for k in names + (("augment_p",) if augmentation else ())}
        # A graph loop only when it pays: one step runs straight-line, with no loop overhead.
        for _ in (range if steps_per_call == 1 else tf.range)(steps_per_call):
            if gan.scheduled:
                gan.set_learning_rates()
            per_replica = strategy.run(replica_step, args=next(iterator))
            values = {k: strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica[k], axis=None)
                      for k in names}
            if augmentation:
                if augmentation.adaptive:  # every step, so a resume replays it exactly
                    gan.augment_p.assign(augmentation.adapted(gan.augment_p,
                                                              values["d_sign_real"], global_batch))
                values["augment_p"] = tf.identity(gan.augment_p)
            totals = {k: totals[k] + values[k] for k in totals}
            if gan.ema_generator is not None:
                gan.update_ema()
            gan.step.assign_add(1)
        return totals

    if training.jit_compile:
        # XLA compiles the math; reading the input iterator must stay outside the cluster.
        replica_step = tf.function(replica_step, jit_compile=True)
    return tf.function(train_steps)


def make_input(images, batch_size, noise_dim, seed, start_step, labels=None, num_classes=0):
    """Batches of (real images, noise), all pure functions of (seed, step).

    With `labels` (a conditional run of `num_classes` classes) the batches are (real images,
    noise, their labels, fake labels): the real images' classes, and the classes the
    generator is asked for, uniform over the classes.
    """
    real = input_pipeline.make_dataset(images, batch_size, seed, start_step, labels)
    steps = tf.data.Dataset.range(start_step, 2**62)
    noise = steps.map(
        lambda step: tf.random.stateless_normal(
            [batch_size, noise_dim], seed=tf.stack([tf.cast(seed, tf.int64), step])))
    if labels is None:
        return tf.data.Dataset.zip((real, noise)).prefetch(tf.data.AUTOTUNE)
    fake_labels = steps.map(
        lambda step: tf.random.stateless_uniform(
            [batch_size], seed=tf.stack([tf.cast(seed, tf.int64) + FAKE_LABEL_SEED_OFFSET, step]),
            minval=0, maxval=num_classes, dtype=tf.int32))
    return tf.data.Dataset.zip((real, noise, fake_labels)).map(
        lambda pair, z, fake: (pair[0], z, pair[1], fake)).prefetch(tf.data.AUTOTUNE)


def grid_labels(num_images, num_classes):
    """The classes of the training grid's images: every class in turn, one column each."""
    return tf.constant(classes.cycle(list(range(num_classes)), num_images), tf.int32)


def load_training_data(data, conditional, seed):
    """(images, labels, class names); labels and names are None unless `conditional`."""
    if not conditional:
        return input_pipeline.load_images(data.source, data.image_size, data.channels,
                                          seed=seed, cache_dir=data.cache_dir), None, None
    try:
        images, labels, names = input_pipeline.load_labelled_images(
            data.source, data.image_size, data.channels, seed=seed, cache_dir=data.cache_dir)
    except input_pipeline.NoLabels as e:
        raise UserError(f"model.conditional=True needs labels: {e} (or set "
                        "model.conditional=False)") from None
    return images, labels, classes.resolve_class_names(data.source, labels, names,
                                                       data.class_names)


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


def _restore(config, root, strategy, policy, chief, allow_new_data, class_names):
    """Build the training state and load the newest whole checkpoint of the run, if any."""
    config_dict = json.loads(config.to_json_best_effort())
    config_dict["resolved_precision"] = policy
    folder = checkpoints.directory(root)
    # The checkpoint the run continues from, read back whole (torn newer ones set aside).
    resume_from = checkpoints.newest_whole(folder, tidy=chief)
    if chief:  # before restoring: a checkpoint of another model is refused, not loaded
        resumed = checkpoints.step_of(resume_from)
        files = image_folder.source_identity(config.data.source)
        if resume_from:  # another folder is refused before another number of classes
            workdir.data_change(root, files, allow_new_data, config.model.conditional)
        if class_names and resume_from:
            workdir.check_classes(root, class_names)
        workdir.record_config(root, config_dict, resumed,
                              resumed is None or resumed < config.training.num_steps,
                              allow_new_data)
        workdir.record_data_files(root, files, resumed,
                                  resumed is None or resumed < config.training.num_steps,
                                  allow_new_data, config.model.conditional)
        if class_names:
            workdir.record_classes(root, class_names)
    tf.keras.utils.set_random_seed(config.seed)
    with strategy.scope():
        gan = TrainingState(config, policy, len(class_names or ()))
    if resume_from:
        gan.restore(resume_from)
    gan.set_learning_rates()
    if float(gan.learning_rate_scale.numpy()) != 1.0:
        log.info("learning rates at %g times optim.*_learning_rate after rollbacks",
                 float(gan.learning_rate_scale.numpy()))
    manager = tf.train.CheckpointManager(gan.checkpoint, folder,
                                         max_to_keep=config.training.keep_checkpoints)
    return gan, manager


def _train(config, root, strategy, policy, chief, allow_new_data):
    t = config.training
    images, labels, class_names = load_training_data(config.data, config.model.conditional,
                                                     config.seed)
    num_classes = len(class_names or ())
    images, labels, held_out, held_out_labels = input_pipeline.select_images(
        images, config.seed, config.data.max_images, config.data.holdout, labels)
    # As many training images as held out, to compare D's outputs on both in the same mode.
    compared = {"d_holdout": (held_out, held_out_labels),
                "d_trained": (images[:len(held_out)].copy(),
                              None if labels is None else labels[:len(held_out)])}
    # Before the state is built: loading the extractor must not shift its initial weights.
    scorer = features.run_scorer(config, class_names) if t.eval_every_steps else None
    gan, manager = _restore(config, root, strategy, policy, chief, allow_new_data, class_names)

    # The training budget (training.max_seconds) counts the seconds of every invocation: the
    # total so far rides in the checkpoint.
    clock_start, seconds_before = time.monotonic(), float(gan.train_seconds.numpy())

    def seconds_trained():
        return seconds_before + time.monotonic() - clock_start

    def save(target_manager, at_step, keep=t.keep_checkpoints):
        gan.train_seconds.assign(seconds_trained())
        save_checkpoint(target_manager, at_step, chief, keep)

    best = checkpoints.BestCheckpoint(gan.checkpoint, root, save) if scorer else None
    start = int(gan.step.numpy())
    distribute.check_same_step(strategy, start)
    log.info("%s at step %d of %d (%d images, precision %s, %d replica(s))",
             "resuming" if start else "starting", start, t.num_steps, len(images), policy,
             strategy.num_replicas_in_sync)

    def start_input(at_step, pixels, pixel_labels):
        dataset = make_input(pixels, t.batch_size, config.model.noise_dim, config.seed, at_step,
                             pixel_labels, num_classes)
        return iter(distribute.distribute_dataset(strategy, dataset))

    iterator = start_input(start, images, labels)
    # The pipeline holds its own copy; only a rollback needs to start another stream.
    rollback_data = (images, labels) if t.on_nan == "rollback" else None
    del images
    guard = recovery.NanGuard(t.on_nan, gan)
    if t.on_nan == "rollback" and not manager.latest_checkpoint:
        save(manager, start)  # something to roll back to
    record = run_record.Record(root, chief)
    record.rewind(start)  # what was logged past the checkpoint will be logged again
    grid_noise = tf.random.stateless_normal(
        [t.num_grid_images, config.model.noise_dim], seed=[config.seed, GRID_SEED_OFFSET])
    grid_classes = grid_labels(t.num_grid_images, num_classes) if num_classes else None
    step_fns = {}
    augmentation = augment.Augmentation.from_config(t, config.seed)

    def run_steps(n):
        if n not in step_fns:
            step_fns[n] = make_train_fn(gan, strategy, t, n, augmentation)
        return step_fns[n](iterator)

    def save_samples(step):
        images = gan.sampling_generator()(models.model_inputs(grid_noise, grid_classes),
                                          training=False).numpy()
        if chief:
            grid = visualize.save_grid(images, run_record.sample_path(root, step),
                                       columns=num_classes or None)
            record.image(step, grid)

    def roll_back(problem):
        """Continue from the last good checkpoint with lower learning rates; returns its step."""
        factor = guard.decide(problem, manager.latest_checkpoint)  # raises unless rolling back
        checkpoints.newest_whole(manager.directory, tidy=chief, load=gan.restore)
        gan.learning_rate_scale.assign(gan.learning_rate_scale * factor)
        gan.set_learning_rates()
        at = int(gan.step.numpy())
        record.rewind(at)
        rates = gan.learning_rates()
        log.warning("%s; rolled back to step %d and halved the learning rates to g %.3g, d %.3g "
                    "(rollback %d of %d)", problem, at, rates["g_learning_rate"],
                    rates["d_learning_rate"], guard.rollbacks, recovery.MAX_ROLLBACKS)
        return at

    last_record, pending, since = {}, [], time.perf_counter()
    step = start
    # Tracked here, not read from the manager: a non-chief worker's manager never saves, and
    # all workers must make the same saves.
    saved = start if manager.latest_checkpoint else None
    every = {"log": t.log_every_steps, "sample": t.sample_every_steps,
             "checkpoint": t.checkpoint_every_steps}
    if scorer:
        every["eval"] = t.eval_every_steps
    out_of_time = bool(t.max_seconds) and seconds_before >= t.max_seconds
    with StopOnSignal() as stop, \
            progress.Progress(start, t.num_steps, t.batch_size, enabled=chief) as bar:
        while step < t.num_steps and not out_of_time:
            # Run up to the next step where something is logged, sampled or saved.
            n = min([t.steps_per_call, t.num_steps - step] +
                    [k - step % k for k in every.values()])
            pending.append((n, run_steps(n)))
            step += n
            due = {name: step % k == 0 or step == t.num_steps for name, k in every.items()}
            # Set by a signal at any moment: read once, so all of this step agrees.
            stopping = stop.exit_code
            out_of_time = bool(t.max_seconds) and seconds_trained() >= t.max_seconds
            due_eval = due.get("eval") and not stopping
            # The last step of this invocation is logged and saved whatever the intervals.
            last = stopping or out_of_time
            # Nothing is logged, drawn or saved from a model that has gone NaN.
            problem = None
            if any(due.values()) or last:
                problem = guard.check(pending, step, weights=due["checkpoint"] or last)
            if problem:
                step = saved = roll_back(problem)
                iterator = start_input(step, *rollback_data)
                pending, since = [], time.perf_counter()
                out_of_time = False  # the budget is checked again after the next steps
                continue
            logged = None
            if due["log"] or due["checkpoint"] or due_eval or last:
                logged = summarize(pending, time.perf_counter() - since, t.batch_size)
                if len(held_out):
                    logged.update(discriminator_means(gan.discriminator, compared,
                                                      t.batch_size))
                pending, since = [], time.perf_counter()
                if due_eval:
                    logged.update(scorer.score(gan.sampling_generator()))
                    best.offer(step, logged["fid"], chief)
                    since = time.perf_counter()  # scoring time is not training throughput
                record.scalars(step, logged, gan.learning_rates())
                last_record = logged
            bar.update(step, logged)
            if due["sample"]:
                save_samples(step)
            if due["checkpoint"] or last:
                save(manager, step)
                saved = step
            if stopping:
                record.close()
                raise Interrupted(stopping, step)
    if out_of_time:
        log.info("training.max_seconds=%g reached at step %d of %d; raise it and rerun the "
                 "same command to train on", t.max_seconds, step, t.num_steps)
    if chief:
        if not os.path.exists(run_record.sample_path(root, step)):
            save_samples(step)
        record.close()
        visualize.write_gif(run_record.sample_paths(root), os.path.join(root, workdir.GIF_FILE))
        if os.path.exists(record.metrics_path):  # a resumed run may have had nothing to do
            report.write_report(root)
    if saved != step:
        save(manager, step)
    # Workers leave together, once the chief has written everything: a worker that exits
    # while the chief still works is reported by the cluster as a crashed task.
    distribute.check_same_step(strategy, step)
    return last_record


def save_checkpoint(manager, step, chief, keep):
    if chief:
        checkpoints.save(manager, step, keep)
        return
    # Non-chief workers take part in every save (it may hold collective ops), into a folder
    # of their own that they delete: only the chief's checkpoint is the run's.
    tmp = os.path.join(manager.directory, f".worker_tmp_{os.getpid()}")
    try:
        tf.train.CheckpointManager(manager.checkpoint, tmp, max_to_keep=1).save(step)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def discriminator_means(discriminator, image_sets, batch_size):
    """D's mean output, sigmoid(logit), on each named set of (uint8 images, labels or None).

    In inference mode and unaugmented, so a set trained on and a held-out set compare fairly:
    D scoring the training images higher than held-out ones is D memorising them.
    """
    means = {}
    for name, (images, labels) in image_sets.items():
        total = 0.0
        for i in range(0, len(images), batch_size):
            batch = tf.cast(images[i:i + batch_size], tf.float32) / 127.5 - 1.0
            batch_labels = None if labels is None else \
                tf.convert_to_tensor(labels[i:i + batch_size], tf.int32)
            logits = tf.cast(discriminator(models.model_inputs(batch, batch_labels),
                                           training=False), tf.float32)
            total += float(tf.reduce_sum(tf.reduce_mean(tf.sigmoid(logits), axis=-1)))
        means[name] = total / len(images)
    return means


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
