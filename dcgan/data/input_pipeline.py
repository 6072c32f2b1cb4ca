"""Data sources -> uint8 image arrays -> an endless tf.data stream of float32 batches.

A source (dcgan/data/sources: tfds, idx, folder, npz, synthetic) reads a split; every source
ends here as uint8 (N, S, S, C), fitted by dcgan/data/fitting (centre square, antialiased
resize, grey or RGB, alpha composited onto white).
"""

import logging

import numpy as np
import tensorflow as tf

from dcgan import config_check
from dcgan.data import sources
from dcgan.data.fitting import fit_array
from dcgan.data.sources import NoLabels
from dcgan.errors import UserError
from dcgan.pixels import to_model_range

log = logging.getLogger("dcgan")

__all__ = ["NoLabels", "load_images", "load_labelled_images", "make_dataset", "select_images"]


def load_images(source, image_size, channels, split="train", seed=0, cache_dir=""):
    """Loads a whole data source into memory.

    Args:
        source: a sources.Source, or a `data.source` string (parsed here).
        image_size: side S of the square images returned.
        channels: 1 (grey) or 3 (RGB).
        split: "train" or "test"; a source without a test split (Source.has_test_split)
            returns its training images again for "test".
        seed: only used by sources made on the spot; equal seeds give equal images.
        cache_dir: for `folder:` sources, a folder caching the decoded images ('' for none;
            see dcgan/data/image_folder.py).

    Returns:
        uint8 images (N, image_size, image_size, channels); load_labelled_images gives
        their labels too.

    Raises:
        UserError: for a missing or unreadable path, a data set that cannot be loaded, or a
            source with no images. The source's form, image_size and channels are
            config_check's to check.
    """
    return _load(source, image_size, channels, split, seed, False, cache_dir)[0]


def load_labelled_images(source, image_size, channels, split="train", seed=0, cache_dir=""):
    """load_images with labels, and the class names the source itself gives (tfds label
    names, folder names) or None: (images, int64 labels, names).

    Raises:
        NoLabels: the source has no labels.
        UserError: as load_images, or labels that do not fit the images (negative, too few).
    """
    return _load(source, image_size, channels, split, seed, True, cache_dir)


def _load(source, image_size, channels, split, seed, with_labels, cache_dir=""):
    if split not in ("train", "test"):
        raise UserError(f"split must be 'train' or 'test', not {split!r}")
    source = sources.parse(source)
    image_size = int(image_size)
    images, labels, names = source.read(split, image_size, channels, seed, cache_dir)
    if len(images) == 0:
        raise UserError(f"data.source {source}: holds no images")
    images = fit_array(images, image_size, channels)
    if not with_labels:
        return images, None, None
    if labels is None:
        raise NoLabels(f"data.source {source}: has no labels; {source.no_labels_hint}")
    if callable(labels):  # loaders defer reading labels that are often not wanted
        labels = labels()
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    if len(labels) != len(images):
        raise UserError(
            f"data.source {source}: {len(images)} images but {len(labels)} labels"
        )
    if len(labels) and labels.min() < 0:
        raise UserError(f"data.source {source}: negative label {labels.min()}; labels must "
                        "be class numbers 0..K-1")
    return images, labels, names


