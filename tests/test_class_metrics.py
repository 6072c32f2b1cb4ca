"""Quality within each class of a conditional generator: per-class precision, recall, Frechet
distance and spread, the classes too small to score, and the warning when classes collapse."""

import logging

import keras
import numpy as np
import pytest
import tensorflow as tf

from dcgan import pixels
from dcgan.data import input_pipeline
from dcgan.quality import features, per_class
from dcgan.run import checkpoints, workdir
from dcgan.training import evaluations

NAMES = ["boot", "bag"]


def two_classes(rng, num, collapsed):
    """Features of real images of two well-apart classes, and samples for each: class 0's
    (if `collapsed`) all one real image, class 1's fresh draws from its real distribution."""
    real = np.concatenate([rng.normal(size=(num, 2)), rng.normal(size=(num, 2)) + [8.0, 0.0]])
    labels = np.repeat([0, 1], num)
    first = np.repeat(real[:1], num, axis=0) if collapsed else rng.normal(size=(num, 2))
    fake = np.concatenate([first, rng.normal(size=(num, 2)) + [8.0, 0.0]])
    return real, labels, fake, labels.copy()


def test_a_collapsed_class_shows_in_its_recall_and_spread_the_varied_one_does_not():
    real, real_labels, fake, fake_labels = two_classes(np.random.default_rng(0), 400, True)
    means, scores, skipped = per_class.score_classes(real, real_labels, fake, fake_labels,
                                                     NAMES)
    boot, bag = scores["boot"], scores["bag"]
    assert skipped == {}
    # Every boot is the same real boot: it looks real, but covers one real boot of 400.
    assert boot["precision"] == 1.0 and boot["recall"] <= 1 / 400
    assert boot["spread"] == 0.0
    # The bags vary like the real bags.
    assert bag["precision"] > 0.9 and bag["recall"] > 0.9
    assert bag["spread"] == pytest.approx(1.0, abs=0.15)
    assert boot["fid"] > 10 * bag["fid"]
    assert boot["k"] == bag["k"] == 3 and boot["num_real"] == boot["num_generated"] == 400
    for metric, mean in per_class.MEANS.items():
        assert means[mean] == pytest.approx((boot[metric] + bag[metric]) / 2)


def test_a_class_with_few_images_is_scored_with_fewer_neighbours_or_left_out():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(9, 3))
    real_labels = np.array([0, 0, 0, 1, 1, 1, 1, 1, 2])  # class 2: one real image
    fake = rng.normal(size=(9, 3))
    fake_labels = np.array([0, 0, 1, 1, 1, 1, 1, 1, 2])  # class 0: two samples
    means, scores, skipped = per_class.score_classes(real, real_labels, fake, fake_labels,
                                                     ["a", "b", "c", "d"])
    assert scores["a"]["k"] == 1  # 3 real, 2 generated: the most a 2-point set allows
    assert scores["b"]["k"] == 3
    assert skipped == {"c": "1 real image", "d": "0 real images"}
    assert means["class_recall"] == pytest.approx(
        (scores["a"]["recall"] + scores["b"]["recall"]) / 2)
    line = per_class.skip_warning(skipped, 4)
    assert "2 of 4 classes" in line and "c (1 real image)" in line
    assert "over the other 2" in line and "eval_num_samples" in line


def test_a_class_whose_real_images_are_all_alike_is_left_out():
    rng = np.random.default_rng(2)
    real = np.concatenate([np.ones((4, 2)), rng.normal(size=(4, 2))])
    labels = np.repeat([0, 1], 4)
    means, scores, skipped = per_class.score_classes(real, labels, rng.normal(size=(8, 2)),
                                                     labels, NAMES)
    assert skipped == {"boot": "real images all alike"} and list(scores) == ["bag"]
    nothing = per_class.score_classes(real[:1], labels[:1], real[:1], labels[:1], NAMES)
    assert nothing[:2] == ({}, {})


def test_collapse_is_warned_only_when_the_samples_look_real():
    collapsed = {"precision": 0.9, "class_recall": 0.01, "class_spread": 0.02}
    line = per_class.collapse_warning(collapsed)
    assert "collapsed" in line and "0.010" in line and "90%" in line
    assert per_class.collapse_warning({**collapsed, "class_recall": 0.3}) is None
    # Early in training nothing looks real yet: low recall says nothing about collapse.
    assert per_class.collapse_warning({**collapsed, "precision": 0.2}) is None
    # An unconditional run has no class means.
    assert per_class.collapse_warning({"precision": 0.9, "recall": 0.0}) is None


