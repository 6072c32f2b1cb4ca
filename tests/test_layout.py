"""The layout of the run folder and of the package: where each file of a run is, what
config.json records, the small helpers every module shares, and the import rules between the
package's folders (import-linter contracts in pyproject.toml)."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from dcgan import errors, files, pixels
from dcgan.run import workdir
from tests import helpers


def test_run_folder_names_are_the_documented_ones(tmp_path):
    run = workdir.RunDir(str(tmp_path))
    names = {name: os.path.relpath(getattr(run, name), tmp_path) for name in (
        "checkpoints", "best_checkpoint", "samples", "tensorboard", "log", "metrics", "config",
        "config_history", "classes", "progress_gif", "report", "eval_results", "lock_file")}
    assert names == {
        "checkpoints": "checkpoints", "best_checkpoint": os.path.join("checkpoints", "best"),
        "samples": "samples", "tensorboard": "tensorboard", "log": "train.log",
        "metrics": "metrics.jsonl", "config": "config.json",
        "config_history": "config_history.jsonl", "classes": "classes.json",
        "progress_gif": "progress.gif", "report": "report.png", "eval_results": "eval.json",
        "lock_file": ".lock"}
    assert run.sample_grid(150) == str(tmp_path / "samples" / "step_000150.png")


def test_sample_grids_are_training_grids_only_in_step_order(tmp_path):
    run = workdir.RunDir(str(tmp_path))
    assert run.sample_grids() == {} and run.unfinished_sample_grids() == []
    os.makedirs(run.samples)
    for name in ("step_000020.png", "step_000003.png", "sample_step000020_seed0.png",
                 "mine.png", f".step_000021.png.{os.getpid()}.tmp"):
        (tmp_path / "samples" / name).write_bytes(b"")
    assert run.sample_grids() == {3: run.sample_grid(3), 20: run.sample_grid(20)}
    assert run.unfinished_sample_grids() == [
        str(tmp_path / "samples" / f".step_000021.png.{os.getpid()}.tmp")]


def test_config_json_leaves_out_how_the_process_split_its_cpu(tmp_path):
    config = helpers.tiny_config()
    config.runtime.virtual_cpu_devices = 2
    root = str(tmp_path)

    def as_training_records_it():
        return json.loads(config.to_json_best_effort())

    workdir.record_config(root, as_training_records_it(), None, True, None, None)
    with open(workdir.RunDir(root).config) as f:
        assert "virtual_cpu_devices" not in f.read()
    # A resume on other hardware is the same run: nothing to record as a change.
    config.runtime.virtual_cpu_devices = 0
    saved = workdir.read_config(root)
    changes = workdir.check_change(root, saved, as_training_records_it(), False)
    workdir.record_config(root, as_training_records_it(), 2, True, saved, changes)
    assert not os.path.exists(workdir.RunDir(root).config_history)
    assert workdir.read_config(root)["runtime"]["virtual_cpu_devices"] == 0  # the default


def test_an_atomic_write_that_fails_leaves_the_old_file(tmp_path):
    path = tmp_path / "sub" / "result.json"
    files.write_json_atomically(path, {"b": 1, "a": 2}, sort_keys=False)
    assert list(json.loads(path.read_text())) == ["b", "a"]
    with pytest.raises(TypeError):
        files.write_json_atomically(path, {"a": object()})  # fails halfway through the dump
    assert json.loads(path.read_text()) == {"b": 1, "a": 2}
    assert os.listdir(path.parent) == ["result.json"]


def test_pixels_go_to_the_model_range_and_back_exactly():
    import tensorflow as tf

    values = np.arange(256, dtype=np.uint8)
    scaled = pixels.to_model_range(values)
    assert scaled.dtype == np.float32 and scaled.min() == -1.0 and scaled.max() == 1.0
    np.testing.assert_array_equal(pixels.to_uint8(scaled), values)
    in_tf = pixels.to_model_range(tf.constant(values))
    np.testing.assert_array_equal(in_tf.numpy(), scaled)
    np.testing.assert_array_equal(pixels.to_uint8(in_tf).numpy(), values)
    np.testing.assert_array_equal(pixels.to_uint8(np.array([-3.0, np.nan, 3.0])), [0, 0, 255])


def test_first_line_of_an_error():
    assert errors.first_line(ValueError("\n  bad value\nat line 3\n")) == "bad value"
    assert errors.first_line(KeyError()) == "KeyError"
    assert errors.first_line(ValueError("x" * 300)) == "x" * 197 + "..."


def lint_imports(root):
    """`lint-imports` over the package and pyproject.toml in `root`."""
    command = shutil.which("lint-imports", path=os.path.dirname(sys.executable)) or \
        shutil.which("lint-imports")
    return subprocess.run([command, "--no-cache"], cwd=root, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(root)), timeout=120)


def test_an_upward_import_breaks_the_layers_contract(tmp_path):
    shutil.copytree(os.path.join(helpers.ROOT, "dcgan"), tmp_path / "dcgan",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(os.path.join(helpers.ROOT, "pyproject.toml"), tmp_path)
    data_module = tmp_path / "dcgan" / "data" / "classes.py"
    data_module.write_text(data_module.read_text() + "\n\nfrom dcgan import main  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "Layers: commands, measurement, training, run folder and quality, data, shared " \
        "BROKEN" in result.stdout, result.stdout
    assert "dcgan.data.classes -> dcgan.main" in result.stdout


def test_the_package_keeps_its_import_rules():
    result = lint_imports(helpers.ROOT)
    assert result.returncode == 0, result.stdout


def test_every_module_of_the_package_has_a_place_in_the_layers():
    """A module the layers contract does not name is checked by no layer rule: adding one
    without placing it would quietly escape the import rules."""
    import tomllib

    with open(os.path.join(helpers.ROOT, "pyproject.toml"), "rb") as f:
        contracts = tomllib.load(f)["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c["type"] == "layers")["layers"]
    named = {name.strip() for layer in layers for name in layer.replace("|", ":").split(":")}
    package = os.path.join(helpers.ROOT, "dcgan")
    modules = {f"dcgan.{entry.removesuffix('.py')}" for entry in os.listdir(package)
               if entry != "__init__.py" and entry != "__pycache__"
               and (entry.endswith(".py") or os.path.isdir(os.path.join(package, entry)))}
    assert modules - named == set(), "name these modules in pyproject.toml's layers contract"