def select_images(images, seed, max_images=0, holdout=0, labels=None):
    """Splits a source's images into (training, held out), by a shuffle drawn from `seed`.

    The first `holdout` images of the shuffle are held out (never trained on); the training
    images are the next `max_images` (0: all the rest): max_images counts training images,
    after the hold-out. When fewer are left than max_images asks, a warning says how many
    are trained on. With both 0 the images are returned as they are, in the source's order.
    Labels, if given, follow their images.

    Returns:
        (training images, their labels, held-out images, their labels); labels None if
        `labels` is.

    Raises:
        UserError: the held-out images leave no training images.
    """
    if not max_images and not holdout:
        return images, labels, images[:0], None if labels is None else labels[:0]
    if holdout >= len(images):
        raise UserError(f"data.holdout={holdout} leaves no training images (the source has "
                        f"{len(images)}); lower it")
    left = len(images) - holdout
    if max_images > left:
        log.warning("data.max_images=%d asks for more training images than there are: the "
                    "source has %d, data.holdout=%d holds %d out, training on the %d left",
                    max_images, len(images), holdout, holdout, left)
    order = np.random.default_rng(seed).permutation(len(images))
    held_out = np.sort(order[:holdout])
    # Sorted positions: the data order is make_dataset's to draw, from the seed.
    training = np.sort(order[holdout:holdout + max_images] if max_images else order[holdout:])
    if labels is None:
        return images[training], None, images[held_out], None
    return images[training], labels[training], images[held_out], labels[held_out]


def make_dataset(images, batch_size, seed, start_step=0, labels=None, mirror_seed=None):
    """An endless stream of shuffled batches whose order is a function of (seed, step).

    Every epoch is a fresh permutation of the images, drawn from (seed, epoch) by
    `tf.random.experimental.index_shuffle`; each epoch's last N % batch_size images (a
    different few each time) are left out so every batch is full. Batch k is the same
    whether the stream starts at 0 or at start_step <= k, so a resumed run continues the
    exact sequence without saving any iterator state.

    Args:
        images: uint8 array (N, H, W, C).
        batch_size: images per batch (the global batch under a distribution strategy).
        seed: integer seed of the order.
        start_step: index of the first batch produced.
        labels: optional int labels (N,); each batch then comes with its images' labels.
        mirror_seed: when given, flip each image of a batch left to right with probability
            1/2, drawn from (mirror_seed, step), so a resumed run flips the same images as an
            uninterrupted one.

    Returns:
        tf.data.Dataset of float32 (batch_size, H, W, C) in [-1, 1], or of (those images,
        int32 labels (batch_size,)) when `labels` is given.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.dtype != np.uint8:
        raise ValueError(f"expected uint8 images (N, H, W, C), got {images.dtype} {images.shape}")
    num_images = len(images)
    problem = config_check.batch_size_problem(batch_size, training_images=num_images)
    if problem:
        raise UserError(problem)
    if start_step < 0:
        raise ValueError(f"start_step must be >= 0, not {start_step}")
    steps_per_epoch = num_images // batch_size
    # An eager tensor the map function captures: tf.data passes it to the function as an
    # input rather than copying it into the dataset graph as a constant.
    pixels = tf.convert_to_tensor(images)
    classes = None if labels is None else tf.convert_to_tensor(np.asarray(labels, np.int32))
    seed = tf.constant(seed, tf.int64)
    max_index = tf.constant(num_images - 1, tf.int64)
    offsets = tf.range(batch_size, dtype=tf.int64)

    def batch_at(step):
        epoch = step // steps_per_epoch
        positions = (step % steps_per_epoch) * batch_size + offsets
        indices = tf.random.experimental.index_shuffle(
            positions, seed=tf.stack([seed, epoch]), max_index=max_index
        )
        batch = tf.gather(pixels, indices)
        if mirror_seed is not None:
            batch = mirrored(batch, mirror_seed, step)
        batch = to_model_range(batch)
        return batch if classes is None else (batch, tf.gather(classes, indices))

    options = tf.data.Options()
    options.deterministic = True
    return (
        tf.data.Dataset.range(start_step, 2**62)
        .map(batch_at, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .prefetch(tf.data.AUTOTUNE)
        .with_options(options)
    )


def mirrored(batch, seed, step):
    """`batch` (B, H, W, C) with about half of its images flipped left to right, which ones a
    function of (seed, step) alone."""
    draw = tf.stack([tf.constant(seed, tf.int64), tf.cast(step, tf.int64)])
    flip = tf.random.stateless_uniform([tf.shape(batch)[0]], draw) < 0.5
    return tf.where(flip[:, None, None, None], tf.reverse(batch, axis=[2]), batch)