def pixel_extractor():
    """The images' pixels as features: per-class scoring works with any extractor."""
    images = keras.Input((28, 28, 1))
    flat = keras.layers.Flatten()(images)
    logits = keras.layers.Dense(3)(flat)  # not the run's 10 classes: no conditional accuracy
    return features.Extractor("pixels", keras.Model(images, [flat, logits]), (28, 28, 1),
                              "the pixels")


def one_image_per_class(images_by_class, noise_dim):
    """A conditional generator that draws the same image for every sample of a class."""
    noise = keras.Input((noise_dim,))
    label = keras.Input((), dtype="int32")
    table = pixels.to_model_range(np.stack(images_by_class)).reshape(len(images_by_class), -1)
    drawn = keras.layers.Embedding(len(table), table.shape[1],
                                   embeddings_initializer=keras.initializers.Constant(table))(
        label)
    ignored = keras.layers.Dense(table.shape[1], kernel_initializer="zeros")(noise)
    out = keras.layers.Reshape((28, 28, 1))(keras.layers.Add()([drawn, ignored]))
    return keras.Model([noise, label], out)


class Collapsed:
    """What the loop's quality score asks of the training state: the generator to sample."""

    def __init__(self, generator):
        self.generator = generator

    def sampling_generator(self):
        return self.generator


def test_the_labelled_real_images_are_the_ones_the_mixed_set_is_compared_with():
    data = {"source": "synthetic:digits", "image_size": 28, "channels": 1}
    plain, no_labels, _ = features.reference_images(data, 300, seed=3)
    images, labels, _ = features.reference_images(data, 300, seed=3, with_labels=True)
    np.testing.assert_array_equal(images, plain)
    assert no_labels is None and labels.shape == (300,)
    every_image, every_label, _ = input_pipeline.load_labelled_images(
        "synthetic:digits", 28, 1, split="test", seed=3)
    # Each image keeps its own label.
    for image, label in zip(images[:20], labels[:20], strict=True):
        at = np.flatnonzero((every_image == image).all(axis=(1, 2, 3)))
        assert set(every_label[at]) == {label}


def test_real_images_without_labels_leave_the_classes_unscored_with_a_warning(tmp_path, caplog):
    images = np.arange(12 * 28 * 28, dtype=np.int64).reshape(12, 28, 28) % 256
    path = tmp_path / "no_test_labels.npz"  # labelled training images, unlabelled test images
    np.savez(path, x_train=images, y_train=np.arange(12) % 2, x_test=images[:6])
    data = {"source": f"npz:{path}", "image_size": 28, "channels": 1}
    with caplog.at_level(logging.WARNING, logger="dcgan"):
        real, labels, kind = features.reference_images(data, 6, seed=0, with_labels=True)
    assert labels is None and len(real) == 6 and kind == features.TEST_SPLIT
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["no per-class metrics"]


def test_the_quality_score_of_a_generator_of_one_image_per_class_warns_once_per_evaluation(
        tmp_path, caplog):
    data = {"source": "synthetic:digits", "image_size": 28, "channels": 1}
    real, labels, kind = features.reference_images(data, 300, seed=0, with_labels=True)
    assert kind == features.TEST_SPLIT
    names = [str(k) for k in range(10)]
    generator = one_image_per_class([real[labels == k][0] for k in range(10)], noise_dim=4)
    # 15 samples: classes 0-4 get 2 each, 5-9 one, too few to score.
    scorer = features.Scorer(pixel_extractor(), real, 15, 4, seed=0, class_names=names,
                             real_labels=labels)
    writer = checkpoints.CheckpointWriter(tf.train.Checkpoint(generator=generator),
                                          workdir.RunDir(str(tmp_path)), chief=True, keep=1)
    quality = evaluations.QualityScore(scorer, writer)
    with caplog.at_level(logging.WARNING, logger="dcgan"):
        first, second = quality(Collapsed(generator), 6), quality(Collapsed(generator), 8)
    assert first == second
    assert first["class_recall"] <= 1 / 20 and first["class_spread"] == 0.0
    assert first["class_precision"] == 1.0 and first["precision"] == 1.0
    # The mixed set hides it: ten different images spread over all ten classes cover much.
    assert first["recall"] > 0.5
    messages = [r.getMessage() for r in caplog.records]
    assert [m.split(":")[0] for m in messages if "collapsed" in m] == ["step 6", "step 8"]
    skips = [m for m in messages if "no per-class metrics" in m]
    assert len(skips) == 1 and "5 of 10 classes" in skips[0]
    assert "9 (1 generated image)" in skips[0]
    assert "conditional_accuracy" not in first
