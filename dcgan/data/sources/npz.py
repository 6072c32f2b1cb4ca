"""`npz:FILE`: Keras' mnist.npz layout (x_train, y_train, x_test, y_test), or one array of
images (key 'images' or the only array; 'labels' if present)."""

import os
import zipfile

import numpy as np

from dcgan.data import sources
from dcgan.errors import UserError, first_line
from dcgan.pixels import to_uint8


class Npz(sources.OnDisk):
    """A single array of images has no held-out part: its "test" split is the training images
    again."""

    kind = "npz"
    form = "npz:FILE"

    def _keys(self):
        """The archive's array names, read from its index without loading them; None when it
        cannot be read (loading says why)."""
        if not hasattr(self, "_names"):
            try:
                with zipfile.ZipFile(self.path) as archive:
                    self._names = [n.removesuffix(".npy") for n in archive.namelist()]
            except (OSError, zipfile.BadZipFile):
                self._names = None
        return self._names

    def has_test_split(self):
        keys = self._keys()
        return keys is None or "x_test" in keys

    def has_labels(self):
        keys = self._keys()
        if keys is None:
            return None
        return ("y_train" if "x_train" in keys else "labels") in keys

    def read(self, split, image_size, channels, seed, cache_dir):
        del image_size, channels, seed, cache_dir
        path, source = self.path, self.text
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
