"""The loop's step holder (training.train._Steps) in-process: it runs the step function for the
steps asked, keeps what they return until a record sums it up, and leaves tracing out of the
time trained."""

import pytest
import tensorflow as tf

from dcgan.data import sources
from dcgan.training import schedule, train
from dcgan.training.state import TrainingState
from tests import helpers


def make_steps(**training):
    config = helpers.tiny_config("synthetic:digits:32", **training)
    gan = TrainingState(config, "float32")
    clock = schedule.Clock(gan.train_seconds, max_seconds=0)
    clock.start()
    data = train.TrainingData(config, sources.parse(config.data.source))
    return train._Steps(config, tf.distribute.get_strategy(), gan, data, clock, start=0)


def test_calls_run_the_steps_asked_and_their_mean_is_summed_up_once():
    steps = make_steps()
    assert steps.run(1) == 1
    traced = steps.clock.excluded  # the first call traced the step function
    assert traced > 0
    assert steps.run(1) == 2
    assert steps.clock.excluded == traced  # the same function again: nothing more left out
    assert int(steps.gan.step.numpy()) == 2
    assert [n for n, _ in steps.pending] == [1, 1]
    losses = [float(totals["g_loss"]) for _, totals in steps.pending]
    logged = steps.summary()
    assert logged["g_loss"] == pytest.approx(sum(losses) / 2)
    assert 0 < logged["d_real"] < 1 and logged["images_per_sec"] > 0
    assert steps.pending == []


def test_a_rollback_restarts_the_stream_at_the_step_given_with_nothing_pending():
    steps = make_steps(on_nan="rollback")
    steps.run(1)
    steps.run(1)
    steps.restart(1)  # the images come from what the holder kept for a rollback
    assert steps.pending == []
    assert steps.run(1) == 2
    assert [n for n, _ in steps.pending] == [1]
