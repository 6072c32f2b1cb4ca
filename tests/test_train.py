"""End-to-end: the real training loop on every data source, checkpoints and exact resume."""

import json
import os

import imageio.v3 as iio
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from dcgan.errors import UserError
from dcgan.run.workdir import RunDir
from dcgan.training import evaluations
from tests import helpers

REQUIRED_METRICS = {"step", "g_loss", "d_loss", "d_real", "d_fake", "images_per_sec"}


def assert_complete_run(workdir, num_steps, sample_every, image_shape):
    run = RunDir(workdir)
    ckpt = tf.train.latest_checkpoint(run.checkpoints)
    assert ckpt is not None and ckpt.endswith(f"-{num_steps}")
    samples = sorted(os.listdir(run.samples))
    steps = range(sample_every, num_steps + 1, sample_every)
    assert [run.sample_grid(s) for s in steps] == [os.path.join(run.samples, n) for n in samples]
    grid = iio.imread(run.sample_grid(steps[-1]))
    assert grid.dtype == np.uint8 and grid.shape[0] >= 2 * image_shape[0]
    gif = iio.imread(run.progress_gif, index=None)
    assert gif.shape[0] == len(samples)
    with open(run.config) as f:
        assert json.load(f)["training"]["num_steps"] == num_steps
    records = helpers.read_records(workdir)
    assert [r["step"] for r in records] == list(range(2, num_steps + 1, 2))
    for record in records:
        assert REQUIRED_METRICS <= set(record)
        assert 0.0 <= record["d_real"] <= 1.0 and 0.0 <= record["d_fake"] <= 1.0
        assert record["d_loss"] > 0 and record["g_loss"] > 0
    assert os.listdir(run.tensorboard)


def test_trains_on_mock_tfds(tmp_path, training):
    with tfds.testing.mock_data(num_examples=32):
        training.run(helpers.tiny_config("tfds:mnist"), str(tmp_path))
    assert_complete_run(str(tmp_path), 4, 2, (28, 28))


@pytest.mark.parametrize("scheme", ["idx", "folder", "npz", "synthetic"])
def test_trains_on_each_local_source(tmp_path, scheme, training):
    data = tmp_path / "data"
    source = {
        "idx": lambda: (helpers.write_idx(str(data)), f"idx:{data}")[1],
        "folder": lambda: (helpers.write_folder(str(data)), f"folder:{data}")[1],
        "npz": lambda: (helpers.write_npz(str(tmp_path / "d.npz")), f"npz:{tmp_path}/d.npz")[1],
        "synthetic": lambda: "synthetic:digits",
    }[scheme]()
    config = helpers.tiny_config(source)
    if scheme == "folder":
        config.data.image_size, config.data.channels = 32, 3
    run = str(tmp_path / "run")
    training.run(config, run)
    assert_complete_run(run, 4, 2, (config.data.image_size,) * 2)


def test_resume_is_exact(tmp_path, training):
    config = helpers.tiny_config(num_steps=6, checkpoint_every_steps=3)
    straight, stopped = str(tmp_path / "straight"), str(tmp_path / "stopped")
    half = helpers.tiny_config(num_steps=3, checkpoint_every_steps=3)
    # The same workdir with more steps continues.
    training.in_new_process((config, straight), (half, stopped), (config, stopped))
    a, b = helpers.training_state(straight), helpers.training_state(stopped)
    assert a.keys() == b.keys() and len(a) > 20
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert [r["step"] for r in helpers.read_records(stopped)] == [2, 3, 4, 6]


