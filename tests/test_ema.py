"""The exponential moving average of the generator: where it starts, how it moves, resume."""


import numpy as np
import tensorflow as tf

from dcgan import seeds
from dcgan.run.workdir import RunDir
from dcgan.training.state import TrainingState
from tests import helpers

SOURCE = "synthetic:digits:64"


def restored_gan(config, workdir):
    gan = TrainingState(config, "float32")
    path = tf.train.latest_checkpoint(RunDir(workdir).checkpoints)
    gan.checkpoint.restore(path).assert_existing_objects_matched()
    return gan


def test_ema_starts_at_the_initial_generator_and_follows_it_from_the_first_step(tmp_path, training):
    config = helpers.tiny_config(SOURCE, num_steps=1, checkpoint_every_steps=1)
    config.model.ema_decay = 0.999
    # As training does before building the GAN.
    tf.keras.utils.set_random_seed(seeds.fold(config.seed, seeds.WEIGHTS))
    initial = TrainingState(config, "float32").generator.get_weights()
    training.run(config, str(tmp_path))
    gan = restored_gan(config, str(tmp_path))
    # The first update uses decay min(0.999, 1/10): a short run's average is not mostly the
    # random initial weights. Batch norm's moving statistics are averaged like the weights.
    live, ema = gan.generator.get_weights(), gan.ema_generator.get_weights()
    assert len(ema) == len(initial) == len(live) > 4
    moved = 0
    for w0, w1, average in zip(initial, live, ema, strict=True):
        np.testing.assert_allclose(average, 0.1 * w0 + 0.9 * w1, rtol=1e-5, atol=1e-6)
        moved += not np.array_equal(w0, w1)
    assert moved > 2  # the step changed the generator, so the check above means something


def test_resume_continues_the_same_average(tmp_path, training):
    tf.config.experimental.enable_op_determinism()
    config = helpers.tiny_config(SOURCE, num_steps=4, checkpoint_every_steps=2)
    config.model.ema_decay = 0.9
    straight, stopped = str(tmp_path / "straight"), str(tmp_path / "stopped")
    training.run(config, straight)
    half = config.copy_and_resolve_references()
    half.training.num_steps = 2
    training.run(half, stopped)
    training.run(config, stopped)
    a = restored_gan(config, straight).ema_generator.get_weights()
    b = restored_gan(config, stopped).ema_generator.get_weights()
    # The training weights resume bit for bit (test_train.py); the average may differ in the
    # last bit when the graph optimizer fuses its multiply-add differently in another process.
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6)  # a restart would be ~1e-4 off
    live = restored_gan(config, straight).generator.get_weights()
    assert any(not np.array_equal(x, y) for x, y in zip(a, live, strict=True))
