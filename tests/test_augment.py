"""Differentiable augmentation and ADA: the ops, their randomness, and exact resume."""


import numpy as np
import pytest
import tensorflow as tf

from dcgan import seeds
from dcgan.config_check import AUGMENT_POLICIES
from dcgan.run import run_report
from dcgan.run.workdir import RunDir
from dcgan.training import augment
from tests import helpers

SEED = tf.constant([3, 7], tf.int64)


def images(batch=6, size=16, channels=3):
    rng = np.random.default_rng(0)
    return tf.constant(rng.uniform(-1, 1, (batch, size, size, channels)), tf.float32)


def test_identity_at_p_zero():
    x = images()
    out = augment.augment(x, AUGMENT_POLICIES, 0.0, SEED)
    np.testing.assert_array_equal(out.numpy(), x.numpy())


@pytest.mark.parametrize("policy", AUGMENT_POLICIES)
@pytest.mark.parametrize("channels", [1, 3])
def test_each_policy_changes_every_image_and_stays_in_range(policy, channels):
    x = images(channels=channels)  # on grey, color's brightness and contrast still act
    out = augment.augment(x, [policy], 1.0, SEED).numpy()
    assert out.shape == x.shape and out.dtype == np.float32
    assert out.min() >= -1.0 and out.max() <= 1.0
    changed = np.abs(out - x.numpy()).reshape(len(out), -1).max(axis=1) > 1e-6
    # A translation may draw a zero shift for some image; most must move.
    assert changed.sum() >= len(out) - 1, policy


def test_translation_shifts_with_zero_padding():
    x = tf.ones([32, 16, 16, 1])
    out = augment.translate(x, SEED).numpy()
    # Shifts of up to 16 / 8 = 2 pixels: the centre is never padding, and some edges are.
    assert (out[:, 2:-2, 2:-2] == 1).all()
    assert set(np.unique(out)) == {0.0, 1.0} and (out == 0).any()
    assert (out == 0).sum(axis=(1, 2, 3)).max() <= 16 * 16 - 12 * 12


def test_cutout_zeroes_at_most_a_half_side_square():
    x = tf.ones([32, 16, 16, 3])
    out = augment.cutout(x, SEED).numpy()
    zeros = (out[..., 0] == 0).sum(axis=(1, 2))
    assert zeros.max() == 8 * 8 and zeros.min() > 0  # whole inside, or overhanging an edge


def test_gradients_flow_through_every_policy():
    x = tf.Variable(images())
    with tf.GradientTape() as tape:
        out = augment.augment(x, AUGMENT_POLICIES, 1.0, SEED)
        loss = tf.reduce_sum(out * tf.range(out.shape[-1], dtype=tf.float32) + out)
    grad = tape.gradient(loss, x)
    assert grad is not None and np.abs(grad.numpy()).sum() > 0


def test_same_seed_and_step_give_the_same_augmentation():
    x = images()
    policy = augment.Augmentation(AUGMENT_POLICIES, seed=5)
    first = policy(x, 0.5, tf.constant(9, tf.int64), seeds.AUGMENT_REAL).numpy()
    again = policy(x, 0.5, tf.constant(9, tf.int64), seeds.AUGMENT_REAL).numpy()
    np.testing.assert_array_equal(first, again)
    other_step = policy(x, 0.5, tf.constant(10, tf.int64), seeds.AUGMENT_REAL).numpy()
    other_stream = policy(x, 0.5, tf.constant(9, tf.int64), seeds.AUGMENT_FAKE).numpy()
    assert not np.array_equal(first, other_step) and not np.array_equal(first, other_stream)


def test_p_applies_each_policy_to_about_that_share_of_images():
    x = images(batch=400, size=8)
    out = augment.augment(x, ["cutout"], 0.25, SEED).numpy()
    share = (np.abs(out - x.numpy()).reshape(400, -1).max(axis=1) > 0).mean()
    assert 0.15 < share < 0.35


