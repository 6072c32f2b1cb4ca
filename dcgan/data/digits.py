"""A built-in MNIST-like data set of digits drawn from the fonts matplotlib ships.

It lets the demo and the tests train on something digit-shaped with no download.
Each (font, digit) glyph is rasterized once with matplotlib's Agg renderer at twice the
output resolution; every image is then one random affine warp of a glyph (scale, aspect,
slant, rotation, shift), a random stroke width (grey-scale erosion or dilation) and a 2x2
average down to 28x28, white on black like MNIST. The warps run batched in one TensorFlow
op, so 10,000 images take a second or two, and a seed fixes every image.
"""

import functools
import os

import matplotlib
import numpy as np
import tensorflow as tf
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import TextPath
from matplotlib.transforms import Affine2D

SIZE = 28
# Glyphs are drawn and warped at twice the output size and averaged down, which
# anti-aliases the warp; stroke width changes are then half a pixel at 28 px.
_SCALE = 2
_CANVAS = SIZE * _SCALE
# MNIST fits each digit in a 20x20 box and centres its centre of mass in the 28x28 frame.
_BOX = 20 * _SCALE

# Text faces whose digits are ordinary lining figures (cmmi10 has old-style figures,
# the symbol fonts have none).
FONT_FILES = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSans-BoldOblique.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf",
    "STIXGeneral.ttf",
    "STIXGeneralBol.ttf",
    "STIXGeneralItalic.ttf",
    "cmr10.ttf",
    "cmb10.ttf",
    "cmss10.ttf",
    "cmtt10.ttf",
    "cmti10.ttf",
)

# Stroke width changes at the 2x canvas: -1 erodes by one pixel, k > 0 dilates by k
# pixels. Each image draws a target pen width (2x-canvas pixels; MNIST's pens are
# 2-4 px wide at 28 px) and takes the change that brings its glyph closest to it, so
# bold faces are rarely thickened further and light ones rarely thinned.
_STROKE_RANGE = (-1, 3)
_PEN_WIDTH = (4.0, 8.5)
_CHUNK = 2000  # images warped per TensorFlow call; bounds peak memory


def _render_glyph(path, digit):
    """Rasterizes one digit of one font into a (_CANVAS, _CANVAS) float array in [0, 1]."""
    glyph = TextPath((0, 0), str(digit), size=100, prop=FontProperties(fname=path))
    extents = glyph.get_extents()
    scale = _BOX / max(extents.width, extents.height)
    # Agg's y axis points up from the bottom-left, like the path's own coordinates.
    transform = (
        Affine2D()
        .translate(-extents.x0 - extents.width / 2, -extents.y0 - extents.height / 2)
        .scale(scale)
        .translate(_CANVAS / 2, _CANVAS / 2)
    )
    renderer = RendererAgg(_CANVAS, _CANVAS, 72)
    gc = renderer.new_gc()
    gc.set_linewidth(0)
    renderer.draw_path(gc, glyph, transform, (1.0, 1.0, 1.0, 1.0))
    gc.restore()
    # The canvas starts transparent, so coverage is the alpha channel.
    return np.asarray(renderer.buffer_rgba())[:, :, 3].astype(np.float32) / 255.0


@functools.lru_cache(maxsize=1)
def glyph_bank():
    """Returns (glyphs, centres, widths, digits): every font's 0-9 drawn once.

    glyphs is float32 (G, _CANVAS, _CANVAS) in [0, 1]; centres the (x, y) centre of
    mass of each glyph in pixels; widths its mean stroke width in pixels; digits the
    digit each glyph shows.
    """
    font_dir = os.path.join(matplotlib.get_data_path(), "fonts", "ttf")
    glyphs, digits = [], []
    for name in FONT_FILES:
        path = os.path.join(font_dir, name)
        if not os.path.exists(path):  # a trimmed matplotlib install; use what is there
            continue
        for digit in range(10):
            glyphs.append(_render_glyph(path, digit))
            digits.append(digit)
    glyphs = np.stack(glyphs)
    grid = np.arange(_CANVAS, dtype=np.float32)
    mass = glyphs.sum(axis=(1, 2))
    centre_x = (glyphs.sum(axis=1) * grid).sum(axis=1) / mass
    centre_y = (glyphs.sum(axis=2) * grid).sum(axis=1) / mass
    centres = np.stack([centre_x, centre_y], axis=1)
    # A stroke of length L and width w covers L * w and has an outline 2 * L long.
    grad_y, grad_x = np.gradient(glyphs, axis=(1, 2))
    widths = 2.0 * mass / np.hypot(grad_x, grad_y).sum(axis=(1, 2))
    return glyphs, centres.astype(np.float32), widths, np.asarray(digits, np.int64)


