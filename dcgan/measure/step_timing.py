"""Training steps per second of several configs, timed side by side in one process.

Alternating rounds make a noisy shared machine slow every contender alike, so their ratios
hold even when the absolute rates do not. Used by scripts/benchmark.py and
scripts/time_to_quality.py.
"""

import statistics
import time


def step_runner(config, images, batch_size, precision_name, jit_compile, steps_per_call):
    """A function running N steps of this project's real GAN state, input pipeline and train
    function (with the config's augmentation, if any). `config` is left as it was."""
    import numpy as np
    import tensorflow as tf

    from dcgan.training import augment, precision, step
    from dcgan.training.state import TrainingState

    config = config.copy_and_resolve_references()
    config.training.precision = precision_name
    config.training.batch_size = batch_size
    config.training.jit_compile = jit_compile
    policy = precision.resolve_precision(precision_name)
    strategy = tf.distribute.get_strategy()
    # A conditional preset is timed with its classes (or ten) drawn at random: the cost of a
    # step does not depend on which classes the batch holds.
    num_classes = (len(config.data.class_names) or 10) if config.model.conditional else 0
    labels = None
    if num_classes:
        labels = np.random.default_rng(0).integers(0, num_classes, len(images), dtype=np.int32)
    gan = TrainingState(config, policy, num_classes)
    dataset = step.make_input(images, batch_size, config.model.noise_dim, 0, 0, labels,
                              num_classes, paired=config.training.mode_seeking > 0,
                              mirror=config.data.mirror)
    iterator = iter(dataset)
    step_fn = step.make_train_fn(gan, strategy, step.StepSettings.from_training(config.training),
                                 steps_per_call,
                                 augment.Augmentation.from_config(config.training, config.seed))

    def run(steps):
        for _ in range(max(1, steps // steps_per_call)):
            metrics = step_fn(iterator)
        float(metrics["g_loss"])

    return run, policy


def time_alternating(contenders, rounds, steps):
    """Steps/s per contender, by wall clock and by this process's CPU time.

    Medians over alternating rounds, after one warm-up each. On a shared machine the wall clock
    also counts other people's jobs; CPU seconds count only the work done here (tf.data threads
    included), so their ratio is the steadier figure there.
    """
    for run in contenders.values():
        run(2)  # trace and warm up
    wall = {name: [] for name in contenders}
    cpu = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, run in contenders.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            run(steps)
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    return ({name: steps / statistics.median(s) for name, s in wall.items()},
            {name: steps / statistics.median(s) for name, s in cpu.items()})
