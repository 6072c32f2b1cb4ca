"""A labelled folder of square PNG pictures made from a desktop icon theme.

    python scripts/make_icon_set.py --theme=/usr/share/icons/Papirus --size=64 \\
        --output=~/icons/papirus64 --max_per_class=300

writes OUTPUT/<context>/<icon name>.png, one sub-folder per icon context of the theme (apps,
places, devices, mimetypes, actions, status, ...), so `data.source=folder:OUTPUT` trains on
them with the contexts as classes. Themes lay their icons out as THEME/[base/]NxN/<context>/
(and scalable/<context>/), or the other way round as THEME/<context>/N/ (Breeze); of an icon
drawn at several sizes the one fittest for --size is used: drawn at that size; else a vector
drawing (SVG, rasterised at --size); else the smallest bitmap larger than --size, reduced.
Bitmaps smaller than --size are not enlarged: they would come out blurred. Monochrome
"symbolic" icons are left out.

SVGs are rasterised with `rsvg-convert` (Debian: librsvg2-bin), the renderer the icon themes
are drawn for, or with the `cairosvg` Python package. Transparent pixels are composited onto
a plain background, white by default: the one the folder loader puts under transparent
pictures, so icons made here and a theme's own PNGs read directly look alike. Icons drawn
white for dark panels vanish on it; --background=303030 suits a theme of those. A non-square
icon is fitted inside the square, centred.

Each picture is written once: links to one file and files of equal content count once (under
the first context and name in sorted order), and so do icons that render to the same pixels.
--max_per_class keeps a random (--seed) draw of each context.
"""

import hashlib
import io
import os
import random
import re
import shutil
import subprocess
import sys

from absl import flags

from dcgan import cli

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FLAGS = flags.FLAGS

SIZES = (32, 64, 128)
RASTERISERS = ("auto", "rsvg-convert", "cairosvg")
BITMAP_EXTENSIONS = (".png",)
VECTOR_EXTENSIONS = (".svg",)
# "48x48", and HiDPI copies "48x48@2x" (drawn at 96 px); Breeze's "48" and "48@2x".
SIZE_FOLDER = re.compile(r"^(\d+)(?:x(\d+))?(?:@(\d+)x)?$")
VECTOR_FOLDER = "scalable"


def define_flags():
    flags.DEFINE_string("theme", None, "The icon theme's folder, e.g. /usr/share/icons/Papirus.")
    flags.DEFINE_integer("size", 64, f"Side of the pictures in pixels: one of {SIZES}.")
    flags.DEFINE_string("output", None, "Folder to write OUTPUT/<context>/<name>.png into; "
                        "it must be new or empty.")
    flags.DEFINE_integer("max_per_class", 0, "Keep at most this many icons of each context, "
                         "drawn by --seed (0: all).")
    flags.DEFINE_integer("seed", 0, "Seed of the --max_per_class draw.")
    flags.DEFINE_enum("rasteriser", "auto", RASTERISERS, "How SVGs become pixels; auto: "
                      "rsvg-convert if it is on PATH, else cairosvg.")
    flags.DEFINE_string("background", "ffffff", "Colour under transparent pixels, RRGGBB.")


class Problem(Exception):
    """Bad input, told as one `error:` line."""


def drawn_size(folder_name):
    """Pixels an icon of a size folder is drawn at ("64x64" -> 64, "32x32@2x" -> 64, "32@2x"
    -> 64), None for "scalable", or False for a folder that names no size."""
    if folder_name == VECTOR_FOLDER:
        return None
    match = SIZE_FOLDER.match(folder_name)
    if not match or match[2] not in (None, match[1]):
        return False
    return int(match[1]) * int(match[3] or 1)


