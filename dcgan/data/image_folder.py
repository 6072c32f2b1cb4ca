"""A folder of image files -> uint8 arrays, whatever the files' modes; unreadable files skipped.

Pictures gathered by hand come in every PNG mode: RGB, RGBA, palette (with or without a
transparent entry), grey with or without alpha, 16 bits per channel, CMYK JPEGs. Each file is
decoded with Pillow into one of four layouts, L, LA, RGB or RGBA, 8 bits per channel; alpha is
kept so that input_pipeline composites it onto a background rather than dropping it (the
colour under a transparent pixel is often noise). A file Pillow cannot read is skipped; one
warning counts them and names the first few, and only a folder with nothing readable fails.

A phone's JPEG is stored sideways with an EXIF orientation tag; it is turned upright first.
Large pictures are decoded reduced: a JPEG at 1/2, 1/4 or 1/8 of its size by the decoder itself,
any other file reduced by whole-pixel boxes as soon as it is read, so each image held in memory
is at most (4 x image_size)^2 pixels, whatever the camera made.

Files of other kinds (.svg, .tiff, ...) are skipped and counted in one line; decoding a few
hundred files shows its progress.

The folder is listed with its symbolic links followed, files and sub-folders alike; a file
reached twice (a link to a file already listed) counts once, so it can never be both trained on
and held out. A link to nothing is skipped with one warning, and so is a named pipe, socket or
device with an image's name: reading a pipe would wait for a writer forever.

Decoding thousands of files takes minutes; with a cache folder the fitted images are written
once to a .npy file there and read back memory-mapped by later runs and resumes. The cache of a
folder is rebuilt when any file of it is added, removed or changed, or the size or channels
asked for differ (each size has its own file), or its own content no longer matches the SHA-256
recorded when it was written. A current cache is read from a folder that cannot be written. A
cache write that fails (a full disk) or is killed leaves no partial file behind: the next build
removes those of processes gone.
"""

import collections
import concurrent.futures
import glob
import hashlib
import json
import logging
import os
import shutil
import stat as file_mode

import numpy as np
from PIL import Image, ImageOps

from dcgan import progress
from dcgan.errors import UserError
from dcgan.files import replaced_atomically, write_json_atomically

log = logging.getLogger("dcgan")

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
# How many unreadable files the warning names; it counts all of them.
NAMED_FAILURES = 3
# Decoding threads: Pillow releases the GIL while it decodes.
_DECODE_THREADS = 4
# Folders of at least this many files show the decoding's progress (a bar, or a log line every
# tenth of the way); fewer decode in about a second.
PROGRESS_FROM = 100
# Part of every cache key: a change to how images are decoded or fitted must bump it.
CACHE_VERSION = 2
# Pictures are decoded reduced to no less than this many times the size trained on, so the
# final antialiased resize still has the detail to average.
DECODE_MARGIN = 2
# Pillow refuses pictures over 179 megapixels as a "decompression bomb" (and warns over 89):
# a guard for servers decoding strangers' files. These are the user's own, decoded reduced
# where the format allows, so the limit is on what decoding actually holds: 1 GB as RGBA.
MAX_DECODED_PIXELS = 2**28
Image.MAX_IMAGE_PIXELS = None


class TooLarge(ValueError):
    """A file that would decode to more than MAX_DECODED_PIXELS."""


Listing = collections.namedtuple("Listing", "paths duplicates broken special folders others")