def _inverse_transforms(rng, centres):
    """Random warps as the (B, 8) output->input maps ImageProjectiveTransformV3 expects."""
    n = len(centres)
    scale = rng.uniform(0.8, 1.05, n)
    aspect = np.exp(rng.uniform(-0.2, 0.2, n))  # width relative to height
    slant = rng.uniform(-0.3, 0.3, n)  # horizontal shear, like a handwriting slope
    angle = np.deg2rad(np.clip(rng.normal(0.0, 8.0, n), -20.0, 20.0))
    shift = rng.uniform(-1.5, 1.5, (n, 2)) * _SCALE

    # Forward map, input offset from the glyph's centre of mass -> output offset from
    # the canvas centre: rotation @ shear @ diag(scale * aspect, scale).
    cos, sin = np.cos(angle), np.sin(angle)
    sx, sy = scale * aspect, scale
    a = cos * sx
    b = cos * slant * sy - sin * sy
    c = sin * sx
    d = sin * slant * sy + cos * sy
    det = a * d - b * c
    inv = np.stack([d, -b, -c, a], axis=1) / det[:, None]  # rows: [ia, ib, ic, id]

    # input = inv @ (output - centre - shift) + glyph centre
    offset = -(np.full((n, 2), (_CANVAS - 1) / 2.0) + shift)
    tx = inv[:, 0] * offset[:, 0] + inv[:, 1] * offset[:, 1] + centres[:, 0]
    ty = inv[:, 2] * offset[:, 0] + inv[:, 3] * offset[:, 1] + centres[:, 1]
    zeros = np.zeros(n)
    return np.stack(
        [inv[:, 0], inv[:, 1], tx, inv[:, 2], inv[:, 3], ty, zeros, zeros], axis=1
    ).astype(np.float32)


def _stroke(images, strokes):
    """Per-image grey-scale erosion (-1) or dilation (k > 0 pixels) of (B, H, W, 1) images."""
    eroded = -tf.nn.max_pool2d(-images, 3, 1, "SAME")
    out = tf.where(tf.reshape(tf.constant(strokes == -1), (-1, 1, 1, 1)), eroded, images)
    grown = images
    for width in range(1, int(strokes.max(initial=0)) + 1):
        # k 3x3 maximum filters in a row make one (2k+1)x(2k+1) filter, at less cost.
        grown = tf.nn.max_pool2d(grown, 3, 1, "SAME")
        out = tf.where(tf.reshape(tf.constant(strokes == width), (-1, 1, 1, 1)), grown, out)
    return out


def synthetic_digits(num_images, seed):
    """Makes num_images random font digits.

    Args:
        num_images: how many images.
        seed: any non-negative int (or a tuple of them); equal seeds give equal images.

    Returns:
        (images, labels): uint8 (num_images, 28, 28, 1), white digits on black, and the
        int64 digits (num_images,).
    """
    images, labels = _rendered(num_images, seed)
    return images.copy(), labels.copy()


# Rendering takes seconds; a process that asks twice for the same images (training, then
# scoring, or one run after another) renders them once.
@functools.lru_cache(maxsize=4)
def _rendered(num_images, seed):
    glyphs, centres, widths, _ = glyph_bank()
    rng = np.random.default_rng(seed)
    # Balanced classes, like MNIST's roughly even split, in a random order.
    labels = rng.permutation(np.arange(num_images) % 10).astype(np.int64)
    # The bank holds each font's 0-9 in order, so glyph f * 10 + d is font f's digit d.
    fonts_per_digit = len(glyphs) // 10
    choice = rng.integers(0, fonts_per_digit, num_images) * 10 + labels
    transforms = _inverse_transforms(rng, centres[choice])
    pen = rng.uniform(*_PEN_WIDTH, num_images)
    strokes = np.clip(np.round((pen - widths[choice]) / 2), *_STROKE_RANGE).astype(int)

    glyphs = tf.constant(glyphs[..., None])
    images = []
    for start in range(0, num_images, _CHUNK):
        part = slice(start, start + _CHUNK)
        warped = tf.raw_ops.ImageProjectiveTransformV3(
            images=tf.gather(glyphs, choice[part]),
            transforms=transforms[part],
            output_shape=[_CANVAS, _CANVAS],
            fill_value=0.0,
            interpolation="BILINEAR",
            fill_mode="CONSTANT",
        )
        warped = _stroke(warped, strokes[part])
        small = tf.nn.avg_pool2d(warped, _SCALE, _SCALE, "VALID")
        images.append(tf.cast(tf.round(tf.clip_by_value(small, 0.0, 1.0) * 255.0), tf.uint8))
    if not images:
        return np.zeros((0, SIZE, SIZE, 1), np.uint8), labels
    return tf.concat(images, axis=0).numpy(), labels
