"""Sample grids, the progress GIF and the report figure, checked through the files they write."""

import imageio.v3 as iio
import matplotlib.pyplot as plt
import numpy as np
import pytest

from dcgan import visualize


def test_to_uint8_maps_tanh_range_to_full_byte_range():
    images = np.array([-1.0, 0.0, 1.0, -3.0, 2.5], dtype=np.float32)
    np.testing.assert_array_equal(visualize.to_uint8(images), [0, 128, 255, 0, 255])
    already = np.array([0, 7, 255], dtype=np.uint8)
    np.testing.assert_array_equal(visualize.to_uint8(already), already)


def test_grey_grid_shape_and_tile_positions():
    # Ten 4x5 images, each filled with its own index, so every tile is recognisable.
    images = np.stack([np.full((4, 5, 1), i, dtype=np.uint8) for i in range(10)])
    grid = visualize.image_grid(images, padding=2, pad_value=255)
    # ceil(sqrt(10)) = 4 columns, 3 rows.
    assert grid.shape == (3 * 4 + 2 * 2, 4 * 5 + 3 * 2)
    assert grid.dtype == np.uint8
    for i in range(10):
        row, col = divmod(i, 4)
        tile = grid[row * 6:row * 6 + 4, col * 7:col * 7 + 5]
        assert (tile == i).all(), f"tile {i} misplaced"
    assert (grid[4:6, :] == 255).all()  # padding between the first two rows
    assert (grid[12:, 2 * 7:] == 255).all()  # the two empty cells of the last row


def test_grid_columns_override_and_colour_images():
    images = np.zeros((6, 8, 8, 3), dtype=np.float32)
    grid = visualize.image_grid(images, columns=6, padding=1)
    assert grid.shape == (8, 6 * 8 + 5, 3)
    assert visualize.image_grid(images, columns=2, padding=0).shape == (24, 16, 3)


def test_grid_rejects_unsupported_channels():
    with pytest.raises(ValueError, match="shape"):
        visualize.image_grid(np.zeros((2, 4, 4, 2), dtype=np.float32))


@pytest.mark.parametrize("channels", [1, 3])
def test_save_grid_png_round_trip(tmp_path, channels):
    rng = np.random.default_rng(channels)
    images = rng.uniform(-1, 1, size=(5, 6, 6, channels)).astype(np.float32)
    path = tmp_path / "nested" / "folder" / "grid.png"
    grid = visualize.save_grid(images, path)
    loaded = iio.imread(path)
    np.testing.assert_array_equal(loaded, grid)
    assert loaded.ndim == (2 if channels == 1 else 3)


def _write_frames(tmp_path, count, size=(10, 12)):
    paths = []
    for i in range(count):
        path = tmp_path / f"step_{i:06d}.png"
        iio.imwrite(path, np.full(size, 40 * i, dtype=np.uint8))
        paths.append(path)
    return paths


def test_write_gif_keeps_every_frame_and_loops(tmp_path):
    paths = _write_frames(tmp_path, 5)
    gif = tmp_path / "out" / "frames.gif"
    visualize.write_gif(paths, gif, duration=0.1)
    frames = iio.imread(gif, index=None)
    assert frames.shape[0] == 5
    assert frames.shape[1:3] == (10, 12)
    assert iio.immeta(gif)["loop"] == 0
    # Grey levels survive the GIF palette.
    assert [int(f[..., 0].mean()) if f.ndim == 3 else int(f.mean()) for f in frames] == [
        0, 40, 80, 120, 160]


def test_write_gif_leaves_out_a_frame_of_another_size(tmp_path):
    """A picture saved under a grid's name must not end a run with a traceback."""
    paths = _write_frames(tmp_path, 2)
    odd = tmp_path / "odd.png"
    iio.imwrite(odd, np.zeros((30, 31), dtype=np.uint8))
    gif = tmp_path / "frames.gif"
    visualize.write_gif([paths[0], odd, paths[1]], gif)
    frames = iio.imread(gif, index=None)
    assert frames.shape[0] == 2 and frames.shape[1:3] == (10, 12)
    with pytest.raises(ValueError, match="at least one"):
        visualize.write_gif([], tmp_path / "frames.gif")