def icon_files(theme):
    """Every icon of the theme: a list of (context, name, drawn size or None, path).

    The theme's size folders may lie one level down (oxygen keeps them in base/); contexts are
    the folders inside a size folder, or, for a size folder holding the icons themselves
    (Breeze's THEME/<context>/N/), the folder it lies in. Files in "symbolic" folders or named
    *-symbolic are monochrome glyphs of another style, left out.
    """
    found = []
    for parent in [theme] + sorted(os.path.join(theme, d) for d in _subfolders(theme)):
        for size_folder in sorted(_subfolders(parent)):
            size = drawn_size(size_folder)
            if size is False:
                continue
            size_path = os.path.join(parent, size_folder)
            contexts = [(c, os.path.join(size_path, c)) for c in sorted(_subfolders(size_path))]
            if not contexts and parent != theme:
                contexts = [(os.path.basename(parent), size_path)]
            for context, folder in contexts:
                if "symbolic" in context:
                    continue
                for entry in sorted(os.listdir(folder)):
                    stem, ext = os.path.splitext(entry)
                    if stem.endswith("-symbolic") or ext.lower() not in (
                            BITMAP_EXTENSIONS + VECTOR_EXTENSIONS):
                        continue
                    path = os.path.join(folder, entry)
                    if os.path.isfile(path):  # a link to nothing is no icon
                        found.append((context, stem, size, path))
    return found


def _subfolders(folder):
    try:
        return [d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d))]
    except OSError:
        return []


def fitness(size, path, target):
    """A sort key: lower is a better source for a `target`-pixel picture; None: unusable."""
    vector = path.lower().endswith(VECTOR_EXTENSIONS)
    if size == target:
        return (0, 0)
    if vector:  # any size rasterises sharply; the drawing made for the nearest size is best
        return (1, abs((size or target) - target))
    if size is not None and size > target:
        return (2, size)
    return None  # a bitmap smaller than the target would only be blurred up


def choose_sources(icons, target):
    """{(context, name): path} of the fittest drawing of each icon, then one per content:
    a file reached twice (a link, a copy) stays only under its first (context, name).

    Returns:
        (chosen, number of duplicates dropped, number of icons with only smaller bitmaps).
    """
    best = {}
    for context, name, size, path in icons:
        key = fitness(size, path, target)
        if key is None:
            continue
        if (context, name) not in best or key < best[(context, name)][0]:
            best[(context, name)] = (key, path)
    too_small = len({(c, n) for c, n, _, _ in icons} - set(best))
    chosen, seen, duplicates = {}, set(), 0
    for icon in sorted(best):
        path = best[icon][1]
        digest = file_digest(path)
        if digest in seen:
            duplicates += 1
            continue
        seen.add(digest)
        chosen[icon] = path
    return chosen, duplicates, too_small


def file_digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def pick_rasteriser(asked):
    """A function svg path, size -> PNG bytes, or a Problem naming how to get one."""
    have_rsvg = shutil.which("rsvg-convert") is not None
    if asked in ("auto", "rsvg-convert") and have_rsvg:
        return rsvg_convert
    if asked in ("auto", "cairosvg"):
        try:
            import cairosvg
        except (ImportError, OSError):  # OSError: the package is there but libcairo is not
            pass
        else:
            return lambda path, size: cairosvg.svg2png(url=path, output_width=size,
                                                       output_height=size)
    raise Problem(f"no SVG rasteriser ({asked}): install rsvg-convert (Debian/Ubuntu: "
                  "apt-get install librsvg2-bin) or `pip install cairosvg`")


def rsvg_convert(path, size):
    result = subprocess.run(["rsvg-convert", "--width", str(size), "--height", str(size),
                             "--keep-aspect-ratio", "--format=png", path],
                            capture_output=True, check=False)
    if result.returncode != 0:
        raise ValueError(result.stderr.decode(errors="replace").strip() or "rsvg-convert failed")
    return result.stdout


def parse_colour(text):
    """'RRGGBB' (or '#RRGGBB') -> (r, g, b)."""
    digits = text.removeprefix("#")
    if not re.fullmatch(r"[0-9a-fA-F]{6}", digits):
        raise Problem(f"--background={text} is no colour; give six hex digits RRGGBB, e.g. "
                      "ffffff for white")
    return tuple(int(digits[i:i + 2], 16) for i in (0, 2, 4))


