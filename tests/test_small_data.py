"""Small data sets: a subset of the source, held-out images, and what the run logs of them."""

import os

import numpy as np
import pytest

from dcgan.data import input_pipeline
from dcgan.errors import UserError
from dcgan.run.workdir import RunDir
from dcgan.training import train
from tests import helpers


def numbered(n):
    """Images whose first pixel is their index, to tell which ones were picked."""
    images = np.zeros((n, 4, 4, 1), np.uint8)
    images[:, 0, 0, 0] = np.arange(n)
    return images


def ids(images):
    return set(images[:, 0, 0, 0].tolist())


def test_nothing_selected_keeps_every_image_in_order():
    images = numbered(10)
    training, labels, held_out, held_labels = input_pipeline.select_images(images, seed=0)
    assert training is images and len(held_out) == 0
    assert labels is None and held_labels is None


def test_max_images_and_holdout_are_disjoint_and_drawn_by_the_seed():
    images = numbered(50)
    labels = images[:, 0, 0, 0].astype(np.int64)  # each image's label is its number
    training, training_labels, held_out, held_labels = input_pipeline.select_images(
        images, 1, max_images=20, holdout=5, labels=labels)
    assert len(training) == 20 and len(held_out) == 5
    assert not ids(training) & ids(held_out)
    # Labels follow their images.
    assert training_labels.tolist() == training[:, 0, 0, 0].tolist()
    assert held_labels.tolist() == held_out[:, 0, 0, 0].tolist()
    again, _, again_held, _ = input_pipeline.select_images(images, 1, max_images=20, holdout=5)
    np.testing.assert_array_equal(again, training)
    np.testing.assert_array_equal(again_held, held_out)
    other, *_ = input_pipeline.select_images(images, 2, max_images=20, holdout=5)
    assert ids(other) != ids(training)
    # Not simply the source's first images.
    assert ids(training) != set(range(20))
    rest, *_ = input_pipeline.select_images(images, 1, holdout=5)
    assert len(rest) == 45 and ids(rest) == set(range(50)) - ids(held_out)


def test_a_holdout_of_every_image_is_refused():
    with pytest.raises(UserError, match=r"data.holdout=10 leaves no training images.*has 10"):
        input_pipeline.select_images(numbered(10), 0, holdout=10)


def test_a_run_logs_d_on_held_out_and_trained_images_and_their_gap(tmp_path, training):
    from dcgan.run import run_report

    config = helpers.tiny_config("synthetic:digits:40", num_steps=2)
    config.data.max_images = 16
    config.data.holdout = 8
    training.run(config, str(tmp_path))
    (record,) = helpers.read_records(tmp_path)
    assert 0 <= record["d_holdout"] <= 1 and 0 <= record["d_trained"] <= 1
    assert record["d_gap"] == pytest.approx(record["d_trained"] - record["d_holdout"])
    assert os.path.exists(RunDir(str(tmp_path)).report)
    assert run_report.gap_target(str(tmp_path)) == 0  # no target line: the gap steers nothing


def test_too_few_images_left_for_a_batch_is_one_line(tmp_path):
    config = helpers.tiny_config("synthetic:digits:40", num_steps=2)
    config.data.max_images = 4  # fewer than the batch of 8
    with pytest.raises(UserError, match="batch_size 8 is more than the 4 training images"):
        train.train_and_evaluate(config, str(tmp_path))


def test_the_folder128_preset_trains_two_steps_when_made_tiny(tmp_path, training):
    from configs import folder128

    helpers.write_folder(str(tmp_path / "pictures"), n=12, size=40)
    config = folder128.get_config()
    config.data.source = f"folder:{tmp_path / 'pictures'}"
    config.data.holdout = 2
    config.model.noise_dim, config.model.gen_filters, config.model.disc_filters = 8, 2, 2
    config.model.kernel_size = 3
    t = config.training
    t.batch_size, t.num_steps, t.num_grid_images = 4, 2, 4
    t.log_every_steps = t.sample_every_steps = t.checkpoint_every_steps = 2
    t.precision = "float32"
    run = str(tmp_path / "run")
    training.run(config, run)
    (record,) = helpers.read_records(run)
    assert {"augment_p", "d_sign_real", "d_holdout"} <= set(record)
    assert os.path.exists(RunDir(run).sample_grid(2))


@pytest.mark.parametrize("max_images, holdout, trained", [(30, 30, 10), (1000, 0, 40)])
def test_max_images_beyond_what_is_left_warns_with_the_numbers(caplog, max_images, holdout,
                                                                trained):
    """max_images counts training images, after the hold-out; fewer left is said, not hidden."""
    with caplog.at_level("WARNING", logger="dcgan"):
        training, *_ = input_pipeline.select_images(numbered(40), 0, max_images, holdout)
    assert len(training) == trained
    (warning,) = [r.getMessage() for r in caplog.records]
    assert f"data.max_images={max_images} asks for more training images" in warning
    assert f"source has 40, data.holdout={holdout}" in warning
    assert f"training on the {trained} left" in warning


def test_max_images_within_what_is_left_is_silent(caplog):
    with caplog.at_level("WARNING", logger="dcgan"):
        input_pipeline.select_images(numbered(40), 0, max_images=20, holdout=10)
    assert not caplog.records
