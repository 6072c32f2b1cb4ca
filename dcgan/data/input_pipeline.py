"""Data sources -> uint8 image arrays -> an endless tf.data stream of float32 batches.

`data.source` is a URI-like string:

  tfds:NAME[:SPLIT]   a TensorFlow Datasets data set ('image' feature, 'label' if any)
  idx:DIR             MNIST-format files: *train-images-idx3-ubyte[.gz], *t10k-... for test
  folder:DIR          every png/jpg/jpeg/bmp/gif/webp file below DIR, links followed, any
                      mode (unreadable files skipped with a warning: see
                      dcgan/data/image_folder.py); when every image lies in a sub-folder,
                      each immediate sub-folder is a class
  npz:FILE            Keras' mnist.npz layout (x_train, y_train, x_test, y_test), or one
                      array of images (key 'images' or the only array; 'labels' if present)
  synthetic:digits    font digits made on the spot (see dcgan/digits.py); needs no files.
                      synthetic:digits:N makes N training images instead of 10,000.

Every source ends as uint8 (N, S, S, C): images are center-cropped to a square, resized
with an antialiased bilinear filter when the size differs, and turned grey (ITU-R 601
luma) or RGB (grey repeated) as `channels` asks; images with alpha are composited onto
white first.
"""

import functools
import logging
import os

import numpy as np
import tensorflow as tf

from dcgan.data import digits, image_folder
from dcgan.data.idx_files import read_idx
from dcgan.errors import UserError, first_line
from dcgan.pixels import to_model_range, to_uint8

log = logging.getLogger("dcgan")

# Transparent pixels are composited onto white: the colour under them is often noise.
ALPHA_BACKGROUND = 255.0
SYNTHETIC_TRAIN_SIZE = 10_000
SYNTHETIC_TEST_SIZE = 2_000
_LUMA = (0.2989, 0.5870, 0.1140)
_CHUNK = 4096  # images converted per TensorFlow call, to bound float32 temporaries
TFDS_PROBE_URL = "https://storage.googleapis.com/"
TFDS_PROBE_SECONDS = 10


class NoLabels(UserError):
    """Labels were asked of a source that has none."""


