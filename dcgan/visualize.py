"""Pictures of a run: sample grids (PNG), the progress GIF and a one-page training report.

Everything here works on NumPy arrays, so it runs the same on a laptop without accelerators,
inside a training job or from a notebook. Files are written atomically (temporary file, then
rename) so that a run stopped mid-write never leaves a truncated PNG or GIF behind.
"""

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import imageio.v3 as iio
import numpy as np

from dcgan import files, pixels

# Keys of a metrics record that measure sample quality: distances ("lower is better") share a
# log-scaled axis, fractions in [0, 1] get an axis of their own.
_DISTANCE_KEYS = ("fid", "kid")
_FRACTION_KEYS = ("precision", "recall")
# A conditional run's means within classes, dashed in the colour of the mixed set's metric:
# within-class recall far under the mixed set's is each class collapsing onto a few images.
# (class_fid is left to metrics.jsonl and TensorBoard: a fifth line on the distance axis would
# hide the FID it resembles.)
_WITHIN_CLASSES = {"precision": "class_precision", "recall": "class_recall"}
# The within-class spread shares the fractions' axis: 1 is as varied as the real images; it is
# not capped at 1, so the axis grows to show it.
_SPREAD_KEY = "class_spread"


def to_uint8(images) -> np.ndarray:
    """Maps float images in [-1, 1] (the generator's tanh range) to uint8 in [0, 255].

    Values outside [-1, 1] are clipped rather than wrapped, so an overshooting generator shows
    saturated pixels, not noise. uint8 input is returned unchanged.
    """
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(f"images must be float in [-1, 1] or uint8, got dtype {images.dtype}")
    return pixels.to_uint8(images)


