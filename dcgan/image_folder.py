"""A folder of image files -> uint8 arrays, whatever the files' modes; unreadable files skipped.

Pictures gathered by hand come in every PNG mode: RGB, RGBA, palette (with or without a
transparent entry), grey with or without alpha, 16 bits per channel, CMYK JPEGs. Each file is
decoded with Pillow into one of four layouts, L, LA, RGB or RGBA, 8 bits per channel; alpha is
kept so that input_pipeline composites it onto a background rather than dropping it (the
colour under a transparent pixel is often noise). A file Pillow cannot read is skipped; one
warning counts them and names the first few, and only a folder with nothing readable fails.
"""

import concurrent.futures
import logging
import os

import numpy as np

from dcgan.errors import UserError

log = logging.getLogger("dcgan")

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
# How many unreadable files the warning names; it counts all of them.
NAMED_FAILURES = 3
# Decoding threads: Pillow releases the GIL while it decodes.
_DECODE_THREADS = 4


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
    if skipped:
        named = ", ".join(skipped[:NAMED_FAILURES])
        more = f" and {len(skipped) - NAMED_FAILURES} more" if len(skipped) > NAMED_FAILURES else ""
        log.warning("data.source %s: skipped %d unreadable file(s) of %d: %s%s", source,
                    len(skipped), len(paths), named, more)
    return arrays, skipped


def group_by_shape(arrays):
    """{shape: (positions, stacked uint8 array)}: equal shapes are fitted together, faster."""
    groups = {}
    for position, array in enumerate(arrays):
        groups.setdefault(array.shape, []).append(position)
    return {shape: (positions, np.stack([arrays[i] for i in positions]))
            for shape, positions in groups.items()}