def load_images(source, image_size, channels, split="train", seed=0, cache_dir=""):
    """Loads a whole data source into memory.

    Args:
        source: a `data.source` string (see the module docstring).
        image_size: side S of the square images returned.
        channels: 1 (grey) or 3 (RGB).
        split: "train" or "test". `tfds:` reads the "test" split for "test" (an explicit
            SPLIT in the URI only names the training split); `idx:` reads the t10k files;
            `npz:` reads x_test/y_test; `synthetic:digits` makes 2,000 images from a
            separate seed stream. `folder:` and single-array `npz:` files have no held-out
            part, so "test" returns the training images again.
        seed: only used by `synthetic:digits`; equal seeds give equal images.
        cache_dir: for `folder:` sources, a folder caching the decoded images ('' for none;
            see dcgan/image_folder.py).

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
    image_size = int(image_size)
    # config_check has refused an unknown scheme; KeyError here is a caller's mistake.
    scheme, _, rest = source.partition(":")
    loader = _LOADERS[scheme]
    if scheme == "folder" and cache_dir:
        loader = functools.partial(_load_folder, cache_dir=cache_dir)
    images, labels, names = loader(rest, source, split, image_size, channels, seed)
    if len(images) == 0:
        raise UserError(f"data.source {source}: holds no images")
    images = _fit_array(images, image_size, channels)
    if not with_labels:
        return images, None, None
    if labels is None:
        hint = ("put each class's images in a sub-folder of its own" if scheme == "folder"
                else "use a tfds, idx, npz (y_train or labels) or folder-of-classes source")
        raise NoLabels(f"data.source {source}: has no labels; {hint}")
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
    if batch_size > num_images:
        raise UserError(
            f"training.batch_size {batch_size} is more than the {num_images} training images; "
            "lower it or use more data"
        )
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


def _load_tfds(rest, source, split, image_size, channels, seed):
    del seed
    import tensorflow_datasets as tfds  # slow to import; only tfds sources pay for it

    name, _, uri_split = rest.partition(":")
    tfds_split = "test" if split == "test" else (uri_split or "train")
    try:
        try:
            # Data prepared in the tfds data dir loads without any network.
            dataset, info = tfds.load(name, split=tfds_split, download=False, with_info=True)
        except AssertionError:  # what tfds raises for a data set not prepared yet
            _check_tfds_can_download(name, tfds.core.constants.DATA_DIR)
            dataset, info = tfds.load(name, split=tfds_split, with_info=True)
    except UserError:
        raise
    except Exception as e:  # network, unknown name, unknown split, missing files, ...
        raise UserError(
            f"cannot load tfds dataset {name!r} (split {tfds_split!r}): {first_line(e)}; "
            f"download it first (tfds build {name} where there is network) "
            f"or use data.source=idx:DIR"
        ) from e
    spec = dataset.element_spec
    if not isinstance(spec, dict) or "image" not in spec:
        features = list(spec) if isinstance(spec, dict) else spec
        raise UserError(f"data.source {source}: no 'image' feature (has {features})")
    if spec["image"].shape.rank != 3 or spec["image"].shape[-1] is None:
        raise UserError(f"data.source {source}: 'image' is not (H, W, C): {spec['image']}")
    has_labels = "label" in spec
    names = getattr(info.features["label"], "names", None) if has_labels else None

    def convert(example):
        image = _fit_tensor(example["image"], image_size, channels)
        label = example["label"] if has_labels else tf.constant(-1, tf.int64)
        return image, tf.cast(label, tf.int64)

    batches = dataset.map(convert, num_parallel_calls=tf.data.AUTOTUNE).batch(1024)
    try:
        parts = list(batches.as_numpy_iterator())
    except tf.errors.OpError as e:
        raise UserError(f"data.source {source}: cannot read the data ({first_line(e)})") from e
    if not parts:
        return np.zeros((0, image_size, image_size, channels), np.uint8), None, None
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts]) if has_labels else None
    return images, labels, names


def _check_tfds_can_download(name, data_dir):
    """Fails in seconds when a tfds download cannot start, instead of minutes of retries.

    tfds retries each file ten times with back-off, about three and a half minutes offline,
    before it reports the network. One request with a short timeout to the host that serves
    tfds' own copies (and MNIST's files) tells the same thing at once; it goes through the same
    proxy settings (HTTPS_PROXY) as the download would.
    """
    import requests  # a dependency of tensorflow_datasets

    try:
        requests.head(TFDS_PROBE_URL, timeout=TFDS_PROBE_SECONDS)
    except requests.RequestException as e:
        raise UserError(
            f"data.source=tfds:{name}: not prepared in {data_dir} and no network to download it "
            f"({type(e).__name__}); use an offline source instead: idx:DIR (MNIST-style IDX "
            "files), folder:DIR (image files) or npz:FILE, or run `tfds build "
            f"{name}` where there is network") from None


def _load_idx(directory, source, split, image_size, channels, seed):
    del image_size, channels, seed
    if not os.path.isdir(directory):
        raise UserError(
            f"data.source {source}: no such directory; point it at the folder holding "
            f"train-images-idx3-ubyte[.gz] and t10k-images-idx3-ubyte[.gz]"
        )
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(_find_idx(directory, source, f"{prefix}-images", "idx3-ubyte"))
    if images.ndim != 3 or images.dtype != np.uint8:
        raise UserError(f"data.source {source}: expected uint8 (N, H, W) images, got "
                        f"{images.dtype} {images.shape}")

    def labels():  # read only on demand: some image-only folders have no label files
        return read_idx(_find_idx(directory, source, f"{prefix}-labels", "idx1-ubyte"))

    return images[..., None], labels, None


def _find_idx(directory, source, stem, kind):
    """Finds one *STEM[-.]KIND[.gz] file in directory, preferring the uncompressed copy."""
    names = sorted(
        n for n in os.listdir(directory)
        if stem in n and kind in n and n.endswith((kind, kind + ".gz")) and not n.startswith(".")
    )
    distinct = sorted({n.removesuffix(".gz") for n in names})
    if not distinct:
        raise UserError(f"data.source {source}: no *{stem}-{kind}[.gz] file in {directory}")
    if len(distinct) > 1:
        raise UserError(f"data.source {source}: several {stem} files ({', '.join(names)}); "
                        f"keep one data set per directory")
    name = distinct[0] if distinct[0] in names else distinct[0] + ".gz"
    return os.path.join(directory, name)


def _load_folder(rest, source, split, image_size, channels, seed, cache_dir=""):
    del rest, split, seed  # a folder has no held-out part: "test" is the training set again
    directory = image_folder.folder_of(source)

    def decode_and_fit(paths):
        arrays, skipped = image_folder.decode_all(paths, source, image_size)
        images = np.empty((len(arrays), image_size, image_size, channels), np.uint8)
        for positions, stacked in image_folder.group_by_shape(arrays).values():
            images[positions] = _fit_array(stacked, image_size, channels)
        return images, skipped

    paths = image_folder.list_images(directory, source)
    if cache_dir:
        images, skipped = image_folder.cached_images(
            directory, paths, source, image_size, channels, os.path.expanduser(cache_dir),
            decode_and_fit)
    else:
        images, skipped = decode_and_fit(paths)
    names, classes, strays = image_folder.class_folders(directory, paths)
    if len(strays) == len(paths):
        return images, None, None  # no sub-folders at all: a folder without classes

    def labels():  # only a conditional run asks; an unconditional one takes any tree
        if strays:
            raise NoLabels(
                f"data.source {source}: {len(strays)} image file(s) lie directly in "
                f"{directory}, outside the class sub-folders ({image_folder.named(strays)}); "
                "move them into a class folder or out of the tree")
        unreadable = set(skipped)
        kept = [k for path, k in zip(paths, classes, strict=True) if path not in unreadable]
        empty = sorted(set(names) - {names[k] for k in kept})
        if empty:
            raise UserError(f"data.source {source}: the class folder(s) {', '.join(empty)} hold "
                            "no readable image; fix their files or remove the folder(s)")
        return np.array(kept)

    return images, labels, names


def _load_npz(path, source, split, image_size, channels, seed):
    del image_size, channels, seed
    if not os.path.isfile(path):
        raise UserError(f"data.source {source}: no such file; point it at an .npz file")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except Exception as e:  # zipfile, pickle and format errors all mean "not a good .npz"
        raise UserError(f"{path}: cannot read .npz file ({first_line(e)})") from e
    if "x_train" in arrays:
        x_key, y_key = ("x_train", "y_train") if split == "train" else ("x_test", "y_test")
        if x_key not in arrays:
            raise UserError(f"{path}: has x_train but no {x_key} array")
    elif "images" in arrays or len(arrays) == 1:
        # A single array of images has no held-out part: "test" returns it again.
        x_key = "images" if "images" in arrays else next(iter(arrays))
        y_key = "labels"
    else:
        raise UserError(f"{path}: cannot tell which array holds the images (has "
                        f"{', '.join(arrays)}); name it 'images' or use x_train/y_train")
    return _uint8_images(arrays[x_key], f"{path}[{x_key}]"), arrays.get(y_key), None


def _uint8_images(array, where):
    """(N, H, W[, C]) integers in [0, 255] or floats in [0, 1] or [-1, 1] -> uint8 NHWC.

    Floats whose minimum is >= 0 are read as [0, 1], other floats as [-1, 1].
    """
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4 or array.shape[-1] not in (1, 2, 3, 4):
        raise UserError(f"{where}: expected images (N, H, W) or (N, H, W, C), got {array.shape}")
    if array.dtype == np.uint8 or array.size == 0:
        return array.astype(np.uint8)
    low, high = array.min(), array.max()
    if np.issubdtype(array.dtype, np.integer) and low >= 0 and high <= 255:
        return array.astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating) and np.isfinite([low, high]).all():
        if 0 <= low and high <= 1:
            return np.round(array * 255.0).astype(np.uint8)
        if -1 <= low and high <= 1:
            return to_uint8(array)
    raise UserError(f"{where}: {array.dtype} values in [{low}, {high}]; expected uint8, "
                    f"integers in [0, 255] or floats in [0, 1] or [-1, 1]")


def _load_synthetic(rest, source, split, image_size, channels, seed):
    del image_size, channels
    kind, _, count = rest.partition(":")
    if kind != "digits" or (count and not (count.isdigit() and int(count) > 0)):
        raise UserError(f"data.source {source}: use synthetic:digits or synthetic:digits:N")
    if split == "train":
        num_images = int(count) if count else SYNTHETIC_TRAIN_SIZE
    else:
        num_images = SYNTHETIC_TEST_SIZE
    # Distinct seed streams keep the test images apart from the training images.
    images, labels = digits.synthetic_digits(num_images,
                                             (seed % 2**64, 0 if split == "train" else 1))
    return images, labels, None


_LOADERS = {
    "tfds": _load_tfds,
    "idx": _load_idx,
    "folder": _load_folder,
    "npz": _load_npz,
    "synthetic": _load_synthetic,
}


def _fit_tensor(image, size, channels):
    """Center-crops one uint8 (H, W, C) tensor to a square, resizes it and sets channels.

    Works inside tf.data maps on images of any size; C must be static.
    """
    have = image.shape[-1]
    if have in (2, 4):
        alpha = tf.cast(image[..., have - 1:], tf.float32) / 255.0
        image = tf.cast(image[..., : have - 1], tf.float32) * alpha + \
            ALPHA_BACKGROUND * (1.0 - alpha)
        have -= 1
    height, width = image.shape[-3], image.shape[-2]
    if height is None or width is None:  # decoded files: sizes known only at run time
        height, width = tf.shape(image)[-3], tf.shape(image)[-2]
        side = tf.minimum(height, width)
    else:
        side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    image = tf.cast(image[..., top : top + side, left : left + side, :], tf.float32)
    if have == 3 and channels == 1:
        image = tf.reduce_sum(image * tf.constant(_LUMA), axis=-1, keepdims=True)
    # Resizing to the same size is exact (the filter then weighs only the pixel itself).
    # Antialiasing only matters when shrinking, and its op is 5x slower, so images of
    # known size that grow skip it.
    antialias = not isinstance(side, int) or side > size
    image = tf.image.resize(image, (size, size), method="bilinear", antialias=antialias)
    if have == 1 and channels == 3:
        image = tf.repeat(image, 3, axis=-1)
    return tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)


def _fit_array(images, size, channels):
    """_fit_tensor for a whole uint8 (N, H, W, C) array, in chunks; a no-op if it fits."""
    if images.shape[1:] == (size, size, channels):
        return images
    if images.shape[1:3] == (size, size) and images.shape[-1] == 1 and channels == 3:
        return np.repeat(images, 3, axis=-1)
    return np.concatenate([
        _fit_tensor(tf.constant(images[i : i + _CHUNK]), size, channels).numpy()
        for i in range(0, len(images), _CHUNK)
    ])
