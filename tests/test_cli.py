"""The training command as users run it: one-line errors, exit codes, nothing destroyed."""

import os
import re
import subprocess
import sys

import imageio.v3 as iio
import pytest

from dcgan.run.workdir import RunDir
from tests import helpers

TINY = ["--config=configs/default.py", "--config.training.num_steps=2",
        "--config.training.batch_size=4", "--config.model.gen_filters=4",
        "--config.model.disc_filters=4", "--config.model.noise_dim=8",
        "--config.training.precision=float32", "--config.training.log_every_steps=1"]


def tiny_args(tmp_path, *overrides, workdir=None):
    """The training command's arguments for the tiny model, into tmp_path/run or `workdir`."""
    return [*TINY, *overrides, f"--workdir={workdir or tmp_path / 'run'}"]


def train(tmp_path, *overrides, workdir=None):
    """The training command, where it stops before training."""
    return helpers.run_cli("dcgan.main", *tiny_args(tmp_path, *overrides, workdir=workdir))


def test_dry_run_prints_the_resolved_config():
    result = helpers.run_cli("dcgan.main", "--config=configs/mnist.py", "--dry_run",
                             "--config.training.batch_size=64")
    assert result.returncode == 0, result.stderr
    assert "batch_size: 64" in result.stdout and "source: tfds:mnist" in result.stdout


def test_trains_from_the_command_line(tmp_path, training):
    result = training.command(*tiny_args(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "done: samples in" in result.stdout
    run = RunDir(tmp_path / "run")
    assert os.path.exists(run.sample_grid(2))
    with open(run.log) as f:
        assert "step 2" in f.read()


@pytest.mark.parametrize("override, words", [
    ("--config.data.source=ftp:x", ["ftp", "tfds:"]),
    ("--config.data.source=idx:/no/such/dir", ["/no/such/dir"]),
    ("--config.training.bogus=1", ["bogus"]),
    ("--config.training.batch_size=0", ["batch_size"]),
    ("--config.training.num_steps=-5", ["num_steps"]),
    ("--config.data.image_size=48", ["image_size", "48"]),
])
def test_bad_config_is_one_line(tmp_path, override, words):
    result = train(tmp_path, override)
    helpers.assert_one_line_error(result, *words)
    checkpoints = RunDir(tmp_path / "run").checkpoints
    assert not os.path.exists(checkpoints) or not os.listdir(checkpoints)


@pytest.mark.slow
def test_empty_folder_and_corrupt_image(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    helpers.assert_one_line_error(train(tmp_path, f"--config.data.source=folder:{empty}"),
                                  str(empty))
    images = tmp_path / "images"
    helpers.write_folder(str(images), n=3)
    (images / "broken.png").write_bytes(b"\x89PNG not really")
    # The unreadable file is skipped with a warning naming it; the 3 readable images are then
    # too few for a batch of 4, which is the one error.
    result = train(tmp_path, f"--config.data.source=folder:{images}")
    helpers.assert_one_line_error(result, "batch_size 4 is more than the 3 training images")
    assert "broken.png" in result.stderr


def test_unwritable_workdir(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    helpers.assert_one_line_error(train(tmp_path, workdir=blocker / "run"),
                                  f"{blocker} is a file, not a folder")
    assert blocker.read_text() == "not a folder"


def test_incompatible_checkpoint_is_refused_and_kept(tmp_path, training):
    assert training.command(*tiny_args(tmp_path)).returncode == 0
    run = RunDir(str(tmp_path / "run"))
    before = helpers.files_under(run.root)
    result = train(tmp_path, "--config.model.gen_filters=8", "--config.training.num_steps=4")
    helpers.assert_one_line_error(result, "different model", "gen_filters")
    after = helpers.files_under(run.root)
    for bookkeeping in (run.log, run.lock_file):  # appended log line, holder of the run lock
        name = os.path.relpath(bookkeeping, run.root)
        after.pop(name), before.pop(name)
    assert after == before
    iio.imread(run.sample_grid(2))


def test_two_presets_are_refused_in_one_line(tmp_path):
    result = helpers.run_cli("dcgan.main", "--config=configs/folder64.py",
                             "--config=configs/mnist.py", "--config.data.image_size=32",
                             f"--workdir={tmp_path / 'run'}")
    helpers.assert_one_line_error(result, "--config is given 2 times",
                                  "configs/folder64.py, configs/mnist.py", "--config.FIELD=VALUE")
    assert not os.path.exists(tmp_path / "run")


@pytest.mark.parametrize("module", ["dcgan.main", "dcgan.sample", "dcgan.evaluate",
                                    "dcgan.classifier", "dcgan.report"])
def test_every_command_refuses_stray_arguments(module):
    result = helpers.run_cli(module, "stray")
    helpers.assert_one_line_error(result, "unexpected arguments stray", "--name=value")


@pytest.mark.parametrize("script, module, names", [
    ("dcgan-train", "dcgan.main", ["--config", "--workdir", "--[no]dry_run"]),
    ("dcgan-sample", "dcgan.sample", ["--num_images", "--output", "--[no]overwrite"]),
    ("dcgan-evaluate", "dcgan.evaluate", ["--num_samples", "--features"]),
    ("dcgan-report", "dcgan.report", ["--workdir"]),
])
def test_console_script_help_lists_the_flags(script, module, names):
    """What the installed wrapper does: set argv[0] to the script's name, call run()."""
    code = f"import sys; sys.argv = [{script!r}, '--help']; from {module} import run; run()"
    console = subprocess.run([sys.executable, "-c", code], cwd=helpers.ROOT, capture_output=True,
                             text=True, timeout=120)
    assert console.returncode == 0, console.stderr
    for name in [*names, "--[no]verbose"]:
        assert f"  {name}:" in console.stdout, console.stdout
    flag_lines = [line for line in console.stdout.splitlines() if line.startswith("  ")]
    module_help = helpers.run_cli(module, "--help").stdout
    assert flag_lines == [line for line in module_help.splitlines() if line.startswith("  ")]
    assert module_help.splitlines()[0] in console.stdout  # the command's own description


def test_tensorflow_chatter_only_with_verbose(tmp_path, training):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["CUDA_VISIBLE_DEVICES"] = ""  # TensorFlow still calls cuInit, and fails, without a GPU

    def train_with(*flags):
        result = subprocess.run([sys.executable, "-m", "dcgan.main", *TINY, *flags],
                                cwd=helpers.ROOT, env=env, capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == 0, result.stderr
        return result.stderr

    quiet = train_with(f"--workdir={tmp_path / 'quiet'}")
    for chatter in ("cuInit", "remapper failed", "absl::InitializeLog", "oneDNN", "Sharding"):
        assert chatter not in quiet, quiet
    assert "INFO step 2/2" in quiet  # the run's own log lines stay
    verbose = train_with(f"--workdir={tmp_path / 'verbose'}", "--verbose")
    assert re.search(r"^[IWEF]\d{4} ", verbose, re.MULTILINE), verbose  # C++ log lines are back
    assert "INFO step 2/2" in verbose
