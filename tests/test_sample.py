"""The sample command as users run it on a finished run: every output form, export, errors."""

import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile

import imageio.v3 as iio
import numpy as np
import pytest

from dcgan.errors import UserError
from dcgan.run import checkpoints, sample_output, workdir
from dcgan.run.workdir import RunDir
from dcgan.training import train
from tests import helpers, unwritable

SIZE = 28  # helpers.tiny_config's image size
UNRESTORED_WARNINGS = ("Value in checkpoint could not be found", "Unresolved object")

# Runs dcgan.sample in this process's child and reports its peak memory in MiB.
PEAK_MEMORY = """
import resource, runpy, sys
sys.argv[0] = "dcgan-sample"
try:
    runpy.run_module("dcgan.sample", run_name="__main__")
except SystemExit as stop:
    code = stop.code
print("peak_mib", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
sys.exit(code)
"""

# Loads both exports in a fresh process that never imports dcgan.
RELOAD = """
import sys
import keras
import numpy as np
import tensorflow as tf
folder, noise_file, out_file = sys.argv[1:]
noise = np.load(noise_file)
served = tf.saved_model.load(folder + "/saved_model").signatures["serving_default"]
images = served(noise=tf.constant(noise))["images"].numpy()
generator = keras.models.load_model(folder + "/generator.keras")
floats = generator.predict(noise, verbose=0)
np.savez(out_file, images=images, floats=floats)
"""


@pytest.fixture(scope="module")
def run(training):
    """A finished tiny run with an EMA generator: checkpoints at steps 2 and 4."""
    config = helpers.tiny_config()
    config.model.ema_decay = 0.5
    root = training.finished(config)
    grid_noise = train.grid_noise(config.training.num_grid_images, config.model.noise_dim,
                                  config.seed)
    return {"root": root, "grid_noise": grid_noise.numpy(), "noise_dim": config.model.noise_dim}


@pytest.fixture(scope="module")
def reference(run, tmp_path_factory):
    """Ten images of seed 3 as .npz, and the peak memory of the command that wrote them."""
    path = tmp_path_factory.mktemp("reference") / "ten.npz"
    result = sample(run, "--num_images=10", "--seed=3", f"--output={path}", script=PEAK_MEMORY)
    assert "ckpt-4 (EMA generator)" in result.stdout
    with np.load(path) as arrays:
        return {"images": arrays["images"], "noise": arrays["noise"], "peak": peak_mib(result)}