def test_lazy_r1_penalty_is_logged_changes_training_and_resumes_exactly(tmp_path, training):
    """training.r1_gamma: D's penalty is logged (d_r1, weighted by r1_every), it changes the
    weights, and a run stopped between two penalised steps resumes bit for bit."""
    def config(**training):
        return helpers.tiny_config(**{"num_steps": 6, "checkpoint_every_steps": 2,
                                      "r1_every": 2, **training})

    plain, straight, stopped = (str(tmp_path / name) for name in ("plain", "straight", "stopped"))
    training.in_new_process(
        (config(), plain), (config(r1_gamma=10.0), straight),
        (config(r1_gamma=10.0, num_steps=3), stopped), (config(r1_gamma=10.0), stopped))
    records = helpers.read_records(straight)
    assert [r["step"] for r in records] == [2, 4, 6]
    assert all(r["d_r1"] > 0 for r in records)
    a, b = helpers.training_state(plain), helpers.training_state(straight)
    d_weights = [name for name in a if name.startswith("d_optimizer/_trainable_variables/")]
    assert d_weights and all(not np.array_equal(a[n], b[n]) for n in d_weights)

    a, b = helpers.training_state(straight), helpers.training_state(stopped)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_resume_refuses_a_different_model(tmp_path, training):
    training.run(helpers.tiny_config(num_steps=2), str(tmp_path))
    before = helpers.files_under(str(tmp_path))
    config = helpers.tiny_config(num_steps=4)
    config.model.gen_filters = 8
    with pytest.raises(UserError, match="different model.*gen_filters"):
        training.run(config, str(tmp_path))
    assert helpers.files_under(str(tmp_path)) == before


def test_a_run_from_before_minibatch_stddev_existed_still_resumes(tmp_path, training):
    training.run(helpers.tiny_config(num_steps=2), str(tmp_path))
    config_path = RunDir(str(tmp_path)).config
    with open(config_path) as f:
        saved = json.load(f)
    del saved["model"]["minibatch_stddev"]  # as written before the field existed
    with open(config_path, "w") as f:
        json.dump(saved, f)

    training.run(helpers.tiny_config(num_steps=4), str(tmp_path))

    assert tf.train.latest_checkpoint(RunDir(tmp_path).checkpoints).endswith("-4")
    config = helpers.tiny_config(num_steps=6)
    config.model.minibatch_stddev = 0  # the run was trained without it: refused
    with pytest.raises(UserError, match="different model.*minibatch_stddev: -1 -> 0"):
        training.run(config, str(tmp_path))


def test_checkpoint_holds_models_not_data(tmp_path, training):
    """The data position comes from the step, so a checkpoint weighs about the models."""
    config = helpers.tiny_config(num_steps=2)
    training.run(config, str(tmp_path))
    ckpt_dir = RunDir(tmp_path).checkpoints
    size = sum(os.path.getsize(os.path.join(ckpt_dir, name)) for name in os.listdir(ckpt_dir)
               if name.startswith("ckpt-2"))
    num_values = sum(v.size for v in helpers.training_state(str(tmp_path)).values())
    assert size < 4 * num_values * 1.5 + 100_000


