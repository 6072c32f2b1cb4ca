"""The training loop: `train_and_evaluate(config, workdir)` trains or resumes the run in workdir.

The loop runs the tf.function step (dcgan.training.step) up to the next step where something
is due (dcgan.training.schedule), then checks for NaN, logs what the evaluations measure, draws
the sample grid and saves, each when its interval says so. Saving is the checkpoint writer's
(dcgan.run.checkpoints.CheckpointWriter); the run record's (dcgan.run.run_record) the rest.
"""

import contextlib
import logging
import os
import time

import tensorflow as tf

from dcgan import config_check, models, progress, seeds, visualize
from dcgan.data import classes, input_pipeline
from dcgan.errors import UserError
from dcgan.quality import features
from dcgan.run import checkpoints, run_record, run_report, start_check, workdir
from dcgan.training import (
    augment,
    distribute,
    evaluations,
    init_from,
    precision,
    recovery,
    schedule,
    step,
)
from dcgan.training.state import TrainingState

log = logging.getLogger("dcgan")


def grid_noise(num_images, noise_dim, seed):
    """The latents of the sample grid drawn through training: the same at every step and every
    resume, whatever the data order."""
    return tf.random.stateless_normal([num_images, noise_dim],
                                      seed=[seeds.fold(seed, seeds.GRID), 0])


def grid_labels(num_images, num_classes):
    """The classes of the training grid's images: every class in turn, one column each."""
    return tf.constant(classes.cycle(list(range(num_classes)), num_images), tf.int32)


def load_training_data(source, data, conditional, seed):
    """(images, labels, class names) of `source` (a sources.Source) at data's size; labels and
    names are None unless `conditional`."""
    if not conditional:
        return input_pipeline.load_images(source, data.image_size, data.channels,
                                          seed=seed, cache_dir=data.cache_dir), None, None
    try:
        images, labels, names = input_pipeline.load_labelled_images(
            source, data.image_size, data.channels, seed=seed, cache_dir=data.cache_dir)
    except input_pipeline.NoLabels as e:
        raise UserError(f"model.conditional=True needs labels: {e} (or set "
                        "model.conditional=False)") from None
    return images, labels, classes.resolve_class_names(str(source), labels, names,
                                                       data.class_names)


class TrainingData:
    """The run's training images and held-out images, with their labels in a conditional run:
    the source loaded and the held-out images drawn once, for the loop and the evaluations."""

    def __init__(self, config, source):
        images, labels, self.class_names = load_training_data(
            source, config.data, config.model.conditional, config.seed)
        self.num_classes = len(self.class_names or ())
        self.images, self.labels, self.held_out, self.held_out_labels = \
            input_pipeline.select_images(images, config.seed, config.data.max_images,
                                         config.data.holdout, labels)
        data = config.data
        if data.max_images and len(self.images) == data.max_images:
            # The limit is the user's own: name it, or the fix of "use more data" misleads
            # (a folder's count was checked before the start; other sources are counted here).
            problem = config_check.batch_size_problem(
                config.training.batch_size, training_images=len(self.images),
                where=f"data.max_images={data.max_images} keeps of the {len(images)} in "
                      f"{data.source}", more="raise data.max_images")
            if problem:
                raise UserError(problem)


def train_and_evaluate(config, root, allow_new_data=False, start=None, lock=None,
                       init_source=None):
    """Train (or resume) the run in `root`; returns the last logged metrics.

    Args:
        config: a config that has passed config_check.check_config.
        root: the run folder.
        allow_new_data: a resume may change data.source or seed (workdir.check_change).
        start: what start_check.check_before_start found; checked here when not given.
        lock: the run folder's lock (workdir.lock) when the caller holds it; else the chief
            takes it here.
        init_source: the run to copy the networks of (init_from.check_source, then
            Source.read_whole), checked with `start`; checked here when `start` is not given.
    """
    if start is None:
        start = start_check.check_before_start(config, root, allow_new_data)
        init_source = init_from.check_source(config, start)
        init_source = init_source and init_source.read_whole()
    strategy = distribute.make_strategy(config.runtime.distribute,
                                        config.runtime.virtual_cpu_devices)
    problem = config_check.batch_size_problem(config.training.batch_size,
                                              config.training.mode_seeking,
                                              strategy.num_replicas_in_sync)
    if problem:
        raise UserError(problem)
    policy = precision.resolve_precision(config.training.precision)
    try:
        return _train(config, start, strategy, policy, lock, init_source)
    except (OSError, tf.errors.OpError) as e:
        problem = recovery.write_problem(e, root)  # a full disk or an unwritable folder
        if problem is None:
            raise
        raise UserError(problem) from None