def sample(run, *args, script=None):
    """Run the sample command on the run; it must succeed without restore warnings."""
    if script is None:
        result = helpers.run_cli("dcgan.sample", f"--workdir={run['root']}", *args)
    else:
        result = subprocess.run([sys.executable, "-c", script, f"--workdir={run['root']}", *args],
                                cwd=helpers.ROOT, env=helpers.command_env(), capture_output=True,
                                text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    for warning in UNRESTORED_WARNINGS:
        assert warning not in result.stderr
    assert "Traceback" not in result.stderr
    return result


def peak_mib(result):
    return float(result.stdout.split("peak_mib")[1])


def tiles(grid, rows, columns, padding=2):
    """Cut a grey grid written by visualize.save_grid back into (N, H, W, 1) images."""
    assert grid.shape == (rows * SIZE + (rows - 1) * padding,
                          columns * SIZE + (columns - 1) * padding)
    step = SIZE + padding
    return np.stack([grid[r * step:r * step + SIZE, c * step:c * step + SIZE]
                     for r in range(rows) for c in range(columns)])[..., None]


def test_npz_same_seed_same_images_in_flat_memory(run, reference, tmp_path):
    ten = reference
    assert ten["images"].dtype == np.uint8 and ten["images"].shape == (10, SIZE, SIZE, 1)
    assert ten["noise"].dtype == np.float32 and ten["noise"].shape == (10, run["noise_dim"])
    assert len({image.tobytes() for image in ten["images"]}) == 10
    # 20000 images are 63 MB as float32: held at once, they would show in the peak.
    path = tmp_path / "many.npz"
    result = sample(run, "--num_images=20000", "--seed=3", f"--output={path}",
                    script=PEAK_MEMORY)
    assert peak_mib(result) - ten["peak"] < 30, (ten["peak"], peak_mib(result))
    with np.load(path) as many:
        assert many["images"].shape == (20000, SIZE, SIZE, 1)
        np.testing.assert_array_equal(many["noise"][:10], ten["noise"])
        np.testing.assert_array_equal(many["images"][:10], ten["images"])


def test_grid_and_export_round_trip_in_a_fresh_process(run, reference, tmp_path):
    grid_path, export = tmp_path / "grid.png", tmp_path / "export"
    result = sample(run, "--num_images=4", "--seed=3", f"--output={grid_path}",
                    f"--export={export}")
    assert "serving_default" in result.stdout
    np.testing.assert_array_equal(tiles(iio.imread(grid_path), 2, 2), reference["images"][:4])

    # The command generates 64 at a time; the exports get the same batch: the ten noise
    # vectors, zeros, then the training run's own grid noise.
    noise = np.concatenate([reference["noise"], np.zeros((54, run["noise_dim"]), np.float32),
                            run["grid_noise"]])
    np.save(tmp_path / "noise.npy", noise)
    reload = subprocess.run(
        [sys.executable, "-c", RELOAD, str(export), str(tmp_path / "noise.npy"),
         str(tmp_path / "out.npz")],
        cwd=tmp_path, env=helpers.command_env(), capture_output=True, text=True, timeout=300)
    assert reload.returncode == 0, reload.stderr
    with np.load(tmp_path / "out.npz") as out:
        images, floats = out["images"], out["floats"]
    assert images.dtype == np.uint8 and images.shape == (68, SIZE, SIZE, 1)
    np.testing.assert_array_equal(images[:10], reference["images"])
    np.testing.assert_allclose((floats[:10] + 1) * 127.5, reference["images"], atol=0.51)
    # The EMA generator is the default: the export redraws the run's last training grid.
    grid = iio.imread(RunDir(run["root"]).sample_grid(4))
    assert np.abs(images[64:].astype(int) - tiles(grid, 2, 2)).max() <= 1


def test_folder_truncation_and_interpolation(run, reference, tmp_path):
    folder = tmp_path / "pngs"
    result = sample(run, "--num_images=4", "--seed=3", "--step=2", "--no_ema",
                    f"--output={folder}")
    assert "ckpt-2 (trained generator)" in result.stdout
    assert sorted(os.listdir(folder)) == [f"{i:06d}.png" for i in range(4)]
    earlier = np.stack([iio.imread(folder / f"{i:06d}.png") for i in range(4)])[..., None]
    assert earlier.shape == (4, SIZE, SIZE, 1)
    assert not np.array_equal(earlier, reference["images"][:4])

    truncated = tmp_path / "truncated.npz"
    sample(run, "--num_images=10", "--seed=3", "--truncation=0.5", f"--output={truncated}")
    z, t = reference["noise"], np.load(truncated)["noise"]
    assert np.abs(t).max() <= 0.5
    kept = np.abs(z) <= 0.5
    assert kept.any() and (~kept).any()
    np.testing.assert_array_equal(t[kept], z[kept])  # only the entries beyond T are redrawn

    result = sample(run, "--interpolate=5", "--num_images=2", "--seed=3")
    grid_path = os.path.join(RunDir(run["root"]).samples, "interpolation_step000004_seed3.png")
    assert grid_path in result.stdout
    rows = tiles(iio.imread(grid_path), 2, 5).reshape(2, 5, SIZE, SIZE, 1)
    # Pair j walks from sample 2j to sample 2j+1 of the same seed.
    np.testing.assert_array_equal(rows[:, 0], reference["images"][[0, 2]])
    np.testing.assert_array_equal(rows[:, -1], reference["images"][[1, 3]])
    assert all(len({image.tobytes() for image in row}) == 5 for row in rows)
    gif = iio.imread(grid_path.replace(".png", ".gif"), index=None)
    assert gif.shape[0] == 2 * 5 - 2  # there and back, the ends shown once


@pytest.mark.parametrize("case, words", [
    ("no_workdir", ["--workdir is required"]),
    ("missing_workdir", ["does not exist"]),
    ("not_a_run", ["config.json"]),
    ("no_checkpoint", ["no checkpoint in", "train first"]),
    ("missing_step", ["step 3", "steps kept: 2, 4"]),
    ("no_best", ["no best checkpoint in", "eval_every_steps"]),
    ("unwritable_output", ["cannot write --output", "not a folder"]),
    ("unknown_output", ["--output=out.jpg", ".png", ".npz"]),
])
def test_bad_input_is_one_line(run, tmp_path, case, words):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    empty_run = tmp_path / "empty_run"
    os.makedirs(RunDir(empty_run).checkpoints)
    shutil.copy(RunDir(run["root"]).config, empty_run)
    workdir = f"--workdir={run['root']}"
    args = {
        "no_workdir": [],
        "missing_workdir": [f"--workdir={tmp_path / 'nowhere'}"],
        "not_a_run": [f"--workdir={tmp_path}"],
        "no_checkpoint": [f"--workdir={empty_run}"],
        "missing_step": [workdir, "--step=3"],
        "no_best": [workdir, "--checkpoint=best"],
        "unwritable_output": [workdir, f"--output={blocker / 'grid.png'}"],
        "unknown_output": [workdir, "--output=out.jpg"],
    }[case]
    before = helpers.files_under(run["root"])
    helpers.assert_one_line_error(helpers.run_cli("dcgan.sample", *args), *words)
    assert helpers.files_under(run["root"]) == before
    assert blocker.read_text() == "a file"


def test_checkpoint_of_another_model_is_refused(run):
    """A config.json edited after training: the restore fails with one clear sentence."""
    config = workdir.read_config(run["root"])
    config.model.gen_filters = 8
    checkpoint = os.path.join(RunDir(run["root"]).checkpoints, "ckpt-4")
    with pytest.raises(UserError, match="ckpt-4 holds no ema generator matching the run's "
                                        "config.json"):
        checkpoints.restore_generator(config, checkpoint, use_ema=True)


def test_interrupted_folder_output_holds_only_whole_images(run, tmp_path):
    folder = tmp_path / "pngs"
    process = subprocess.Popen(
        [sys.executable, "-m", "dcgan.sample", f"--workdir={run['root']}", "--num_images=200000",
         "--batch_size=16", f"--output={folder}"],
        cwd=helpers.ROOT, env=helpers.command_env(), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (folder.is_dir() and len(os.listdir(folder)) >= 40):
            assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr
    names = sorted(os.listdir(folder))
    assert names == helpers.png_names(folder), names  # no temporary file left behind
    assert len(names) >= 40
    for name in names:  # a torn PNG would fail to decode
        assert iio.imread(folder / name).shape == (SIZE, SIZE), name


def test_used_folder_is_refused_unless_overwrite(run, tmp_path):
    folder = tmp_path / "pngs"
    sample(run, "--num_images=5", "--seed=1", f"--output={folder}")
    (folder / "notes.txt").write_text("mine")
    before = helpers.files_under(str(folder))

    refused = helpers.run_cli("dcgan.sample", f"--workdir={run['root']}", "--num_images=3",
                              "--seed=2", f"--output={folder}")
    helpers.assert_one_line_error(refused, f"--output={folder} already holds 6 files or folders",
                                  "--overwrite")
    assert helpers.files_under(str(folder)) == before

    sample(run, "--num_images=3", "--seed=2", f"--output={folder}", "--overwrite")
    assert helpers.png_names(folder) == [f"{i:06d}.png" for i in range(3)]
    assert (folder / "notes.txt").read_text() == "mine"  # not a file the command writes
    second = tmp_path / "second.npz"
    sample(run, "--num_images=3", "--seed=2", f"--output={second}")
    written = np.stack([iio.imread(folder / f"{i:06d}.png") for i in range(3)])[..., None]
    np.testing.assert_array_equal(written, np.load(second)["images"])


def test_grid_too_large_to_build_points_to_the_streaming_forms(run, tmp_path):
    grid = tmp_path / "grid.png"
    result = helpers.run_cli("dcgan.sample", f"--workdir={run['root']}", "--num_images=200000",
                             f"--output={grid}")
    helpers.assert_one_line_error(result, "200000 images of 28x28", "--output=DIR/",
                                  "--output=FILE.npz")
    assert not grid.exists()
    most = sample_output.MAX_GRID_PIXELS // (SIZE * SIZE)
    assert f"(at most {most})" in result.stderr


def test_used_export_folder_is_refused_unless_overwrite(run, tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    (export / "generator.keras").write_text("an earlier export")
    (export / "notes.txt").write_text("mine")
    before = helpers.files_under(str(export))
    refused = helpers.run_cli("dcgan.sample", f"--workdir={run['root']}", f"--export={export}")
    helpers.assert_one_line_error(refused, f"--export={export} already holds 2 files or folders",
                                  "--overwrite")
    assert helpers.files_under(str(export)) == before

    sample(run, f"--export={export}", "--overwrite")
    assert zipfile.is_zipfile(export / "generator.keras")  # a .keras file is a zip archive
    assert (export / "saved_model" / "saved_model.pb").is_file()
    assert (export / "notes.txt").read_text() == "mine"


def test_a_full_disk_leaves_no_images_behind(run, tmp_path):
    disk = tmp_path / "disk"
    with unwritable.small_disk(str(disk), 64):  # room for a few dozen of the 300 PNGs
        result = helpers.run_cli("dcgan.sample", f"--workdir={run['root']}",
                                 "--num_images=300", f"--output={disk / 'pngs'}")
        left = helpers.files_under(str(disk))
    helpers.assert_one_line_error(result, "No space left on device", "removed", "free some space")
    assert left == {}