def test_adapt_probability_moves_towards_the_target():
    p = tf.constant(0.5)
    up = augment.adapt_probability(p, 0.9, 0.6, images=1000, ada_kimg=10)
    down = augment.adapt_probability(p, 0.1, 0.6, images=1000, ada_kimg=10)
    assert float(up) == pytest.approx(0.6) and float(down) == pytest.approx(0.4)
    assert float(augment.adapt_probability(tf.constant(0.0), -1.0, 0.6, 1000, 10)) == 0.0


def ada_config(**training):
    config = helpers.tiny_config(augment="translation,cutout,color", ada_target=0.01,
                                 ada_kimg=0.1, **training)
    config.optim.d_learning_rate = 1e-2  # D soon tells the reals apart: r_t > target, p rises
    return config


def gap_config(**training):
    config = helpers.tiny_config(**{"augment": "translation,cutout,color",
                                    "ada_gap_target": 0.01, "ada_kimg": 0.1, **training})
    config.data.holdout = 16
    # D soon scores its training images higher: 8 of them, learnt fast, by the first log.
    config.data.max_images = 8
    config.optim.d_learning_rate = 1e-2
    return config


def test_p_steered_by_the_gap_moves_at_each_log_by_the_gap_logged(tmp_path, training):
    """p moves only at multiples of log_every_steps, by the sign of the gap logged there:
    the records a checkpoint adds (every 3 steps) measure but do not steer."""
    config = gap_config(num_steps=12, checkpoint_every_steps=3)
    training.run(config, str(tmp_path))
    # 2 steps of 8 images a log, of 100: each log moves p by 0.16.
    move, p, moved = 2 * 8 / 100, 0.0, 0
    for record in helpers.read_records(str(tmp_path)):
        assert record["augment_p"] == pytest.approx(p, abs=1e-6), record["step"]
        if record["step"] % 2 == 0:
            before, p = p, min(1.0, max(0.0, p + (move if record["d_gap"] > 0.01 else -move)))
            moved += p != before
    assert moved, "no log moved p"
    assert run_report.gap_target(str(tmp_path)) == 0.01  # report.png's line beside the gap


def test_while_the_gap_keeps_p_at_zero_training_is_that_without_augmentation(tmp_path, training):
    """p = 0 changes no image: the run trains exactly as one with no augmentation does."""
    steered, plain = str(tmp_path / "steered"), str(tmp_path / "plain")
    never_rises = gap_config(num_steps=4, ada_gap_target=0.99)  # the gap is never that wide
    training.run(never_rises, steered)
    assert {r["augment_p"] for r in helpers.read_records(steered)} == {0.0}
    none = gap_config(num_steps=4, augment="", ada_gap_target=0.0)
    training.run(none, plain)
    a, b = helpers.training_state(steered), helpers.training_state(plain)
    for name in b:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


@pytest.mark.parametrize("rule", ["sign", "gap"])
def test_adaptive_resume_is_exact(tmp_path, rule, training):
    """p steered by the sign of D(x) after every step, or by the held-out gap at every log:
    the interrupted run stops at step 3, between two logs, and resumes."""
    make_config = ada_config if rule == "sign" else gap_config
    straight, stopped = str(tmp_path / "straight"), str(tmp_path / "stopped")
    whole, half = (make_config(num_steps=n, checkpoint_every_steps=3) for n in (8, 3))
    training.in_new_process((whole, straight), (half, stopped), (whole, stopped))
    a, b = helpers.training_state(straight), helpers.training_state(stopped)
    assert "augment_p/.ATTRIBUTES/VARIABLE_VALUE" in a
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    logged = helpers.read_records(straight)
    assert all("augment_p" in r and -1 <= r["d_sign_real"] <= 1 for r in logged)
    assert any(r["augment_p"] > 0 for r in logged)  # p has moved, and was logged
    assert helpers.read_records(stopped)[-1]["augment_p"] == logged[-1]["augment_p"]