def _train(config, start, strategy, policy, lock, init_source):
    t = config.training
    run_dir = start.run_dir
    chief = distribute.is_chief(strategy)
    with contextlib.ExitStack() as hold:
        if chief:  # the workdir is the chief's; other workers only save into temporary folders
            workdir.prepare(run_dir.root)
            if lock is None:
                hold.enter_context(contextlib.closing(workdir.lock(run_dir.root)))
        data = TrainingData(config, start.source)
        # Before the state is built: loading the extractor must not shift its initial weights.
        scorer = features.run_scorer(config, start.source, data, data.class_names) \
            if t.eval_every_steps else None
        tf.keras.utils.set_random_seed(seeds.fold(config.seed, seeds.WEIGHTS))
        with strategy.scope():
            gan = TrainingState(config, policy, data.num_classes)
        clock = schedule.Clock(gan.train_seconds, t.max_seconds)
        writer = checkpoints.CheckpointWriter(gan.checkpoint, run_dir, chief,
                                              t.keep_checkpoints, before_save=clock.stamp)
        # A new run copies its networks once; a resume has its own checkpoints.
        taken = init_from.copy_networks(gan, init_source, data.class_names) \
            if init_source and writer.resume_from is None else None
        if taken:
            init_from.log_fine_tuning(config)
        if chief:  # before restoring: a checkpoint of another model is refused, not loaded
            _record_config(config, start, policy, writer.resume_from, data.class_names, taken)
        _restore(gan, writer.resume_from)
        clock.start()
        record = run_record.Record(run_dir, chief)
        run = _Run(config, run_dir, strategy, gan, data, writer, record, clock,
                   evaluations.build(data, scorer, writer, config.seed, t.batch_size))
        log.info("%s at step %d of %d (%d images, precision %s, %d replica(s))",
                 "resuming" if run.start else "starting", run.start, t.num_steps,
                 len(data.images), policy, strategy.num_replicas_in_sync)
        del data  # the input pipeline holds its own copy of the images
        with recovery.StopOnSignal(writer.folder) as stop, progress.Progress(
                run.start, t.num_steps, t.batch_size, enabled=chief,
                max_seconds=t.max_seconds) as bar:
            end, out_of_time = _loop(run, stop, bar)
        run.finish(end, out_of_time)
        return run.last_record


def _record_config(config, start, policy, resume_from, class_names, taken):
    """config.json and its history, and a conditional run's classes, in the run folder: what
    the checks before the start found (start_check.Start), recorded; `taken`, what a new run
    copied from training.init_from."""
    root = start.run_dir.root
    config_dict = {**start.config_dict, config_check.PRECISION_FIELD: policy}
    started_from = init_from.recorded(root, taken, resume_from)
    if started_from:
        config_dict[init_from.RECORD_KEY] = started_from
    resumed = checkpoints.step_of(resume_from)
    will_train = resumed is None or resumed < config.training.num_steps
    # Another folder was refused before the start, before another number of classes.
    change = start.data_change if resume_from else None
    if class_names and resume_from:
        workdir.check_classes(root, class_names)
    workdir.record_config(root, config_dict, resumed, will_train, start.saved, start.changes)
    if taken:
        init_from.record_start(root, taken)
    workdir.record_data_files(root, start.source.identity(), change, resumed, will_train)
    if class_names:
        workdir.record_classes(root, class_names)


def _restore(gan, path):
    """Load the checkpoint at `path` (None: a new run) into the training state."""
    if path:
        gan.restore(path)
    gan.set_learning_rates()
    if float(gan.learning_rate_scale.numpy()) != 1.0:
        log.info("learning rates at %g times optim.*_learning_rate after rollbacks",
                 float(gan.learning_rate_scale.numpy()))