def scan(directory, source):
    """Lists the folder without logging: a Listing of the image paths, the duplicates (a file
    reached again by a link or a hard link), the broken links, the paths that are not regular
    files (named pipes, sockets, devices), the real paths of the folders read and the other
    files (of kinds not read: .svg, .tiff, .txt...).

    Paths are sorted; each file counts once, under the first path that reaches it. A link to
    a folder that holds `directory` (`..`, a loop) is not followed: it would list the folder's
    neighbours, run folders among them.

    Raises:
        UserError: `directory` is not a folder.
    """
    if not os.path.isdir(directory):
        raise UserError(f"data.source {source}: no such directory; point it at a folder of "
                        f"{'/'.join(e[1:] for e in IMAGE_EXTENSIONS)} images")
    top = os.path.realpath(directory)
    candidates, others, walked = [], [], set()
    for root, dirs, files in os.walk(directory, followlinks=True):
        real = os.path.realpath(root)
        if real in walked or (real != top and inside(top, real)):
            dirs[:] = []  # a folder linked twice, or a link up the tree
            continue
        walked.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        # Hidden files include macOS "._name.png" resource forks, which are not images.
        for f in files:
            if not f.startswith("."):
                read = f.lower().endswith(IMAGE_EXTENSIONS)
                (candidates if read else others).append(os.path.join(root, f))
    candidates.sort()  # os.walk's order depends on the file system; the data order must not
    paths, duplicates, broken, special, seen = [], [], [], [], set()
    for path in candidates:
        try:
            stat = os.stat(path)
        except OSError:
            broken.append(path)
            continue
        if not file_mode.S_ISREG(stat.st_mode):
            special.append(path)
            continue
        file_id = (stat.st_dev, stat.st_ino)  # the same for links and hard links to one file
        if file_id in seen:
            duplicates.append(path)
        else:
            seen.add(file_id)
            paths.append(path)
    return Listing(paths, duplicates, broken, special, sorted(walked), sorted(others))


