"""Paths as users type them: `~`, trailing slashes, and a run folder among the pictures."""

import json
import os

import pytest

from dcgan.errors import UserError
from dcgan.run import start_check, workdir
from tests import helpers


def test_a_home_relative_workdir_is_expanded_by_every_command(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    result = helpers.run_cli("dcgan.report", "--workdir=~/no_run_here",
                             env={"HOME": str(home)})
    helpers.assert_one_line_error(result, f"workdir {home}/no_run_here does not exist")


def test_a_run_folder_inside_the_picture_folder_is_refused_before_anything(tmp_path):
    pictures = tmp_path / "pictures"
    helpers.write_folder(str(pictures))
    config = helpers.tiny_config(f"folder:{pictures}")
    for root in (pictures / "run", pictures):
        with pytest.raises(UserError, match="inside the picture folder"):
            start_check.check_before_start(config, str(root), False)
    assert not (pictures / "run").exists()
    start_check.check_before_start(config, str(tmp_path / "run"), False)  # beside it: fine


def test_a_run_folder_reached_through_a_link_in_the_picture_folder_is_refused(tmp_path):
    pictures = tmp_path / "pictures"
    helpers.write_folder(str(pictures))
    (tmp_path / "runs").mkdir()
    (pictures / "outputs").symlink_to(tmp_path / "runs")
    config = helpers.tiny_config(f"folder:{pictures}")
    with pytest.raises(UserError, match=r"inside the picture folder .* \(through .*runs\)"):
        start_check.check_before_start(config, str(tmp_path / "runs" / "a"), False)


def test_a_dry_run_checks_the_folder_as_training_would(tmp_path):
    pictures = tmp_path / "pictures"
    helpers.write_folder(str(pictures), n=40)  # 20 held out, 20 to train on
    missing = helpers.run_cli("dcgan.main", "--config=configs/folder32.py", "--dry_run",
                              f"--config.data.source=folder:{tmp_path / 'nothing'}")
    helpers.assert_one_line_error(missing, "no such directory")
    inside = helpers.run_cli("dcgan.main", "--config=configs/folder32.py", "--dry_run",
                             f"--config.data.source=folder:{pictures}",
                             f"--workdir={pictures / 'run'}")
    helpers.assert_one_line_error(inside, "inside the picture folder")
    fine = helpers.run_cli("dcgan.main", "--config=configs/folder32.py", "--dry_run",
                           f"--config.data.source=folder:{pictures}")
    assert fine.returncode == 0, fine.stderr
    assert not (pictures / "run").exists()


def test_the_same_folder_spelt_another_way_is_the_same_data(tmp_path, monkeypatch):
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    monkeypatch.chdir(tmp_path)
    root = str(tmp_path / "run")
    os.makedirs(root)
    recorded = json.loads(helpers.tiny_config(f"folder:{pictures}").to_json_best_effort())
    workdir.record_config(root, recorded, None, True, None, None)
    saved = workdir.read_config(root)
    for spelt in (f"folder:{pictures}/", "folder:pictures", "folder:./pictures/"):
        again = json.loads(helpers.tiny_config(spelt).to_json_best_effort())
        assert workdir.check_change(root, saved, again, False) == {}  # no refusal, no change
    other = json.loads(helpers.tiny_config(f"folder:{tmp_path}").to_json_best_effort())
    with pytest.raises(UserError, match="other data"):
        workdir.check_change(root, saved, other, False)


@pytest.mark.parametrize("pictures_in_folder, fix", [
    (10, "--config.data.holdout=1 --config.training.batch_size=4"),
    # Nothing can be held out of one picture, so the gap rule, which steers by them, goes too.
    (1, "--config.data.holdout=0 --config.training.batch_size=1 "
        "--config.training.ada_gap_target=0")])
def test_a_folder_smaller_than_the_held_out_pictures_gets_one_fix_that_works(
        tmp_path, pictures_in_folder, fix):
    pictures = tmp_path / "pictures"
    helpers.write_folder(str(pictures), n=pictures_in_folder)
    command = ["--config=configs/folder32.py", "--dry_run",
               f"--config.data.source=folder:{pictures}"]
    refused = helpers.run_cli("dcgan.main", *command)
    helpers.assert_one_line_error(refused, "data.holdout=20 leaves no training images",
                                  f"has {pictures_in_folder} image file(s)", fix)
    fixed = helpers.run_cli("dcgan.main", *command, *fix.split())
    assert fixed.returncode == 0, fixed.stderr
