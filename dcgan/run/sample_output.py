"""Where `dcgan.sample` puts its images: a grid PNG, one PNG per image in a folder, or an .npz.

Every file is written under a temporary name in its own folder and renamed when complete, so a
sample stopped by Ctrl-C leaves whole files only: the images done so far, never a torn one.

A folder that already holds files is refused unless the user says --overwrite: two runs with
different seeds or counts would otherwise leave a mix nobody can tell apart. With --overwrite
the folder's numbered PNGs (and the temporary files of an interrupted sample) are removed
before the first new image is written, so the folder never mixes two sets; files of any other
name are not ours and stay. A single .png or .npz file is replaced whole, as before.
"""

import contextlib
import os
import re
import signal
import tempfile
import zipfile

import numpy as np

from dcgan import files, visualize
from dcgan.errors import UserError

# A grid is built whole in memory: every tile, then the picture and the PNG encoder's buffers.
# 4096x4096 pixels of tiles is already more than a screen shows at full size, and adds about
# 45 MB to the command's peak for grey images (21,399 of 28x28), three times that for colour;
# bigger sets belong in a folder or an .npz, which are written as the images come.
MAX_GRID_PIXELS = 4096 * 4096
GIF_FRAME_SECONDS = 0.1
# Names of the files a folder output is made of: its images and their temporary names.
_IMAGE_NAME = re.compile(r"\d{6,}\.png")
_TEMPORARY_NAME = files.temporary_names(_IMAGE_NAME.pattern)
# What cannot be in a folder name (a class "T-shirt/top" becomes the folder "T-shirt_top").
_UNSAFE_IN_NAME = re.compile(r"[/\\\x00]")


def output_kind(path, interpolate):
    """'grid', 'npz' or 'folder', from how --output is spelt."""
    lower = path.lower()
    if lower.endswith(".png"):
        return "grid"
    if interpolate:
        raise UserError("--interpolate writes a grid and a GIF; give --output=FILE.png")
    if lower.endswith(".npz"):
        return "npz"
    if os.path.isdir(path) or path.endswith(os.sep) or not os.path.splitext(path)[1]:
        return "folder"
    raise UserError(f"--output={path}: end it in .png (one grid) or .npz (arrays), or name "
                    "a folder (one PNG per image)")


def check_writable(path, is_folder, flag="output"):
    """Fail before any image is made, not after minutes of generating."""
    folder = path if is_folder else (os.path.dirname(path) or ".")
    try:
        if not is_folder and os.path.isdir(path):
            raise IsADirectoryError(21, "it is a folder")
        os.makedirs(folder, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write_test")
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        reason = e.strerror or str(e)
        if isinstance(e, (FileExistsError, NotADirectoryError)) and e.filename:
            reason = f"{e.filename} is a file, not a folder"
        raise UserError(f"cannot write --{flag}={path} ({reason}); choose another path") \
            from None


def check_folder_is_free(folder, overwrite, flag="output", replaced="its numbered PNGs"):
    """Refuses a folder that already holds files, unless --overwrite allows replacing them.

    `flag` names the folder's flag and `replaced` what --overwrite replaces in it.
    """
    if overwrite or not os.path.isdir(folder):
        return
    count = len(os.listdir(folder))
    if count:
        raise UserError(f"--{flag}={folder} already holds {count} files or folders; choose a "
                        f"new or empty folder, or add --overwrite to replace {replaced}")


def check_grid_size(num_images, image_size):
    """Refuses a grid too large to build in memory (see MAX_GRID_PIXELS)."""
    pixels = num_images * image_size * image_size
    if pixels > MAX_GRID_PIXELS:
        most = MAX_GRID_PIXELS // (image_size * image_size)
        raise UserError(
            f"a grid of {num_images} images of {image_size}x{image_size} is too large to build "
            f"in memory (at most {most}); write them to a folder (--output=DIR/) or an .npz "
            "(--output=FILE.npz), which are written as they are made")


@contextlib.contextmanager
def interrupt_between_writes():
    """Makes Ctrl-C stop a long write at the next `check()` call, between two pieces.

    Python raises KeyboardInterrupt wherever it happens to be, and if that is a finaliser
    (imageio closes its encoders in __del__) the interrupt is printed and dropped while the
    sample goes on. Recording the signal and raising it at a chosen point stops every time.

    Yields:
        check(): raises KeyboardInterrupt once SIGINT has arrived.
    """
    received = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))

    def check():
        if received:
            raise KeyboardInterrupt

    try:
        yield check
    finally:
        signal.signal(signal.SIGINT, previous)
    check()  # a signal that arrived after the last check


