"""A folder of image files -> uint8 arrays, whatever the files' modes; unreadable files skipped.

Pictures gathered by hand come in every PNG mode: RGB, RGBA, palette (with or without a
transparent entry), grey with or without alpha, 16 bits per channel, CMYK JPEGs. Each file is
decoded with Pillow into one of four layouts, L, LA, RGB or RGBA, 8 bits per channel; alpha is
kept so that input_pipeline composites it onto a background rather than dropping it (the
colour under a transparent pixel is often noise). A file Pillow cannot read is skipped; one
warning counts them and names the first few, and only a folder with nothing readable fails.

Decoding thousands of files takes minutes; with a cache folder the fitted images are written
once to a .npy file there and read back memory-mapped by later runs and resumes. The cache of a
folder is rebuilt when any file of it is added, removed or changed, or the size or channels
asked for differ (each size has its own file).
"""

import concurrent.futures
import hashlib
import json
import logging
import os

import numpy as np

from dcgan.errors import UserError
from dcgan.files import replaced_atomically, write_json_atomically

log = logging.getLogger("dcgan")

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
# How many unreadable files the warning names; it counts all of them.
NAMED_FAILURES = 3
# Decoding threads: Pillow releases the GIL while it decodes.
_DECODE_THREADS = 4
# Part of every cache key: a change to how images are decoded or fitted must bump it.
CACHE_VERSION = 1


def list_images(directory, source):
    """Sorted paths of the image files below `directory` (hidden files and folders skipped)."""
    if not os.path.isdir(directory):
        raise UserError(f"data.source {source}: no such directory; point it at a folder of "
                        f"{'/'.join(e[1:] for e in IMAGE_EXTENSIONS)} images")
    paths = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        # Hidden files include macOS "._name.png" resource forks, which are not images.
        paths += [os.path.join(root, f) for f in files
                  if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith(".")]
    paths.sort()  # os.walk's order depends on the file system; the data order must not
    if not paths:
        raise UserError(f"data.source {source}: no image files "
                        f"({', '.join(IMAGE_EXTENSIONS)}) in {directory} or below")
    return paths


def decode(path):
    """One image file -> uint8 (H, W, C) with C = 1 (L), 2 (LA), 3 (RGB) or 4 (RGBA).

    The first frame of an animation is used. Raises whatever Pillow raises for a file it
    cannot read.
    """
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        mode = image.mode
        if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
            # 16-bit (or 32-bit) grey: scale the full range down to 8 bits.
            array = np.asarray(image, dtype=np.float64)
            top = 65535.0 if mode.startswith("I;16") or array.max() > 255 else 255.0
            return np.round(np.clip(array / top, 0, 1) * 255).astype(np.uint8)[..., None]
        if mode == "P" or mode == "PA":
            # A palette may mark a transparent entry; RGBA keeps it.
            transparent = "transparency" in image.info or mode == "PA"
            image = image.convert("RGBA" if transparent else "RGB")
        elif mode == "1":
            image = image.convert("L")
        elif mode not in ("L", "LA", "RGB", "RGBA"):
            image = image.convert("RGBA" if "A" in mode else "RGB")  # CMYK, YCbCr, La, RGBa...
        array = np.asarray(image, dtype=np.uint8)
    return array[..., None] if array.ndim == 2 else array


def decode_all(paths, source):
    """Decodes every path; returns (arrays, skipped paths). Logs one warning for the skipped.

    Raises:
        UserError: no file could be read.
    """
    def attempt(path):
        try:
            return decode(path)
        except Exception:  # Pillow raises many kinds (OSError, SyntaxError, ValueError, ...)
            return None

    with concurrent.futures.ThreadPoolExecutor(_DECODE_THREADS) as pool:
        decoded = list(pool.map(attempt, paths))
    skipped = [path for path, array in zip(paths, decoded, strict=True) if array is None]
    arrays = [array for array in decoded if array is not None]
    if not arrays:
        raise UserError(f"data.source {source}: none of the {len(paths)} image files can be "
                        f"read (e.g. {paths[0]}); check they are images")
    warn_skipped(source, skipped, len(paths))
    return arrays, skipped


def warn_skipped(source, skipped, total):
    if not skipped:
        return
    named = ", ".join(skipped[:NAMED_FAILURES])
    more = f" and {len(skipped) - NAMED_FAILURES} more" if len(skipped) > NAMED_FAILURES else ""
    log.warning("data.source %s: skipped %d unreadable file(s) of %d: %s%s", source,
                len(skipped), total, named, more)


def group_by_shape(arrays):
    """{shape: (positions, stacked uint8 array)}: equal shapes are fitted together, faster."""
    groups = {}
    for position, array in enumerate(arrays):
        groups.setdefault(array.shape, []).append(position)
    return {shape: (positions, np.stack([arrays[i] for i in positions]))
            for shape, positions in groups.items()}


def _fingerprint(paths):
    """Changes when a file is added, removed, rewritten or touched."""
    digest = hashlib.sha256()
    for path in paths:
        stat = os.stat(path)
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def cache_path(cache_dir, directory, image_size, channels):
    """The .npy file caching `directory` at this size (its sidecar: the same name, .json)."""
    key = f"{CACHE_VERSION}|{os.path.abspath(directory)}|{image_size}|{channels}"
    name = os.path.basename(os.path.normpath(directory)) or "folder"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return os.path.join(cache_dir, f"{name}-{image_size}px{channels}-{digest}.npy")


def cached_images(directory, source, image_size, channels, cache_dir, build):
    """The folder's fitted images from the cache, built first if missing or out of date.

    Args:
        directory, source: the folder and the data.source naming it (for messages).
        image_size, channels: what the images were fitted to (part of the cache's name).
        cache_dir: folder of the cache files; created if needed.
        build: paths -> (uint8 (N, S, S, C) images, skipped paths), run on a cache miss.

    Returns:
        (images, a read-only memory-mapped uint8 array; the paths skipped as unreadable).

    Raises:
        UserError: the cache cannot be written.
    """
    paths = list_images(directory, source)
    path = cache_path(cache_dir, directory, image_size, channels)
    sidecar = path[:-len(".npy")] + ".json"
    stamp = _fingerprint(paths)
    try:
        with open(sidecar) as f:
            meta = json.load(f)
        if meta.get("fingerprint") == stamp:
            images = np.load(path, mmap_mode="r")
            log.info("data.source %s: %d images read from the cache %s", source, len(images),
                     path)
            warn_skipped(source, meta.get("skipped", []), len(paths))
            return images, meta.get("skipped", [])
    except (OSError, ValueError, AttributeError):
        pass  # no cache yet, or a damaged one: build it again
    images, skipped = build(paths)
    try:
        # The data first: a sidecar never vouches for a missing file.
        with replaced_atomically(path) as tmp, open(tmp, "wb") as f:
            np.save(f, np.ascontiguousarray(images))
        write_json_atomically(sidecar, {"source": source, "fingerprint": stamp,
                                        "count": len(images), "skipped": skipped})
    except OSError as e:
        raise UserError(f"cannot write the image cache {path} ({e.strerror or e}); set "
                        "data.cache_dir to a writable folder, or '' to turn the cache off") \
            from None
    log.info("data.source %s: %d images cached in %s", source, len(images), path)
    return np.load(path, mmap_mode="r"), skipped