def test_unaugmented_runs_log_d_sign_real_but_no_p(tmp_path, training):
    training.run(helpers.tiny_config(num_steps=2), str(tmp_path))
    (record,) = helpers.read_records(str(tmp_path))
    assert -1 <= record["d_sign_real"] <= 1 and "augment_p" not in record


def test_a_checkpoint_without_p_restores(tmp_path, training):
    """A run saved before augmentation existed resumes into an ADA run, p from 0."""
    config = helpers.tiny_config(num_steps=2)
    training.run(config, str(tmp_path / "old"))
    from dcgan.training.state import TrainingState

    old = TrainingState(config, "float32")
    old.restore(tf.train.latest_checkpoint(RunDir(tmp_path / "old").checkpoints))
    # Write a checkpoint as it was before p existed: every part but augment_p.
    legacy = old._make_checkpoint(missing=("augment_p",))
    path = legacy.save(str(tmp_path / "legacy" / "ckpt"))
    assert not any(n.startswith("augment_p/") for n, _ in tf.train.list_variables(path))

    state = TrainingState(ada_config(num_steps=2), "float32")
    state.restore(path)
    assert int(state.step.numpy()) == 2 and float(state.augment_p.numpy()) == 0.0
    np.testing.assert_array_equal(state.generator.get_weights()[0],
                                  old.generator.get_weights()[0])


def test_an_adaptive_run_on_two_replicas_trains(tmp_path, training):
    """Each replica augments its own slice of the batch; p is one value for the run."""
    run = str(tmp_path / "run")
    result = training.command(
        "--config=configs/demo.py", f"--workdir={run}",
        "--config.model.gen_filters=4", "--config.model.disc_filters=4",
        "--config.model.noise_dim=8", "--config.training.batch_size=8",
        "--config.training.num_steps=2", "--config.training.log_every_steps=2",
        "--config.training.precision=float32",
        "--config.training.augment=translation,cutout,color", "--config.training.ada_target=0.5",
        "--config.runtime.distribute=mirrored", "--config.runtime.virtual_cpu_devices=2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 replica(s)" in result.stderr
    (record,) = helpers.read_records(run)
    assert 0 <= record["augment_p"] <= 1 and -1 <= record["d_sign_real"] <= 1


def test_adaptive_augmentation_switched_on_at_a_resume_starts_p_at_zero(tmp_path, training):
    run = str(tmp_path)
    training.run(helpers.tiny_config(num_steps=2), run)  # no augmentation
    config = helpers.tiny_config(num_steps=4, augment="color", ada_target=0.6)
    training.run(config, run)
    # At 8 images a step of 500 thousand, two steps move p by at most 3.2e-5 from 0.
    assert helpers.read_records(run)[-1]["augment_p"] < 1e-3


def test_an_adaptive_run_resumed_with_augmentation_off_prints_no_restore_warnings(tmp_path,
                                                                                   training):
    """The checkpoint's p goes unused once augmentation is off: left unread on purpose, without
    TensorFlow's warnings about values it could not restore."""
    from tests.test_sample import UNRESTORED_WARNINGS

    run = str(tmp_path / "run")
    tiny = ["--config=configs/demo.py", f"--workdir={run}",
            "--config.model.gen_filters=4", "--config.model.disc_filters=4",
            "--config.model.noise_dim=8", "--config.training.batch_size=8",
            "--config.training.log_every_steps=2", "--config.training.precision=float32"]
    first = training.command(*tiny, "--config.training.num_steps=2",
                             "--config.training.augment=color", "--config.training.ada_target=0.6")
    assert first.returncode == 0, first.stderr[-3000:]
    resumed = training.command(*tiny, "--config.training.num_steps=4",
                               "--config.training.augment=", "--config.training.ada_target=0")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert [r["step"] for r in helpers.read_records(run)] == [2, 4]
    for warning in UNRESTORED_WARNINGS:
        assert warning not in resumed.stderr
