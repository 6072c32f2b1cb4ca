"""`idx:DIR`: MNIST-format files, *train-images-idx3-ubyte[.gz] and *t10k-... for the test split."""

import os

import numpy as np

from dcgan.data import sources
from dcgan.data.idx_files import read_idx
from dcgan.errors import UserError


class Idx(sources.OnDisk):
    kind = "idx"
    form = "idx:DIR"
    is_folder = True

    def has_labels(self):
        return os.path.isdir(self.path) and bool(_candidates(self.path, "train-labels",
                                                             "idx1-ubyte"))

    def read(self, split, image_size, channels, seed, cache_dir):
        del image_size, channels, seed, cache_dir
        directory, source = self.path, self.text
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


def _candidates(directory, stem, kind):
    return sorted(
        n for n in os.listdir(directory)
        if stem in n and kind in n and n.endswith((kind, kind + ".gz")) and not n.startswith(".")
    )


def _find_idx(directory, source, stem, kind):
    """Finds one *STEM[-.]KIND[.gz] file in directory, preferring the uncompressed copy."""
    names = _candidates(directory, stem, kind)
    distinct = sorted({n.removesuffix(".gz") for n in names})
    if not distinct:
        raise UserError(f"data.source {source}: no *{stem}-{kind}[.gz] file in {directory}")
    if len(distinct) > 1:
        raise UserError(f"data.source {source}: several {stem} files ({', '.join(names)}); "
                        f"keep one data set per directory")
    name = distinct[0] if distinct[0] in names else distinct[0] + ".gz"
    return os.path.join(directory, name)