def class_folders(class_names):
    """A folder name per class: its name, made safe as one path component and unique."""
    names = []
    for k, name in enumerate(class_names):
        safe = _UNSAFE_IN_NAME.sub("_", name).strip()
        if safe in ("", ".", ".."):
            safe = f"class_{k}"
        if safe in names:
            safe = f"{k}_{safe}"
        names.append(safe)
    return names


def write_folder(batches, folder, total, labels=None, class_names=None):
    """One PNG per image, 000000.png, 000001.png, ..., each complete before it gets its name.

    A conditional sample puts image i in the sub-folder of its class, FOLDER/<class>/i.png, so
    the folder reads back as a labelled data set (data.source=folder:FOLDER). A write that
    fails (a full disk) removes every image this call wrote: a set cut short at an arbitrary
    image is no use. Ctrl-C keeps them: they are whole, and the user chose to stop.

    Args:
        batches: (index of the first image, uint8 images) pairs, as `sample.generate` yields.
        folder: the output folder; its numbered PNGs from an earlier sample are removed first.
        total: the number of images, which sets the width of the names.
        labels: the class of each image, with `class_names` the run's names; None: no classes.
    """
    subfolders = [""] if labels is None else class_folders(class_names)
    for sub in subfolders:
        _remove_numbered_pngs(os.path.join(folder, sub))
    width = max(6, len(str(total - 1)))
    written = []
    try:
        with interrupt_between_writes() as check:
            for start, images in batches:
                for i, image in enumerate(images, start):
                    sub = "" if labels is None else subfolders[labels[i]]
                    path = os.path.join(folder, sub, f"{i:0{width}d}.png")
                    files.write_bytes_atomically(path, visualize.png_bytes(image))
                    written.append(path)
                    check()
    except OSError:
        for path in written:
            with contextlib.suppress(OSError):
                os.remove(path)
        raise


def _remove_numbered_pngs(folder):
    if not os.path.isdir(folder):
        return
    for name in os.listdir(folder):
        if _IMAGE_NAME.fullmatch(name) or _TEMPORARY_NAME.fullmatch(name):
            os.remove(os.path.join(folder, name))


def write_npz(path, arrays):
    """An .npz written chunk by chunk, so memory stays flat however many images it holds.

    Args:
        path: the .npz file.
        arrays: (name, shape, dtype, iterable of chunks along the first axis) per array.
    """
    with files.replaced_atomically(path) as tmp:
        # Stored, not deflated, as np.savez does: compressing is slower than writing.
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
            for name, shape, dtype, chunks in arrays:
                with archive.open(f"{name}.npy", "w", force_zip64=True) as f:
                    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                              "fortran_order": False, "shape": tuple(shape)}
                    np.lib.format.write_array_header_1_0(f, header)
                    with interrupt_between_writes() as check:
                        for chunk in chunks:
                            f.write(np.ascontiguousarray(chunk, dtype).tobytes())
                            check()


def write_interpolation(images, pairs, steps, path):
    """Grid (a row per pair) at path, and path.gif going there and back through the steps."""
    visualize.save_grid(images, path, columns=steps)
    frames = images.reshape(pairs, steps, *images.shape[1:])
    gif = os.path.splitext(path)[0] + ".gif"
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for k in range(steps):
            paths.append(os.path.join(tmp, f"{k}.png"))
            visualize.save_grid(frames[:, k], paths[-1])
        visualize.write_gif(paths + paths[-2:0:-1], gif, duration=GIF_FRAME_SECONDS)
    return gif