def _records(with_quality):
    records = []
    for step in range(0, 1000, 100):
        record = {"step": step, "g_loss": 0.7 + 0.001 * step, "d_loss": 1.4 - 0.0005 * step,
                  "d_real": 0.6, "d_fake": 0.4, "d_entropy": 0.1, "d_kl": 1.2}
        if with_quality and step % 300 == 0:
            record.update(fid=100.0 / (1 + step), kid=0.05, precision=0.6, recall=0.3)
        records.append(record)
    return records


@pytest.mark.parametrize("with_quality", [False, True])
def test_plot_report_writes_png_and_closes_figures(tmp_path, with_quality):
    grid_path = tmp_path / "grids" / "grid.png"
    visualize.save_grid(np.zeros((4, 8, 8, 1), dtype=np.float32), grid_path)
    out = tmp_path / "plots" / "plot.png"
    written = visualize.plot_report(_records(with_quality), out, 2 * np.log(2), np.log(2),
                                    last_grid_path=grid_path)
    assert written == str(out)
    image = iio.imread(out)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert image.std() > 0  # something was drawn
    assert plt.get_fignums() == []


def test_plot_report_without_samples_or_optional_metrics(tmp_path):
    records = [{"step": s, "g_loss": 0.7, "d_loss": 1.4, "d_real": 0.5, "d_fake": 0.5}
               for s in range(3)]
    out = tmp_path / "plot.png"
    visualize.plot_report(records, out, 2 * np.log(2), np.log(2))
    assert iio.imread(out).shape[0] > 100
    assert plt.get_fignums() == []


def test_the_outputs_panel_shows_the_overfitting_signals():
    from matplotlib.figure import Figure

    ax = Figure().subplots()
    records = [{"step": s, "d_real": 0.9, "d_fake": 0.1, "d_holdout": 0.6, "d_trained": 0.8,
                "d_gap": 0.2, "d_sign_real": -0.5, "augment_p": 0.1 * s} for s in (1, 2)]
    visualize._plot_outputs(ax, records, gap_target=0.15)
    labels = {line.get_label() for line in ax.get_lines()}
    assert {"D(held out)", "D(as many trained)", "gap: trained - held out", "E[sign D(x)]",
            "augmentation p", "gap target 0.15: p rises above it"} <= labels
    assert ax.get_ylim()[0] <= -0.5  # a negative E[sign D(x)] stays in view
    plain = Figure().subplots()
    # A run logged before d_gap existed gets no target line with nothing beside it.
    visualize._plot_outputs(plain, [{"step": 1, "d_real": 0.5, "d_fake": 0.5}], gap_target=0.15)
    assert not {"augmentation p", "gap target 0.15: p rises above it"} & {
        line.get_label() for line in plain.get_lines()}


def test_the_quality_panel_shows_a_conditional_runs_means_within_classes():
    from matplotlib.figure import Figure

    ax = Figure().subplots()
    records = [{"step": s, "fid": 40.0, "kid": 0.02, "precision": 0.9, "recall": 0.4,
                "class_precision": 0.8, "class_recall": 0.01, "class_spread": 1.3}
               for s in (1, 2)]
    visualize._plot_quality(ax, records)
    fractions = ax.figure.axes[1]  # the twin axis of the fractions
    lines = {line.get_label(): line for line in fractions.get_lines()}
    assert {"recall", "recall within classes", "precision within classes",
            "spread within classes"} <= set(lines)
    assert lines["recall within classes"].get_color() == lines["recall"].get_color()
    assert lines["recall within classes"].get_linestyle() == "--"
    assert fractions.get_ylim()[1] >= 1.3  # a spread above 1 stays in view
    plain = Figure().subplots()
    visualize._plot_quality(plain, [{"step": 1, "fid": 40.0, "precision": 0.9, "recall": 0.4}])
    labels = {line.get_label() for axis in plain.figure.axes for line in axis.get_lines()}
    assert labels == {"FID", "precision", "recall"}
    assert plain.figure.axes[1].get_ylim() == (-0.02, 1.02)
