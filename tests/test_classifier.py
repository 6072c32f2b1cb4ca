"""The feature classifier: learns labelled images, saves a plain Keras model that reloads."""

import json

import imageio.v3 as iio
import keras
import numpy as np
import pytest

from dcgan import classifier
from dcgan.data import digits
from dcgan.errors import UserError
from dcgan.quality import features
from tests import helpers


@pytest.fixture(scope="module")
def idx_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("idx")
    helpers.write_idx(str(folder), n=48)
    helpers.write_idx(str(folder), n=20, prefix="t10k")
    return folder


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """An untrained classifier on disk: enough for the shape checks."""
    path = str(tmp_path_factory.mktemp("clf") / "untrained.keras")
    classifier.save(classifier.build_classifier(28, 1, 10), {"test_accuracy": 0.5}, path)
    return path


def test_command_trains_saves_and_reports_accuracy(idx_data, tmp_path):
    out = tmp_path / "classifiers" / "digits.keras"
    result = helpers.run_cli("dcgan.classifier", "--config=configs/default.py",
                             f"--config.data.source=idx:{idx_data}", f"--output={out}",
                             "--epochs=1", "--batch_size=16")
    assert result.returncode == 0, result.stderr
    assert "test accuracy" in result.stdout and str(out) in result.stdout
    info = json.loads((tmp_path / "classifiers" / "digits.json").read_text())
    assert info["num_classes"] == 10 and info["test_images"] == 20
    assert 0.0 <= info["test_accuracy"] <= 1.0
    # A plain Keras model: loads without this package's code, features layer by name.
    model = keras.models.load_model(out)
    assert model.get_layer("features").output.shape[-1] == 128
    images = np.linspace(-1, 1, 5 * 28 * 28, dtype=np.float32).reshape(5, 28, 28, 1)
    feats, logits = features.load_extractor(str(out), 28, 1)(images)
    assert feats.shape == (5, 128) and logits.shape == (5, 10)
    np.testing.assert_allclose(logits, model(images, training=False).numpy(), rtol=1e-5,
                               atol=1e-5)


@pytest.mark.parametrize("holdout", [4, 0])
def test_on_a_folder_it_tests_on_held_out_pictures_or_says_it_could_not(tmp_path, holdout):
    helpers.write_folder(str(tmp_path / "pictures"), n=16)  # two classes, no test split
    out = tmp_path / "folder.keras"
    result = helpers.run_cli("dcgan.classifier", "--config=configs/default.py",
                             f"--config.data.source=folder:{tmp_path / 'pictures'}",
                             f"--config.data.holdout={holdout}", f"--output={out}",
                             "--epochs=1", "--batch_size=4")
    assert result.returncode == 0, result.stderr
    info = json.loads((tmp_path / "folder.json").read_text())
    if holdout:
        assert "test accuracy" in result.stdout and "4 held-out images" in result.stdout
        assert info["test_images"] == 4 and info["train_images"] == 12
    else:
        assert "test accuracy" not in result.stdout, result.stdout
        assert "training accuracy" in result.stdout and "data.holdout" in result.stdout
        assert "test_accuracy" not in info and info["train_images"] == 16


def test_learns_to_tell_digits_apart():
    train = digits.synthetic_digits(1500, (0, 0))
    test = digits.synthetic_digits(300, (0, 1))
    _, report = classifier.train_classifier(train, test, epochs=2, batch_size=64)
    assert report["test_accuracy"] > 0.5  # chance is 0.1


def test_extractor_refuses_images_of_another_shape(saved):
    with pytest.raises(UserError, match="takes 28x28x1 images but the run makes 32x32x3"):
        features.load_extractor(saved, 32, 3)


@pytest.mark.parametrize("name", ["junk.keras", "junk.h5", "notes.txt"])
def test_a_file_that_is_no_keras_model_is_named_as_such(tmp_path, name):
    path = tmp_path / name
    path.write_text("not a model")
    with pytest.raises(UserError, match="is not a readable Keras model file") as refused:
        features.load_extractor(str(path), 28, 1)
    assert "not found" not in str(refused.value).lower()


def test_model_without_features_layer_is_refused(tmp_path):
    inputs = keras.Input((28, 28, 1))
    path = str(tmp_path / "plain.keras")
    keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(inputs))).save(path)
    with pytest.raises(UserError, match="no layer named 'features'"):
        features.load_extractor(path, 28, 1)


def test_unlabelled_or_single_class_data_is_refused():
    with pytest.raises(UserError, match="two classes"):
        classifier.check_labels(np.zeros(8, np.int64), np.zeros(4, np.int64), "npz:x")
    with pytest.raises(UserError, match="outside the training labels"):
        classifier.check_labels(np.arange(8) % 2, np.full(4, 5), "npz:x")


@pytest.mark.parametrize("args, words", [
    (["--output=model.h5"], [".keras"]),
    (["--output={tmp}/c.keras", "--config.data.source=folder:{tmp}"], ["no labels"]),
])
def test_command_errors_are_one_line(tmp_path, args, words):
    # Images directly in the folder, in no class sub-folder: a folder without labels.
    for i, image in enumerate(helpers.random_digits(2, size=40, channels=3)):
        iio.imwrite(tmp_path / f"img{i}.png", image)
    args = [a.format(tmp=tmp_path) for a in args]
    result = helpers.run_cli("dcgan.classifier", "--config=configs/default.py", *args)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert all(word in errors[0] for word in words), errors[0]
    assert not (tmp_path / "c.keras").exists()