def inside(path, folder):
    """Whether real path `path` is `folder` or lies below it."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def report_listing(listing, directory, source):
    """The listing's image paths, once its skipped paths are told: one warning for links to
    nothing, one for named pipes, sockets and devices, and one line for files reached twice.

    Raises:
        UserError: no image file in the folder.
    """
    paths, duplicates, broken, special = listing[:4]
    if listing.others:  # said, not warned: notes and other files are often there on purpose
        log.info("data.source %s: skipped %d file(s) of kinds not read (%s); only %s files "
                 "are, convert the others to train on them", source, len(listing.others),
                 kinds_counted(listing.others), "/".join(e[1:] for e in IMAGE_EXTENSIONS))
    if broken:
        log.warning("data.source %s: skipped %d broken link(s): %s", source, len(broken),
                    named(broken))
    if special:
        log.warning("data.source %s: skipped %d path(s) that are not files (a named pipe, "
                    "socket or device): %s", source, len(special), named(special))
    if duplicates:
        log.info("data.source %s: %d path(s) to a file listed under another name (a link or hard "
                 "link) counted once, these left out: %s",
                 source, len(duplicates), named(duplicates))
    if not paths:
        raise UserError(f"data.source {source}: no image files "
                        f"({', '.join(IMAGE_EXTENSIONS)}) in {directory} or below")
    return paths


def kinds_counted(paths):
    """'3 .svg, 1 .tiff, 1 without extension': the files of each kind, most first."""
    kinds = collections.Counter(os.path.splitext(p)[1].lower() or "without extension"
                                for p in paths)
    return ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())


def named(paths):
    """The first few paths, and how many more: the list a one-line message can hold."""
    more = f" and {len(paths) - NAMED_FAILURES} more" if len(paths) > NAMED_FAILURES else ""
    # A name that is not UTF-8 (bytes from another system) is shown escaped: it could not be
    # written to the log as it is.
    shown = (p.encode("utf-8", "backslashreplace").decode() for p in paths[:NAMED_FAILURES])
    return ", ".join(shown) + more


def class_folders(directory, paths):
    """(class names, the class of each path, paths outside any sub-folder).

    Each immediate sub-folder of `directory` is a class, in sorted order; the names and
    classes are None when some file lies directly in `directory` (those are the strays).
    """
    tops = [os.path.relpath(path, directory).split(os.sep) for path in paths]
    strays = [path for path, parts in zip(paths, tops, strict=True) if len(parts) == 1]
    if strays:
        return None, None, strays
    names = sorted({parts[0] for parts in tops})
    index = {name: k for k, name in enumerate(names)}
    return names, [index[parts[0]] for parts in tops], []


def unused_class_folders(directory, listing):
    """What is wrong with each immediate sub-folder of `directory` that holds no image file
    the loader reads, so would be no class, with its fix: 'c holds no image files: put...'.
    Hidden folders are no classes and are left out."""
    def top(path):
        return os.path.relpath(path, directory).split(os.sep)[0]

    used = {top(path) for path in listing.paths}
    problems = []
    for name in sorted(os.listdir(directory)):
        if name.startswith(".") or name in used or not os.path.isdir(
                os.path.join(directory, name)):
            continue
        real = os.path.realpath(os.path.join(directory, name))
        twin = [other for other in sorted(used)
                if os.path.realpath(os.path.join(directory, other)) == real]
        if twin:  # a link to another class folder: its files are listed there only
            problems.append(f"{name} is the same folder as {twin[0]} (a link), whose pictures "
                            "count there once: copy the files instead of linking the folder")
            continue
        links = [p for p in listing.duplicates if top(p) == name]
        others = [p for p in listing.others if top(p) == name]
        broken = [p for p in listing.broken + listing.special if top(p) == name]
        if links:
            listed = {_file_id(p): p for p in listing.paths}
            classes = sorted({top(listed[_file_id(p)]) for p in links if _file_id(p) in listed})
            problems.append(f"{name} holds only the same {len(links)} file(s) as "
                            f"{', '.join(classes)} (reached through links), counted there once: "
                            "copy the files instead of linking them")
        elif others:
            problems.append(f"{name} holds only files of kinds not read ({kinds_counted(others)}): "
                            f"convert them to {'/'.join(e[1:] for e in IMAGE_EXTENSIONS)}")
        elif broken:
            problems.append(f"{name} holds only broken links or special files ({named(broken)}): "
                            "put pictures in it")
        else:
            problems.append(f"{name} holds no image files: put pictures in it")
    return problems


def _file_id(path):
    stat = os.stat(path)
    return stat.st_dev, stat.st_ino


def identity(directory, paths):
    """What a run records of the folder it trains on: every file's place and size.

    A file touched (a new mtime, the same bytes) keeps the identity; one added, removed,
    renamed or rewritten to another size changes it.
    """
    files = [[os.path.relpath(path, directory), os.path.getsize(path)] for path in paths]
    digest = hashlib.sha256(json.dumps(files).encode()).hexdigest()
    return {"fingerprint": digest, "files": files, "classes": class_folders(directory, paths)[0]}


def decode(path, size=None):
    """One image file -> uint8 (H, W, C) with C = 1 (L), 2 (LA), 3 (RGB) or 4 (RGBA).

    Upright by its EXIF orientation. The first frame of an animation is used. With `size`, the
    picture is also centre-cropped to a square and reduced to no less than DECODE_MARGIN x
    size a side (the final resize is input_pipeline's). Raises whatever Pillow raises for a
    file it cannot read, or TooLarge.
    """
    with Image.open(path) as image:
        if size:
            # JPEG only: decodes at 1/2, 1/4 or 1/8 scale, never below the size asked.
            image.draft(None, (DECODE_MARGIN * size, DECODE_MARGIN * size))
        width, height = image.size
        if width * height > MAX_DECODED_PIXELS:
            side = int(MAX_DECODED_PIXELS ** 0.5)
            raise TooLarge(f"too large to decode: {width}x{height} pixels is "
                           f"{width * height / 1e6:.0f} megapixels, more than the "
                           f"{MAX_DECODED_PIXELS / 1e6:.0f} allowed; shrink it to {side}x{side} "
                           "or less")
        image.load()
        ImageOps.exif_transpose(image, in_place=True)
        image = _eight_bit(image)
        if size:
            image = _square_and_reduced(image, size)
        array = np.asarray(image, dtype=np.uint8)
    return array[..., None] if array.ndim == 2 else array


def _eight_bit(image):
    """The image in L, LA, RGB or RGBA, 8 bits per channel."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit (or 32-bit) grey: scale the full range down to 8 bits.
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or array.max() > 255 else 255.0
        return Image.fromarray(np.round(np.clip(array / top, 0, 1) * 255).astype(np.uint8))
    if mode == "P" or mode == "PA":
        # A palette may mark a transparent entry; RGBA keeps it.
        transparent = "transparency" in image.info or mode == "PA"
        return image.convert("RGBA" if transparent else "RGB")
    if mode == "1":
        return image.convert("L")
    if mode not in ("L", "LA", "RGB", "RGBA"):
        return image.convert("RGBA" if "A" in mode else "RGB")  # CMYK, YCbCr, La, RGBa...
    return image


def _square_and_reduced(image, size):
    """The centre square (as input_pipeline crops it), shrunk by a whole factor while its side
    stays at least DECODE_MARGIN x size: each output pixel the mean of a box of pixels."""
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    if (width, height) != (side, side):
        image = image.crop((left, top, left + side, top + side))
    # In steps of at most 8: Pillow's fixed-point mean drifts over boxes of thousands of pixels.
    while side // (DECODE_MARGIN * size) >= 2:
        image = image.reduce(min(side // (DECODE_MARGIN * size), 8))
        side = image.size[0]
    return image


def decode_all(paths, source, size=None):
    """Decodes every path; returns (arrays, skipped paths). Logs one warning for the skipped.

    Raises:
        UserError: no file could be read.
    """
    def attempt(path):
        try:
            return decode(path, size)
        except TooLarge as e:
            return f"{path} ({e})"
        except Exception:  # Pillow raises many kinds (OSError, SyntaxError, ValueError, ...)
            return path

    log.info("data.source %s: decoding %d image file(s)", source, len(paths))
    decoded = []
    # A few hundred photos take seconds to decode: long enough to look stuck without a count.
    with concurrent.futures.ThreadPoolExecutor(_DECODE_THREADS) as pool, progress.Counter(
            len(paths), "decoding", enabled=len(paths) >= PROGRESS_FROM) as counter:
        for result in pool.map(attempt, paths):
            decoded.append(result)
            counter.update(1)
    failures = [why for why in decoded if isinstance(why, str)]
    skipped = [path for path, array in zip(paths, decoded, strict=True) if isinstance(array, str)]
    arrays = [array for array in decoded if not isinstance(array, str)]
    if not arrays:
        # A picture too large says its own fix.
        fix = "" if failures[0] != skipped[0] else "; check they are images"
        raise UserError(f"data.source {source}: none of the {len(paths)} image files can be "
                        f"read (e.g. {failures[0]}){fix}")
    warn_skipped(source, failures, len(paths))
    return arrays, skipped


def warn_skipped(source, skipped, total):
    if skipped:
        log.warning("data.source %s: skipped %d unreadable file(s) of %d: %s", source,
                    len(skipped), total, named(skipped))


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
        digest.update(os.fsencode(path) + f"\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def cache_path(cache_dir, directory, image_size, channels):
    """The .npy file caching `directory` at this size (its sidecar: the same name, .json)."""
    key = f"{CACHE_VERSION}|{os.path.abspath(directory)}|{image_size}|{channels}"
    name = os.path.basename(os.path.normpath(directory)) or "folder"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return os.path.join(cache_dir, f"{name}-{image_size}px{channels}-{digest}.npy")


def cache_dir_problem(cache_dir):
    """Why the cache cannot be written in `cache_dir` (checked without writing), or None."""
    cache_dir = os.path.expanduser(cache_dir)
    if os.path.exists(cache_dir) and not os.path.isdir(cache_dir):
        return (f"data.cache_dir {cache_dir} is a file; give a folder for the image cache "
                "(created if missing), or '' to turn the cache off")
    existing = cache_dir
    while not os.path.exists(existing):  # the folders to be created: the first one that exists
        existing = os.path.dirname(os.path.abspath(existing))
    if not os.path.isdir(existing):
        return (f"data.cache_dir {cache_dir}: {existing} is a file, not a folder; give a "
                "folder for the image cache, or '' to turn the cache off")
    if not os.access(existing, os.W_OK | os.X_OK):
        return (f"data.cache_dir {cache_dir}: {existing} is not writable; set data.cache_dir "
                "to a writable folder, or '' to turn the cache off")
    return None


def cached_images(directory, paths, source, image_size, channels, cache_dir, build):
    """The folder's fitted images from the cache, built first if missing or out of date.

    A cache that is current is read even from a folder that cannot be written; its content
    is checked against the hash recorded when it was written, and one that no longer matches
    (replaced, damaged) is built again, or refused where it cannot be.

    Args:
        directory, source: the folder and the data.source naming it (for messages).
        paths: the folder's image files (report_listing).
        image_size, channels: what the images were fitted to (part of the cache's name).
        cache_dir: folder of the cache files; created if needed.
        build: paths -> (uint8 (N, S, S, C) images, skipped paths), run on a cache miss.

    Returns:
        (images, a read-only memory-mapped uint8 array; the paths skipped as unreadable).

    Raises:
        UserError: the cache must be built and cannot be written.
    """
    path = cache_path(cache_dir, directory, image_size, channels)
    sidecar = path[:-len(".npy")] + ".json"
    stamp = _fingerprint(paths)
    meta, changed = _read_json(sidecar), None
    if meta.get("fingerprint") == stamp and os.path.exists(path):
        try:
            same = meta.get("sha256") == _content_hash(path)
            images = np.load(path, mmap_mode="r") if same else None
        except (OSError, ValueError):  # unreadable, or not an .npy file
            images = None
        if images is not None:
            log.info("data.source %s: %d images read from the cache %s", source, len(images),
                     path)
            warn_skipped(source, meta.get("skipped", []), len(paths))
            return images, meta.get("skipped", [])
        changed = (f"the image cache {path} does not match the content hash recorded when it "
                   "was written (replaced or damaged since, or written by an older version)")
    problem = cache_dir_problem(cache_dir)
    if problem:
        raise UserError(f"{changed}, and cannot be built again: {problem}" if changed
                        else problem)
    if changed:
        log.warning("%s; building it again", changed)
    remove_stale_partial_files(cache_dir)
    images, skipped = build(paths)
    _write_cache(path, images)
    write_json_atomically(sidecar, {"source": source, "fingerprint": stamp,
                                    "count": len(images), "skipped": skipped,
                                    "sha256": _content_hash(path)})
    log.info("data.source %s: %d images cached in %s", source, len(images), path)
    return np.load(path, mmap_mode="r"), skipped


def cache_is_current(cache_dir, directory, paths, image_size, channels):
    """Whether the cache of these files exists and was written for them (its content is
    checked when it is read): a folder that cannot be written still serves it."""
    path = cache_path(os.path.expanduser(cache_dir), directory, image_size, channels)
    meta = _read_json(path[:-len(".npy")] + ".json")
    return meta.get("fingerprint") == _fingerprint(paths) and os.path.exists(path)


def _read_json(path):
    """The JSON object in `path`, {} if there is none or it cannot be read."""
    try:
        with open(path) as f:
            found = json.load(f)
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _content_hash(path):
    """SHA-256 of the file: about half a second a GB here, against minutes of decoding."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _write_cache(path, images):
    """Writes the .npy whole or not at all: a partial file is removed before the error."""
    # Named with the writer's pid, so that remove_stale_partial_files knows a killed build's.
    temporary = f"{os.path.basename(path)}.{os.getpid()}.tmp"
    started = False
    try:
        # The data first: a sidecar never vouches for a missing file.
        with replaced_atomically(path, temporary) as tmp, open(tmp, "wb") as f:
            started = True  # from here a failure leaves a partial file, which is removed
            np.save(f, np.ascontiguousarray(images))
    except OSError as e:
        free = shutil.disk_usage(os.path.dirname(path)).free \
            if os.path.isdir(os.path.dirname(path)) else None
        if free is not None and free < images.nbytes + 2**20:
            why = (f"{images.nbytes / 2**20:.1f} MB needed, {free / 2**20:.1f} MB free on its "
                   "disk; free space there")
        else:
            why = e.strerror or str(e)
        removed = "; the partial file was removed" if started else ""
        raise UserError(f"cannot write the image cache {path} ({why}{removed}); set "
                        "data.cache_dir to a folder with room, or '' to turn the cache off") \
            from None


def remove_stale_partial_files(cache_dir):
    """Removes the partial .npy files of cache builds whose process is gone (killed)."""
    for tmp in glob.glob(os.path.join(glob.escape(cache_dir), "*.npy.*.tmp")):
        pid = tmp[:-len(".tmp")].rpartition(".")[2]
        if pid.isdigit() and not _alive(int(pid)):
            try:
                os.remove(tmp)
                log.info("removed %s, left by a cache build that was stopped", tmp)
            except OSError:
                pass  # another run cleaned it first


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True