def image_grid(images, columns: int | None = None, padding: int = 2,
               pad_value: int = 255) -> np.ndarray:
    """Tiles a batch of images into one picture.

    Args:
        images: (N, H, W, C) with C in {1, 3}, or (N, H, W) grey; float in [-1, 1] or uint8.
        columns: tiles per row; ceil(sqrt(N)) by default, which keeps the grid square-ish.
        padding: pixels between neighbouring tiles (none around the border).
        pad_value: grey level of the padding and of empty cells in the last row.

    Returns:
        uint8 array of shape (rows*H + (rows-1)*padding, columns*W + (columns-1)*padding),
        with a trailing axis of 3 for colour images; grey images give a 2-D array.
    """
    images = to_uint8(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(
            f"images must have shape (N, H, W), (N, H, W, 1) or (N, H, W, 3), got {images.shape}"
        )
    num, height, width, channels = images.shape
    if num == 0:
        raise ValueError("image_grid needs at least one image")
    if columns is None:
        columns = math.ceil(math.sqrt(num))
    if columns < 1:
        raise ValueError(f"columns must be at least 1, got {columns}")
    if padding < 0:
        raise ValueError(f"padding must be non-negative, got {padding}")
    columns = min(columns, num)
    rows = math.ceil(num / columns)

    grid = np.full(
        (rows * height + (rows - 1) * padding, columns * width + (columns - 1) * padding,
         channels),
        pad_value,
        dtype=np.uint8,
    )
    for index, image in enumerate(images):
        row, col = divmod(index, columns)
        top = row * (height + padding)
        left = col * (width + padding)
        grid[top:top + height, left:left + width] = image
    # Grey grids are written as single-channel PNGs; many viewers mis-handle (H, W, 1).
    return grid[..., 0] if channels == 1 else grid


def png_bytes(image) -> bytes:
    """One (H, W), (H, W, 1) or (H, W, 3) uint8 image encoded as PNG."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]  # many viewers mis-handle (H, W, 1)
    return iio.imwrite("<bytes>", image, extension=".png", is_batch=False)


def save_grid(images, path, columns: int | None = None) -> np.ndarray:
    """Writes `image_grid(images, columns)` as a PNG, creating parent directories.

    Returns:
        The uint8 grid that was written (handy for a TensorBoard image summary).
    """
    grid = image_grid(images, columns=columns)
    files.write_bytes_atomically(path, png_bytes(grid))
    return grid


def _as_rgb(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 2:
        return np.repeat(frame[..., None], 3, axis=-1)
    return frame[..., :3]  # GIF has no partial transparency; drop alpha


def write_gif(png_paths: Sequence, gif_path, duration: float = 0.2) -> None:
    """Writes the given images, in order, as an animated GIF that loops forever.

    Every image becomes a frame (none are subsampled). Pillow stores consecutive identical
    frames once with their durations added, which plays back the same.

    Args:
        png_paths: image files of identical height and width, e.g. the samples of a run.
        gif_path: output file; parent directories are created.
        duration: seconds each frame is shown.

    Frames of another size than the last one (a picture someone saved under a grid's name)
    are left out: a GIF has one size.

    Raises:
        ValueError: no images.
    """
    png_paths = list(png_paths)
    if not png_paths:
        raise ValueError("write_gif needs at least one image")
    frames = [np.asarray(iio.imread(p)) for p in png_paths]
    frames = [frame for frame in frames if frame.shape[:2] == frames[-1].shape[:2]]
    if any(frame.ndim == 3 for frame in frames):
        frames = [_as_rgb(frame) for frame in frames]
    stack = np.stack(frames).astype(np.uint8)
    data = iio.imwrite(
        "<bytes>", stack, extension=".gif", is_batch=True,
        duration=int(round(duration * 1000)), loop=0,
    )
    files.write_bytes_atomically(gif_path, data)


def _series(records: Sequence[Mapping], key: str) -> tuple[list, list]:
    """(steps, values) of the records that carry `key`; eval metrics are logged less often."""
    steps, values = [], []
    for record in records:
        value = record.get(key)
        if value is not None and "step" in record:
            steps.append(record["step"])
            values.append(float(value))
    return steps, values


def _plot_losses(ax, records, equilibrium_d, equilibrium_g) -> None:
    for key, label, color in (("d_loss", "discriminator", "C0"), ("g_loss", "generator", "C1")):
        steps, values = _series(records, key)
        ax.plot(steps, values, color=color, label=label)
    ax.axhline(equilibrium_d, color="C0", linestyle="--", linewidth=1,
               label=f"2 ln 2 = {equilibrium_d:.3f}")
    ax.axhline(equilibrium_g, color="C1", linestyle="--", linewidth=1,
               label=f"ln 2 = {equilibrium_g:.3f}")
    ax.set_title("Losses (dashed: values when D outputs 0.5)")
    ax.set_xlabel("step")
    ax.legend(fontsize="small")


def _plot_outputs(ax, records, gap_target) -> None:
    # D(held out) below D(as many trained), a gap above 0, is D memorising the training images;
    # so is E[sign D(x)] near 1. An adaptive p rises to counter one of them: with
    # training.ada_gap_target, while the gap is above that line.
    lowest, plotted = 0.0, set()
    for key, label, style in (("d_real", "D(x)", "-"), ("d_fake", "D(G(z))", "-"),
                              ("d_holdout", "D(held out)", "-"),
                              ("d_trained", "D(as many trained)", "-"),
                              ("d_gap", "gap: trained - held out", "-."),
                              ("d_sign_real", "E[sign D(x)]", ":"),
                              ("augment_p", "augmentation p", "--")):
        steps, values = _series(records, key)
        if steps:
            ax.plot(steps, values, linestyle=style, label=label)
            lowest = min(lowest, *values)
            plotted.add(key)
    ax.axhline(0.5, color="grey", linestyle="--", linewidth=1, label="0.5")
    if gap_target and "d_gap" in plotted:  # a run logged before d_gap existed: no line alone
        ax.axhline(gap_target, color="black", linestyle="-.", linewidth=1,
                   label=f"gap target {gap_target:g}: p rises above it")
    ax.set_ylim(min(-0.02, lowest - 0.02), 1.02)
    ax.set_title("Discriminator outputs")
    ax.set_xlabel("step")
    # Below the panel: up to nine curves, which a legend inside would cover.
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3)


def _plot_quality(ax, records) -> None:
    """Quality metrics if the run logged any, else the discriminator's BCE decomposition."""
    distances = [k for k in _DISTANCE_KEYS if _series(records, k)[0]]
    fractions = [k for k in _FRACTION_KEYS if _series(records, k)[0]]
    if distances or fractions:
        handles = []
        for i, key in enumerate(distances):
            steps, values = _series(records, key)
            handles += ax.plot(steps, values, marker="o", color=f"C{i}", label=key.upper())
        if distances and all(v > 0 for k in distances for v in _series(records, k)[1]):
            # FID (tens) and KID (hundredths) are only both readable on a log scale.
            ax.set_yscale("log")
        target = ax.twinx() if distances and fractions else ax
        top = 1.02
        for i, key in enumerate(fractions, start=len(distances)):
            steps, values = _series(records, key)
            handles += target.plot(steps, values, marker="s", color=f"C{i}", label=key)
            steps, values = _series(records, _WITHIN_CLASSES[key])
            if steps:
                handles += target.plot(steps, values, marker="s", linestyle="--",
                                       color=f"C{i}", label=f"{key} within classes")
        steps, values = _series(records, _SPREAD_KEY)
        if steps and fractions:
            handles += target.plot(steps, values, marker="^", linestyle=":", color="C4",
                                   label="spread within classes")
            top = max(top, max(values) + 0.02)
        if fractions:
            target.set_ylim(-0.02, top)
        ax.legend(handles=handles, fontsize="small")
        ax.set_title("Sample quality")
        ax.set_xlabel("step")
        return
    entropy_steps, entropy = _series(records, "d_entropy")
    kl_steps, kl = _series(records, "d_kl")
    if entropy_steps or kl_steps:
        ax.plot(entropy_steps, entropy, label="entropy of the targets")
        ax.plot(kl_steps, kl, label="KL(targets || D)")
        ax.set_title("Discriminator BCE = entropy + KL")
        ax.set_xlabel("step")
        ax.legend(fontsize="small")
        return
    ax.text(0.5, 0.5, "no quality metrics logged", ha="center", va="center")
    ax.set_axis_off()


def _plot_samples(ax, last_grid_path) -> None:
    if last_grid_path is None:
        ax.text(0.5, 0.5, "no samples yet", ha="center", va="center")
    else:
        grid = np.asarray(iio.imread(last_grid_path))
        ax.imshow(grid, cmap="gray" if grid.ndim == 2 else None, vmin=0, vmax=255)
        ax.set_title(f"Samples: {Path(last_grid_path).name}")
    ax.set_axis_off()


def plot_report(records: Sequence[Mapping], path, equilibrium_d: float, equilibrium_g: float,
                last_grid_path=None, gap_target: float = 0.0) -> str:
    """Writes a four-panel PNG summarising a run.

    Panels: losses against their equilibrium values; D(x) and D(G(z)) against 0.5; sample
    quality (fid, kid, precision, recall, and a conditional run's precision, recall and spread
    within classes) if logged, else the discriminator's cross-entropy
    split into d_entropy and d_kl; the last sample grid.

    Args:
        records: metrics dicts with `step`, `g_loss`, `d_loss`, `d_real`, `d_fake`; optional
            keys are plotted at the steps that carry them.
        path: output PNG; parent directories are created.
        equilibrium_d: discriminator loss when D outputs 0.5 everywhere (2 ln 2).
        equilibrium_g: generator loss at the same point (ln 2).
        last_grid_path: image shown in the fourth panel, if any.
        gap_target: the run's training.ada_gap_target, drawn beside the held-out gap; 0: none.

    Returns:
        The path written, as a string.
    """
    # A bare Figure renders through Agg without pyplot: no display is needed, no global backend
    # is switched under the caller, and no figure stays registered (or open) after we return.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 9), layout="constrained")
    axes = fig.subplots(2, 2)
    _plot_losses(axes[0, 0], records, equilibrium_d, equilibrium_g)
    _plot_outputs(axes[0, 1], records, gap_target)
    _plot_quality(axes[1, 0], records)
    _plot_samples(axes[1, 1], last_grid_path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    files.write_bytes_atomically(path, buffer.getvalue())
    return str(path)
