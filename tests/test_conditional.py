"""Class-conditional runs: labels from every source, training and exact resume, sampling a class,
the export signature, conditional accuracy, and the errors a user can meet."""

import json
import os

import imageio.v3 as iio
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from dcgan.data import classes, input_pipeline
from dcgan.errors import UserError
from dcgan.quality import features
from dcgan.run import run_record, sample_output
from dcgan.run.workdir import RunDir
from dcgan.training import step
from tests import helpers

DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


DIGITS = "synthetic:digits:64"


def read_classes(workdir):
    with open(RunDir(workdir).classes) as f:
        return json.load(f)["names"]


def test_labels_from_idx_npz_and_tfds(tmp_path):
    helpers.write_idx(str(tmp_path / "idx"), n=24)
    _, labels, names = input_pipeline.load_labelled_images(f"idx:{tmp_path}/idx", 28, 1)
    assert labels.tolist() == [i % 10 for i in range(24)] and names is None

    np.savez(tmp_path / "d.npz", images=helpers.random_digits(6)[..., 0],
             labels=np.array([2, 0, 1, 2, 1, 0]))
    _, labels, names = input_pipeline.load_labelled_images(f"npz:{tmp_path}/d.npz", 28, 1)
    assert labels.tolist() == [2, 0, 1, 2, 1, 0] and names is None

    with tfds.testing.mock_data(num_examples=12):
        _, labels, names = input_pipeline.load_labelled_images("tfds:fashion_mnist", 28, 1)
    assert len(labels) == 12 and names[7] == "Sneaker" and len(names) == 10


def test_folder_of_sub_folders_gives_sorted_class_names(tmp_path):
    for name, count in (("sneaker", 2), ("bag", 1), ("Coat", 2)):
        (tmp_path / name).mkdir()
        for i in range(count):
            iio.imwrite(tmp_path / name / f"{i}.png", np.full((28, 28), 40 * i, np.uint8))
    _, labels, names = input_pipeline.load_labelled_images(f"folder:{tmp_path}", 28, 1)
    assert names == ["Coat", "bag", "sneaker"]  # sorted by name, as the files are
    assert labels.tolist() == [0, 0, 1, 2, 2]

    iio.imwrite(tmp_path / "loose.png", np.zeros((28, 28), np.uint8))  # a picture of no class
    with pytest.raises(input_pipeline.NoLabels, match="sub-folder"):
        input_pipeline.load_labelled_images(f"folder:{tmp_path}", 28, 1)


def test_class_names_come_from_the_source_then_the_config_then_numbers():
    labels = np.array([0, 2, 1])
    assert classes.resolve_class_names("s", labels, ["a", "b", "c"], ("x", "y", "z")) == \
        ["a", "b", "c"]
    assert classes.resolve_class_names("s", labels, None, ("x", "y", "z")) == ["x", "y", "z"]
    assert classes.resolve_class_names("s", labels, None, ()) == ["0", "1", "2"]
    with pytest.raises(UserError, match="label 2 but data.class_names names only 2"):
        classes.resolve_class_names("s", labels, None, ("x", "y"))


def test_labels_by_index_and_name():
    names = ["T-shirt/top", "Trouser", "Sneaker", "Bag"]
    assert classes.parse_labels("Sneaker,bag,1", names) == [2, 3, 1]
    with pytest.raises(UserError, match="no class 'Boot'.*0 T-shirt/top, 1 Trouser"):
        classes.parse_labels("Boot", names)
    with pytest.raises(UserError, match="no class '4'"):
        classes.parse_labels("4", names)
    with pytest.raises(UserError, match="no class '²'"):
        classes.parse_labels("²", names)  # a digit to str.isdigit, not to int()


def test_conditional_training_resumes_bit_for_bit(tmp_path, training):
    config = helpers.tiny_config(DIGITS, conditional=True, num_steps=6, checkpoint_every_steps=3)
    straight, stopped = str(tmp_path / "straight"), str(tmp_path / "stopped")
    half = helpers.tiny_config(DIGITS, conditional=True, num_steps=3, checkpoint_every_steps=3)
    training.in_new_process((config, straight), (half, stopped), (config, stopped))
    a, b = helpers.training_state(straight), helpers.training_state(stopped)
    # The generator's class embedding (one noise-sized row per class) and the discriminator's
    # projection (a row of its 7x7x8 features per class).
    shapes = {value.shape for value in a.values()}
    assert {(10, 8), (10, 7 * 7 * 8)} <= shapes
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert read_classes(stopped) == [str(k) for k in range(10)]
    # The training grid: one column per class.
    grid = iio.imread(RunDir(straight).sample_grid(6))
    no_labels = helpers.tiny_config(num_steps=6)
    assert grid.shape[1] > 28 * no_labels.training.num_grid_images


