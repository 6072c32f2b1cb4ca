"""Which features a spec names ('random', 'inception', 'inception:PATH', a classifier's path),
and InceptionV3 from a local weights file: loaded when its MD5 is Keras' published one,
refused with both hashes otherwise."""

import hashlib
import warnings

import numpy as np
import pytest

from dcgan import config_check
from dcgan.errors import UserError
from dcgan.quality import features


def md5_of(path):
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


@pytest.mark.parametrize("spec, words", [
    ("inception:", ["name no weights file", "inception:PATH"]),
    ("inception:{tmp}/none.h5", ["none.h5 not found", config_check.INCEPTION_WEIGHTS]),
    ("inception:{tmp}/weights.bin", ["*.h5 only", config_check.INCEPTION_WEIGHTS]),
    ("inception:{tmp}", ["is a folder, not the weights file", config_check.INCEPTION_WEIGHTS]),
    ("{tmp}/clf.keras", ["clf.keras not found", "dcgan.classifier", "'random'"]),
    ("random:3", ["random:3 not found", "'random'"]),
])
def test_a_spec_that_cannot_load_says_why_before_tensorflow_work(tmp_path, spec, words):
    (tmp_path / "weights.bin").write_bytes(b"x")
    problem = config_check.missing_features(spec.format(tmp=tmp_path))
    assert problem and all(word in problem for word in words), problem


def test_the_named_extractors_need_no_file():
    assert config_check.missing_features(config_check.RANDOM) is None
    assert config_check.missing_features(config_check.INCEPTION) is None
    assert config_check.inception_weights("inception") == ""
    assert config_check.inception_weights("inception:~/w.h5").startswith("/")
    assert config_check.inception_weights("random") is None


def test_the_published_hash_is_the_one_keras_checks():
    import inspect

    from keras.src.applications import inception_v3

    assert f'file_hash="{config_check.INCEPTION_WEIGHTS_MD5}"' in inspect.getsource(inception_v3)
    assert config_check.INCEPTION_WEIGHTS in inception_v3.WEIGHTS_PATH


def test_another_file_is_refused_with_both_hashes(tmp_path):
    wrong = tmp_path / config_check.INCEPTION_WEIGHTS
    wrong.write_bytes(b"an HDF5 file cut short")
    with pytest.raises(UserError) as refused:
        features.load_extractor(f"inception:{wrong}", 64, 3)
    message = str(refused.value)
    assert "\n" not in message
    assert config_check.INCEPTION_WEIGHTS_MD5 in message and md5_of(wrong) in message
    assert "copy that file whole" in message


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
    """InceptionV3 with random weights, saved as Keras' published file is laid out (the
    legacy HDF5 weights layout), and the pool features of a few pictures through it."""
    import h5py
    import keras
    from keras.src.legacy.saving import legacy_h5_format

    keras.utils.set_random_seed(0)
    model = keras.applications.InceptionV3(include_top=True, weights=None)
    path = tmp_path_factory.mktemp("weights") / config_check.INCEPTION_WEIGHTS
    with h5py.File(path, "w") as f, warnings.catch_warnings():
        # Keras' legacy writer trips NumPy 2's copy= deprecation once per weight.
        warnings.simplefilter("ignore", DeprecationWarning)
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    images = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    pool = keras.Model(model.inputs, model.get_layer("avg_pool").output)
    import tensorflow as tf

    expected = pool(tf.image.resize(images, (299, 299)), training=False).numpy()
    return {"path": str(path), "images": images, "pool": expected}


def test_a_stand_in_is_refused_by_the_published_hash(stand_in):
    with pytest.raises(UserError, match=md5_of(stand_in["path"])):
        features.load_extractor(f"inception:{stand_in['path']}", 32, 3)


def test_weights_whose_hash_matches_are_the_ones_scored_with(stand_in, monkeypatch):
    # Keras' own file is not on this machine: the expected hash becomes the stand-in's, and
    # the features must then be those of the stand-in's weights, not of fresh random ones.
    monkeypatch.setattr(config_check, "INCEPTION_WEIGHTS_MD5", md5_of(stand_in["path"]))
    extractor = features.load_extractor(f"inception:{stand_in['path']}", 32, 3)
    assert extractor.kind == features.INCEPTION
    assert extractor.name == f"inception:{stand_in['path']}"
    assert stand_in["path"] in extractor.description
    feats, logits = extractor(stand_in["images"])
    assert logits.shape == (2, 1000)
    np.testing.assert_allclose(feats, stand_in["pool"], rtol=1e-4, atol=1e-5)