def _loop(run, stop, bar):
    """Train from run.start to the end, a signal or the time budget; returns (step, out of
    time)."""
    at = run.start
    out_of_time = run.clock.spent_before()
    while not run.schedule.finished(at) and not out_of_time:
        at = run.steps.run(run.schedule.steps_to_next(at))
        stopping = stop.exit_code  # set by a signal at any moment: read once, so all agree
        out_of_time = run.clock.out_of_time()
        due = run.schedule.due(at, last=bool(stopping or out_of_time), stopping=stopping)
        # Nothing is logged, drawn or saved from a model that has gone NaN.
        problem = run.guard.check(run.steps.pending, at, weights=due.save) if due.any else None
        if problem:
            at = run.roll_back(problem)
            out_of_time = False  # the budget is checked again after the next steps
            continue
        logged = run.measure(at, due) if due.record else None
        bar.update(at, logged, seconds=run.clock.seconds())
        if due.sample:
            run.save_samples(at)
        if due.save:
            run.writer.save(at)
        if stopping:
            run.record.close()
            raise recovery.Interrupted(stopping, at)
    return at, out_of_time


class _Steps:
    """The step functions (one per number of steps a call runs) and their input stream; what
    they return is kept (`pending`) until the next record sums it up."""

    def __init__(self, config, strategy, gan, data, clock, start):
        self.config, self.strategy, self.gan, self.clock = config, strategy, gan, clock
        self.settings = step.StepSettings.from_training(config.training)
        self.num_classes = data.num_classes
        self.augmentation = augment.Augmentation.from_config(config.training, config.seed)
        self.idle_augmentation = self.augmentation.idle() if self.augmentation else None
        # The pipeline holds its own copy; only a rollback needs to start another stream.
        self.rollback_data = (data.images, data.labels) \
            if config.training.on_nan == "rollback" else None
        self.functions = {}
        self.restart(start, data.images, data.labels)

    def restart(self, at, images=None, labels=None):
        """Stream the batches from step `at` on; nothing pending."""
        if images is None:
            images, labels = self.rollback_data
        t = self.config.training
        dataset = step.make_input(images, t.batch_size, self.config.model.noise_dim,
                                  self.config.seed, at, labels, self.num_classes,
                                  paired=t.mode_seeking > 0, mirror=self.config.data.mirror)
        self.iterator = iter(distribute.distribute_dataset(self.strategy, dataset))
        self.pending, self.since, self.at = [], time.perf_counter(), at
        self._choose_augmentation()  # p may have been restored

    def _choose_augmentation(self):
        """The augmentation the next calls apply. At p = 0 no image changes, so unless p moves
        inside the step (the sign rule) the ops are skipped until p does move: a folder run
        spends much of its time there (all of it on a large folder), at about 8% of a step."""
        a = self.augmentation
        idle = a and not a.adaptive and float(self.gan.augment_p.numpy()) == 0
        self.applied = self.idle_augmentation if idle else a

    def steer_augmentation(self, at, logged):
        """With training.ada_gap_target: p's update from the held-out gap just logged.

        Only at multiples of training.log_every_steps, not at the records a checkpoint or the
        end of an invocation adds, so an interrupted run steers as an uninterrupted one does.
        """
        a, every = self.augmentation, self.config.training.log_every_steps
        if a and a.steered_by_gap and at % every == 0:
            batch = self.config.training.batch_size
            self.gan.augment_p.assign(
                a.adapted_to_gap(self.gan.augment_p, logged["d_gap"], every * batch))
            self._choose_augmentation()

    def run(self, n):
        """Run `n` steps in one call; returns the step reached."""
        key = (n, self.applied)
        if key in self.functions:
            self.pending.append((n, self.functions[key](self.iterator)))
        else:  # its first call traces (and compiles) it: not counted as training time
            began = time.monotonic()
            self.functions[key] = step.make_train_fn(self.gan, self.strategy, self.settings, n,
                                                     self.applied)
            self.pending.append((n, self.functions[key](self.iterator)))
            self.clock.exclude(time.monotonic() - began)
        self.at += n
        return self.at

    def summary(self):
        """Mean metrics of the steps pending, and their throughput; nothing pending after."""
        logged = summarize(self.pending, time.perf_counter() - self.since,
                           self.config.training.batch_size)
        self.pending = []
        return logged

    def restart_timer(self):
        self.since = time.perf_counter()


