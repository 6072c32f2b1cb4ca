"""A run on a folder typed as a relative path is scored from any directory, and after the
folder has moved, with --data_path checked against the files the run recorded."""

import json
import os
import shutil

import pytest
from PIL import Image

from dcgan.run import workdir
from tests import helpers


@pytest.fixture(scope="module")
def relative_run(tmp_path_factory, training):
    """A 2-step run on `folder:pictures`, typed relative to the folder it was started in."""
    root = tmp_path_factory.mktemp("moved")
    helpers.write_folder(str(root / "pictures"), n=16)
    config = helpers.tiny_config("folder:pictures", num_steps=2)
    config.data.holdout = 8
    here = os.getcwd()
    os.chdir(root)
    try:
        training.run(config, "run")
    finally:
        os.chdir(here)
    return root


def test_the_folder_is_recorded_resolved_and_as_typed(relative_run):
    with open(workdir.RunDir(str(relative_run / "run")).config) as f:
        data = json.load(f)["data"]
    assert data["source"] == f"folder:{os.path.realpath(relative_run / 'pictures')}"
    assert data["source_as_typed"] == "folder:pictures"


def test_a_moved_folder_is_scored_with_data_path(relative_run, tmp_path):
    run = str(relative_run / "run")
    moved = tmp_path / "elsewhere"
    shutil.copytree(relative_run / "run", tmp_path / "run")
    shutil.copytree(relative_run / "pictures", moved)
    copy = str(tmp_path / "run")
    with open(workdir.RunDir(copy).config) as f:
        recorded = json.load(f)
    recorded["data"]["source"] = f"folder:{tmp_path / 'gone'}"  # where the pictures were
    with open(workdir.RunDir(copy).config, "w") as f:
        json.dump(recorded, f)
    scoring = ["--features=random", "--num_samples=8"]

    result = helpers.run_cli("dcgan.evaluate", f"--workdir={copy}", *scoring)
    assert result.returncode == 2
    helpers.assert_one_line_error(result, str(tmp_path / "gone"), "--data_path=")

    result = helpers.run_cli("dcgan.evaluate", f"--workdir={copy}", f"--data_path={moved}",
                             *scoring)
    assert result.returncode == 0, result.stderr
    assert "8 samples vs 8 held-out images" in result.stdout

    Image.new("RGB", (40, 40)).save(moved / "class0" / "extra.png")
    result = helpers.run_cli("dcgan.evaluate", f"--workdir={run}", f"--data_path={moved}",
                             *scoring)
    assert result.returncode == 2
    helpers.assert_one_line_error(result, f"--data_path={moved} holds other files",
                                  "16 -> 17 files: 1 added (class0/extra.png)")
