"""`tfds:NAME[:SPLIT]`: a TensorFlow Datasets data set ('image' feature, 'label' if any)."""

import numpy as np

from dcgan.data import sources
from dcgan.errors import UserError, first_line

TFDS_PROBE_URL = "https://storage.googleapis.com/"
TFDS_PROBE_SECONDS = 10


class Tfds(sources.Source):
    """An explicit SPLIT names the training split; "test" is always tfds' test split."""

    kind = "tfds"
    form = "tfds:NAME[:SPLIT]"

    def read(self, split, image_size, channels, seed, cache_dir):
        del seed, cache_dir
        import tensorflow as tf
        import tensorflow_datasets as tfds  # slow to import; only tfds sources pay for it

        from dcgan.data import fitting

        source = self.text
        name, _, uri_split = self.where.partition(":")
        tfds_split = "test" if split == "test" else (uri_split or "train")
        try:
            try:
                # Data prepared in the tfds data dir loads without any network.
                dataset, info = tfds.load(name, split=tfds_split, download=False,
                                          with_info=True)
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
            image = fitting.fit_tensor(example["image"], image_size, channels)
            label = example["label"] if has_labels else tf.constant(-1, tf.int64)
            return image, tf.cast(label, tf.int64)

        batches = dataset.map(convert, num_parallel_calls=tf.data.AUTOTUNE).batch(1024)
        try:
            parts = list(batches.as_numpy_iterator())
        except tf.errors.OpError as e:
            raise UserError(f"data.source {source}: cannot read the data ({first_line(e)})") \
                from e
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