class _Run:
    """One invocation's pieces, and the loop's work that uses several of them."""

    def __init__(self, config, run_dir, strategy, gan, data, writer, record, clock, measures):
        t = config.training
        self.run_dir, self.strategy, self.gan, self.writer, self.record, self.clock = \
            run_dir, strategy, gan, writer, record, clock
        self.evaluations = measures
        self.start = int(gan.step.numpy())
        distribute.check_same_step(strategy, self.start)
        self.schedule = schedule.Schedule(t, evaluate=any(e.timed for e in measures))
        self.steps = _Steps(config, strategy, gan, data, clock, self.start)
        self.guard = recovery.NanGuard(t.on_nan, gan, r1_gamma=t.r1_gamma)
        if t.on_nan == "rollback" and not writer.latest:
            writer.save(self.start)  # something to roll back to
        record.rewind(self.start)  # what was logged past the checkpoint will be logged again
        self.grid_noise = grid_noise(t.num_grid_images, config.model.noise_dim, config.seed)
        self.grid_classes = grid_labels(t.num_grid_images, data.num_classes) \
            if data.num_classes else None
        self.columns = data.num_classes or None
        self.last_record = {}

    def measure(self, at, due):
        """The record of step `at`: the mean metrics since the last one and the evaluations
        due, written to the run record."""
        logged = self.steps.summary()
        for evaluation in self.evaluations:
            if due.evaluate or not evaluation.timed:
                logged.update(evaluation(self.gan, at))
        self.steps.steer_augmentation(at, logged)
        self.steps.restart_timer()  # evaluation time is not training throughput
        self.record.scalars(at, logged, self.gan.learning_rates())
        self.last_record = logged
        return logged

    def save_samples(self, at):
        images = self.gan.sampling_generator()(
            models.model_inputs(self.grid_noise, self.grid_classes), training=False).numpy()
        if self.record.enabled:  # the process that writes the run record writes its pictures
            grid = visualize.save_grid(images, self.run_dir.sample_grid(at),
                                       columns=self.columns)
            self.record.image(at, grid)

    def roll_back(self, problem):
        """Continue from the last good checkpoint with lower learning rates; returns its step."""
        factor = self.guard.decide(problem, self.writer.latest)  # raises unless rolling back
        self.writer.reload(self.gan.restore)
        gan = self.gan
        gan.learning_rate_scale.assign(gan.learning_rate_scale * factor)
        gan.set_learning_rates()
        at = int(gan.step.numpy())
        self.record.rewind(at)
        rates = gan.learning_rates()
        log.warning("%s; rolled back to step %d and halved the learning rates to g %.3g, d %.3g "
                    "(rollback %d of %d)", problem, at, rates["g_learning_rate"],
                    rates["d_learning_rate"], self.guard.rollbacks, recovery.MAX_ROLLBACKS)
        self.steps.restart(at)
        return at

    def finish(self, at, out_of_time):
        """The end of an invocation: the last grid, GIF, report and checkpoint."""
        if out_of_time:
            log.info("training.max_seconds=%g reached at step %d of %d; raise it and rerun the "
                     "same command to train on", self.clock.max_seconds, at,
                     self.schedule.total)
        if self.record.enabled:
            run_dir = self.run_dir
            if not os.path.exists(run_dir.sample_grid(at)):
                self.save_samples(at)
            self.record.close()
            visualize.write_gif(list(run_dir.sample_grids().values()), run_dir.progress_gif)
            if os.path.exists(self.record.metrics_path):  # a resume may have had nothing to do
                run_report.write_report(run_dir.root)
        if self.writer.saved_step != at:
            self.writer.save(at)
        # Workers leave together, once the chief has written everything: a worker that exits
        # while the chief still works is reported by the cluster as a crashed task.
        distribute.check_same_step(self.strategy, at)


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