def test_a_time_budget_stops_the_run_and_resume_stays_exact(tmp_path, training):
    """training.max_seconds: a run stops by time, saved and logged, and counts across resumes."""
    tf.config.experimental.enable_op_determinism()
    budgeted = str(tmp_path / "budgeted")
    config = helpers.tiny_config(num_steps=10**6, max_seconds=3.0, log_every_steps=10**5,
                                 sample_every_steps=10**5, checkpoint_every_steps=10**5)
    training.run(config, budgeted)
    ckpt = tf.train.latest_checkpoint(RunDir(budgeted).checkpoints)
    stopped = int(ckpt.rsplit("-", 1)[1])
    assert 0 < stopped < 10**6
    reader = tf.train.load_checkpoint(ckpt)
    assert reader.get_tensor("train_seconds/.ATTRIBUTES/VARIABLE_VALUE") >= 3.0
    # The last step is logged.
    assert [r["step"] for r in helpers.read_records(budgeted)] == [stopped]
    assert os.path.exists(RunDir(budgeted).sample_grid(stopped))

    # The budget is spent: the same command trains nothing more.
    training.run(config, budgeted)
    assert tf.train.latest_checkpoint(RunDir(budgeted).checkpoints) == ckpt

    # Stopping by time changes nothing about the steps it trained.
    straight = str(tmp_path / "straight")
    training.run(helpers.tiny_config(num_steps=stopped), straight)
    a, b = helpers.training_state(straight), helpers.training_state(budgeted)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_linear_decay_lowers_the_rates_to_zero_and_resumes_exactly(tmp_path, training):
    """optim.schedule=linear_decay: the logged rates fall on the line, and a run stopped part
    way (here by a time budget) resumes onto the same line, bit for bit."""
    def config(**training):
        c = helpers.tiny_config(num_steps=8, checkpoint_every_steps=4, **training)
        c.optim.schedule = "linear_decay"
        c.optim.decay_start = 0.25
        return c

    straight, stopped = str(tmp_path / "straight"), str(tmp_path / "stopped")
    # Stopped part way by a time budget, then run on.
    training.in_new_process((config(), straight), (config(max_seconds=1e-6), stopped),
                            (config(), stopped))
    base = config().optim.g_learning_rate
    rates = {r["step"]: r["g_learning_rate"] for r in helpers.read_records(straight)}
    # Logged after step s, the rate is the one step s - 1 used: full until step 2 of 8, then
    # down the line to 1/6 of it for the last step.
    expected = {s: base * min(1.0, 1 - (s - 1 - 2) / 6) for s in (2, 4, 6, 8)}
    assert rates.keys() == expected.keys()
    for s in rates:
        assert rates[s] == pytest.approx(expected[s], rel=1e-5), s

    assert 0 < helpers.read_records(stopped)[0]["step"] < 8  # stopped before the end
    a, b = helpers.training_state(straight), helpers.training_state(stopped)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_a_conditional_run_with_held_out_images_logs_d_on_both(tmp_path, training):
    config = helpers.tiny_config("synthetic:digits:40", num_steps=2)
    config.model.conditional = True
    config.data.holdout = 8
    training.run(config, str(tmp_path))
    (record,) = helpers.read_records(tmp_path)
    assert 0 < record["d_holdout"] < 1 and 0 < record["d_trained"] < 1


def test_d_trained_compares_a_random_sample_of_the_training_images_drawn_by_the_seed():
    # Images in the order of a folder of classes: the first half all of class 0.
    images = np.arange(40, dtype=np.uint8).repeat(4).reshape(40, 2, 2, 1)
    labels = (np.arange(40) >= 20).astype(np.int32)
    held_out, held_out_labels = images[:8], labels[:8]

    def compared(seed):
        sets = evaluations.HeldOutComparison(images, labels, held_out, held_out_labels, seed,
                                             8).image_sets
        chosen, chosen_labels = sets["d_trained"]
        return chosen[:, 0, 0, 0], chosen_labels

    chosen, chosen_labels = compared(seed=0)
    assert len(chosen) == 8 and len(set(chosen)) == 8
    assert set(chosen_labels) == {0, 1}  # both classes, not the first 8 images
    np.testing.assert_array_equal(chosen_labels, labels[chosen])
    np.testing.assert_array_equal(compared(seed=0)[0], chosen)
    assert not np.array_equal(compared(seed=1)[0], chosen)


def test_a_budget_of_a_second_trains_for_about_a_second_not_one_step(tmp_path, training):
    """Tracing the step function takes longer than this budget; it is not counted."""
    config = helpers.tiny_config(num_steps=10**6, max_seconds=1.0, log_every_steps=10**5,
                                 sample_every_steps=10**5, checkpoint_every_steps=10**5)
    training.run(config, str(tmp_path))
    (record,) = helpers.read_records(tmp_path)
    assert record["step"] > 5
    reader = tf.train.load_checkpoint(RunDir(str(tmp_path)).checkpoints)
    assert 1.0 <= reader.get_tensor("train_seconds/.ATTRIBUTES/VARIABLE_VALUE") < 3.0