def test_class_variety_layers_and_mode_seeking_train_and_resume_bit_for_bit(tmp_path, training):
    def variety_config(num_steps):
        config = helpers.tiny_config(DIGITS, conditional=True, num_steps=num_steps,
                                     checkpoint_every_steps=3, log_every_steps=1)
        config.model.minibatch_stddev = 0
        config.model.stddev_by_class = True
        config.model.class_norm = True
        config.training.mode_seeking = 1.0
        return config

    straight, stopped = str(tmp_path / "straight"), str(tmp_path / "stopped")
    training.in_new_process((variety_config(6), straight), (variety_config(3), stopped),
                                 (variety_config(6), stopped))
    a, b = helpers.training_state(straight), helpers.training_state(stopped)
    # The generator's trained tables with a row per class: the class embedding, and a scale
    # and a shift for each of its three batch norms, which moved away from the zeros they
    # start at.
    class_rows = [a[name] for name in a if name.startswith("g_optimizer/_trainable_variables/")
                  and a[name].ndim == 2 and a[name].shape[0] == 10]
    assert len(class_rows) == 7
    assert all(np.abs(table).max() > 0 for table in class_rows)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    # Mode seeking logs how far apart the generator draws a pair of noises, every step.
    distances = [record["g_pair_distance"] for record in run_record.read_metrics(straight)
                 if "g_loss" in record]
    assert len(distances) == 6 and all(d > 0 for d in distances)


def test_fake_labels_are_a_function_of_seed_and_step_and_leave_the_rest_alone():
    images = helpers.random_digits(16)
    labels = np.arange(16) % 4

    def batch(start, seed):
        dataset = step.make_input(images, 8, 3, seed, start, labels, num_classes=4)
        return next(iter(dataset.skip(2 - start)))

    from_zero, resumed = batch(0, seed=1), batch(2, seed=1)
    for part_a, part_b in zip(from_zero, resumed, strict=True):
        np.testing.assert_array_equal(part_a, part_b)
    real, noise, real_labels, fake_labels = from_zero
    assert fake_labels.dtype == tf.int32 and set(fake_labels.numpy()) <= {0, 1, 2, 3}
    # Each real image comes with its own label.
    for image, label in zip(real.numpy(), real_labels.numpy(), strict=True):
        pixels = np.round((image + 1.0) * 127.5).astype(np.uint8)
        index = np.flatnonzero([(pixels == img).all() for img in images])
        assert labels[index[0]] == label
    # An unconditional run's batches do not change: the same images and noise.
    plain_real, plain_noise = next(iter(step.make_input(images, 8, 3, 1, 2)))
    np.testing.assert_array_equal(plain_real, real)
    np.testing.assert_array_equal(plain_noise, noise)
    # Mode seeking asks for each class twice in a row, and changes nothing else.
    paired = next(iter(step.make_input(images, 8, 3, 1, 2, labels, num_classes=4,
                                       paired=True)))
    asked = paired[3].numpy()
    np.testing.assert_array_equal(asked[0::2], asked[1::2])
    assert len(set(asked)) > 1
    for part_a, part_b in zip(paired[:3], from_zero[:3], strict=True):
        np.testing.assert_array_equal(part_a, part_b)


def test_resume_refuses_to_switch_conditional(tmp_path, training):
    training.run(helpers.tiny_config(DIGITS, num_steps=2), str(tmp_path))
    before = helpers.files_under(str(tmp_path))
    with pytest.raises(UserError, match="different model.*model.conditional: False -> True"):
        training.run(helpers.tiny_config(DIGITS, conditional=True, num_steps=4), str(tmp_path))
    assert helpers.files_under(str(tmp_path)) == before


def test_conditional_accuracy_counts_the_class_asked_for():
    logits = np.eye(3)[[0, 1, 2, 0, 2, 2]]
    labels = features.sample_labels(6, 3)  # 0 1 2 0 1 2
    overall, per_class = features.conditional_accuracy(logits, labels, ["a", "b", "c"])
    assert overall == pytest.approx(5 / 6)
    assert per_class == {"a": 1.0, "b": 0.5, "c": 1.0}


@pytest.fixture(scope="module")
def run(training):
    """A finished tiny conditional run on synthetic digits named by data.class_names."""
    config = helpers.tiny_config(DIGITS, conditional=True)
    config.data.class_names = DIGIT_NAMES
    return training.finished(config)