def render(path, size, rasterise, background):
    """The icon at `path` as an RGB (size, size) Pillow image on the `background` colour."""
    from PIL import Image

    if path.lower().endswith(VECTOR_EXTENSIONS):
        image = Image.open(io.BytesIO(rasterise(path, size)))
    else:
        image = Image.open(path)
    image = image.convert("RGBA")
    if image.size != (size, size):
        image.thumbnail((size, size), Image.Resampling.LANCZOS)  # keeps the aspect ratio
    square = Image.new("RGBA", (size, size), background + (255,))
    offset = ((size - image.width) // 2, (size - image.height) // 2)
    square.alpha_composite(image, offset)
    return square.convert("RGB")


def make_set(theme, size, output, max_per_class=0, seed=0, rasteriser="auto",
             background="ffffff"):
    """Writes the set; returns {context: (written, candidates)} and prints a line per context.

    Raises:
        Problem: a bad theme folder, size or output folder, or SVGs with no rasteriser.
    """
    if not os.path.isdir(theme):
        what = "is a file, not a folder" if os.path.exists(theme) else "no such folder"
        raise Problem(f"--theme={theme}: {what}; give an icon theme's folder, e.g. "
                      "/usr/share/icons/Papirus")
    if size not in SIZES:
        raise Problem(f"--size={size} is not one of {', '.join(map(str, SIZES))}")
    colour = parse_colour(background)
    if max_per_class < 0:
        raise Problem(f"--max_per_class={max_per_class} must be 0 (all) or positive")
    if os.path.isdir(output) and os.listdir(output):
        raise Problem(f"--output={output} already holds files; give a new or empty folder")
    icons = icon_files(theme)
    if not icons:
        raise Problem(f"--theme={theme} holds no icons in NxN/<context>/ or scalable/<context>/ "
                      "folders; give an icon theme's folder, e.g. /usr/share/icons/Papirus")
    chosen, duplicates, too_small = choose_sources(icons, size)
    rasterise = None
    if any(p.lower().endswith(VECTOR_EXTENSIONS) for p in chosen.values()):
        rasterise = pick_rasteriser(rasteriser)
    by_context = {}
    for (context, name), path in chosen.items():
        by_context.setdefault(context, []).append((name, path))
    rng = random.Random(seed)
    seen_pixels, report, failed = set(), {}, []
    for context, members in sorted(by_context.items()):
        rng.shuffle(members)  # the draw of --max_per_class; all of them when it is 0
        written = 0
        for name, path in members:
            if max_per_class and written == max_per_class:
                break
            try:
                image = render(path, size, rasterise, colour)
            except Exception as e:  # noqa: BLE001 - a broken drawing is skipped, not fatal
                failed.append(f"{path} ({str(e).splitlines()[0] if str(e) else type(e).__name__})")
                continue
            digest = hashlib.sha256(image.tobytes()).hexdigest()
            if digest in seen_pixels:
                duplicates += 1
                continue
            seen_pixels.add(digest)
            write_png(image, os.path.join(output, context, name + ".png"))
            written += 1
        report[context] = (written, len(members))
        print(f"{context:<12}{written:>6} of {len(members)} icons")
    total = sum(w for w, _ in report.values())
    print(f"wrote {total} pictures of {size}x{size} in {len(report)} classes to {output}; "
          f"{duplicates} duplicates and {too_small} icons with only smaller bitmaps left out")
    if failed:
        print(f"warning: {len(failed)} icons could not be drawn and were skipped, e.g. "
              f"{'; '.join(failed[:3])}", file=sys.stderr)
    if not total:
        raise Problem(f"no icon of {theme} could be written")
    return report


def write_png(image, path):
    from dcgan import files

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    files.write_bytes_atomically(path, buffer.getvalue())


def main(argv):
    missing = [f"--{name}" for name in ("theme", "output") if not FLAGS[name].value]
    if missing or len(argv) > 1:
        problem = (f"missing {' and '.join(missing)}" if missing
                   else f"unexpected argument(s) {' '.join(argv[1:])}")
        print(f"error: {problem}; give --theme=THEME_DIR and --output=DIR", file=sys.stderr)
        return 2
    try:
        make_set(os.path.expanduser(FLAGS.theme), FLAGS.size, os.path.expanduser(FLAGS.output),
                 FLAGS.max_per_class, FLAGS.seed, FLAGS.rasteriser, FLAGS.background)
    except Problem as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    define_flags()
    cli.run_app(main)