def test_sample_labels_by_name_and_index_into_npz_and_export(run, tmp_path):
    out, export = str(tmp_path / "s.npz"), str(tmp_path / "export")
    result = helpers.run_cli("dcgan.sample", f"--workdir={run}", "--labels=three,1",
                             "--num_images=5", "--batch_size=4", f"--output={out}",
                             f"--export={export}")
    assert result.returncode == 0, result.stderr
    assert "labels int32 [N]" in result.stdout
    with np.load(out) as saved:
        assert saved["labels"].tolist() == [3, 1, 3, 1, 3]
        images, noise = saved["images"], saved["noise"]
    served = tf.saved_model.load(os.path.join(export, "saved_model")).signatures[
        "serving_default"]
    again = served(noise=tf.constant(noise), labels=tf.constant([3, 1, 3, 1, 3]))["images"]
    np.testing.assert_array_equal(again.numpy(), images)
    other = served(noise=tf.constant(noise), labels=tf.constant([0, 0, 0, 0, 0]))["images"]
    assert not np.array_equal(other.numpy(), images)  # the class reaches the images


def test_sample_unknown_label_is_one_line(run):
    result = helpers.run_cli("dcgan.sample", f"--workdir={run}", "--labels=eleven")
    helpers.assert_one_line_error(result, "--labels=eleven", "no class 'eleven'", "9 nine")
    result = helpers.run_cli("dcgan.sample", f"--workdir={run}", "--labels=10")
    helpers.assert_one_line_error(result, "no class '10'")
    result = helpers.run_cli("dcgan.sample", f"--workdir={run}", "--labels=²")
    helpers.assert_one_line_error(result, "no class '²'", "9 nine")


@pytest.mark.parametrize("source", ["folder", "npz"])
def test_unlabelled_source_with_conditional_is_one_line(tmp_path, source):
    if source == "folder":
        data = tmp_path / "pictures"
        data.mkdir()
        for i in range(4):
            iio.imwrite(data / f"{i}.png", helpers.random_digits(1, seed=i)[0, ..., 0])
        spec, words = f"folder:{data}", ("has no labels", "sub-folder")
    else:
        data = tmp_path / "images.npz"
        np.savez(data, images=helpers.random_digits(16)[..., 0])
        spec, words = f"npz:{data}", ("has no labels",)
    run_dir = tmp_path / "run"
    result = helpers.run_cli("dcgan.main", "--config=configs/mnist_cond.py",
                             f"--workdir={run_dir}", f"--config.data.source={spec}",
                             "--config.training.batch_size=4")
    helpers.assert_one_line_error(result, "model.conditional=True needs labels", *words)
    checkpoints = RunDir(run_dir).checkpoints
    assert not os.path.exists(checkpoints) or not os.listdir(checkpoints)


def test_sample_grid_of_one_class_or_two_is_near_square(run, tmp_path):
    one, two = tmp_path / "one.png", tmp_path / "two.png"
    for labels, path in (("three", one), ("three,one", two)):
        result = helpers.run_cli("dcgan.sample", f"--workdir={run}", f"--labels={labels}",
                                 "--num_images=16", f"--output={path}")
        assert result.returncode == 0, result.stderr
    side = 4 * 28 + 3 * 2  # four 28-pixel tiles and three 2-pixel gaps
    assert iio.imread(one).shape == (side, side)  # not a 16-image-tall strip
    # Four columns, an even number: image i, of class i mod 2, lands in column i mod 4, so
    # columns 0 and 2 hold class three and columns 1 and 3 class one.
    assert iio.imread(two).shape == (side, side)


def test_sample_folder_has_a_sub_folder_per_class_and_reads_back_as_a_data_set(run, tmp_path):
    out = tmp_path / "generated"
    result = helpers.run_cli("dcgan.sample", f"--workdir={run}", "--labels=three,1",
                             "--num_images=5", f"--output={out}")
    assert result.returncode == 0, result.stderr
    assert helpers.files_under(str(out)).keys() == {
        "three/000000.png", "one/000001.png", "three/000002.png", "one/000003.png",
        "three/000004.png"}
    images, labels, names = input_pipeline.load_labelled_images(f"folder:{out}", 28, 1)
    assert names == ["one", "three"] and labels.tolist() == [0, 0, 1, 1, 1]
    assert images.shape == (5, 28, 28, 1)


def test_class_folder_names_are_one_safe_path_component_each():
    assert sample_output.class_folders(["T-shirt/top", "..", "a", "a", ""]) == [
        "T-shirt_top", "class_1", "a", "3_a", "class_4"]
