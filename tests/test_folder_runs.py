"""Runs on a folder of one's own pictures: checks before anything starts, the folder's files
kept with the run, resumes on a changed folder, and a realistic folder end to end."""

import copy
import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from dcgan.errors import UserError
from dcgan.run.workdir import RunDir
from tests import helpers

# The training flags of a tiny run from the command line.
TINY = ["--config.model.gen_filters=8", "--config.model.disc_filters=8",
        "--config.training.batch_size=8", "--config.training.num_steps=10",
        "--config.training.log_every_steps=5", "--config.data.image_size=32"]


def class_folders(root, names, per_class=8, size=20):
    """Class sub-folders of small RGB PNGs, each class its own colour."""
    rng = np.random.default_rng(0)
    for k, name in enumerate(names):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 60, (size, size, 3)) + 60 * (k % 4)
            Image.fromarray(pixels.astype(np.uint8)).save(root / name / f"{i}.png")
    return root


def no_tensorflow(tmp_path):
    """PYTHONPATH under which importing TensorFlow fails: what runs there ran without it."""
    fake = tmp_path / "no_tensorflow" / "tensorflow"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('TensorFlow imported before the data "
                                      "checks')\n")
    return {"PYTHONPATH": f"{fake.parent}{os.pathsep}{helpers.ROOT}"}


@pytest.mark.parametrize("case, flags, words", [
    ("holdout", [], ["data.holdout=20 leaves no training images", "has 12 image file(s)"]),
    ("batch", ["--config.data.holdout=2", "--config.training.batch_size=16"],
     ["batch_size 16 is more than the 10 training images", "2 held out"]),
    ("missing", ["--config.data.holdout=2", "--config.data.source=folder:/no/such/folder"],
     ["no such directory"]),
    ("features", ["--config.data.holdout=2", "--config.training.eval_every_steps=5",
                  "--config.training.eval_features=/no/classifier.keras"],
     ["feature classifier /no/classifier.keras not found"]),
    ("cache", ["--config.data.holdout=2", "--config.data.cache_dir=CACHE"],
     ["is a file; give a folder"]),
    ("stray", ["--config.data.holdout=2", "--config.model.conditional=True"],
     ["outside the class sub-folders", "stray.png"]),
])
def test_data_checks_come_before_tensorflow_and_before_any_file(tmp_path, case, flags, words):
    pictures = class_folders(tmp_path / "pictures", ["cats", "dogs"], per_class=6)
    if case == "stray":
        shutil.move(pictures / "cats" / "0.png", pictures / "stray.png")
    (tmp_path / "a_file").write_text("not a folder")
    flags = [flag.replace("CACHE", str(tmp_path / "a_file")) for flag in flags]
    run = tmp_path / "run"
    result = helpers.run_cli("dcgan.main", "--config=configs/folder128.py", f"--workdir={run}",
                             f"--config.data.source=folder:{pictures}", *TINY, *flags,
                             env=no_tensorflow(tmp_path))
    helpers.assert_one_line_error(result, *words)
    assert not run.exists()


def test_a_resume_of_another_model_or_on_other_data_is_refused_before_tensorflow(tmp_path,
                                                                                  training):
    pictures = class_folders(tmp_path / "pictures", ["cats", "dogs"], per_class=6)
    run = tmp_path / "run"
    command = ["--config=configs/folder128.py", f"--workdir={run}",
               f"--config.data.source=folder:{pictures}", *TINY, "--config.data.holdout=2"]
    assert training.command(*command).returncode == 0
    before, env = helpers.files_under(str(run)), no_tensorflow(tmp_path)
    for change, words in (("--config.model.gen_filters=16", ["different model",
                                                             "gen_filters: 8 -> 16"]),
                          ("--config.data.holdout=3", ["other data", "data.holdout: 2 -> 3",
                                                       "--allow_new_data"])):
        result = helpers.run_cli("dcgan.main", *command, change, env=env)
        helpers.assert_one_line_error(result, *words)
    assert helpers.files_under(str(run)) == before


def test_a_resume_on_changed_files_needs_allow_new_data_and_is_recorded(tmp_path, training):
    pictures = class_folders(tmp_path / "pictures", ["cats", "dogs"])
    run = str(tmp_path / "run")
    training.run(helpers.tiny_folder_config(pictures), run)
    Image.new("RGB", (20, 20)).save(pictures / "dogs" / "new.png")
    (pictures / "cats" / "0.png").unlink()
    more = helpers.tiny_folder_config(pictures, num_steps=4)
    with pytest.raises(UserError, match=r"other files of the folder \(16 -> 16 files: 1 added "
                       r"\(dogs/new.png\); 1 removed \(cats/0.png\)\).*--allow_new_data"):
        training.run(more, run)
    training.run(more, run, allow_new_data=True)
    with open(RunDir(run).config_history) as f:
        (entry,) = [e for e in map(json.loads, f) if "data.files" in e["changes"]]
    assert entry["step"] == 2 and "1 added (dogs/new.png)" in entry["changes"]["data.files"]
    with open(RunDir(run).data_files) as f:
        assert ["dogs/new.png", os.path.getsize(pictures / "dogs" / "new.png")] in \
            json.load(f)["files"]
    more.training.num_steps = 6
    training.run(more, run)  # the recorded files are now these: no flag needed


def trained_holding_out(training, tmp_path, holdout):
    """(pictures, run folder, config) of a run of 2 steps that held `holdout` pictures out;
    the config asks for 4 steps, so a resume trains on."""
    pictures = class_folders(tmp_path / "pictures", ["cats", "dogs"])
    run = str(tmp_path / "run")
    config = helpers.tiny_folder_config(pictures)
    config.data.holdout = holdout
    training.run(config, run)
    config.training.num_steps = 4
    return pictures, run, config


def test_a_run_holding_pictures_out_refuses_files_added_even_with_allow_new_data(tmp_path,
                                                                                 training):
    pictures, run, config = trained_holding_out(training, tmp_path, 4)
    Image.new("RGB", (20, 20)).save(pictures / "aaa.png")  # first in the list: all move up one
    with pytest.raises(UserError, match=r"data.holdout=4 .*1 added \(aaa.png\).*not even "
                       r"--allow_new_data"):
        training.run(config, run, allow_new_data=True)
    (pictures / "aaa.png").unlink()
    Image.new("RGB", (24, 24), "red").save(pictures / "cats" / "0.png")  # same place, new file
    training.run(config, run, allow_new_data=True)


def test_a_run_holding_pictures_out_refuses_more_held_out_or_another_seed(tmp_path, training):
    """Held-out pictures D trained on would make the gap and the score wrong."""
    _, run, config = trained_holding_out(training, tmp_path, 3)
    for field, value, words in (("holdout", 4, "data.holdout: 3 -> 4"),
                                ("seed", 1, "seed: 0 -> 1")):
        changed = copy.deepcopy(config)
        (changed.data if field == "holdout" else changed)[field] = value
        with pytest.raises(UserError, match=f"{words}.*not even --allow_new_data.*at most 3"):
            training.run(changed, run, allow_new_data=True)
    config.data.holdout = 2  # a part of the same held-out pictures: still never trained on
    training.run(config, run, allow_new_data=True)


def test_a_conditional_resume_on_other_class_folders_is_refused(tmp_path, training):
    pictures = class_folders(tmp_path / "pictures", ["apps", "devices"])
    run = str(tmp_path / "run")
    training.run(helpers.tiny_folder_config(pictures, conditional=True), run)
    shutil.move(pictures / "devices", pictures / "aaa")  # two classes still, renumbered
    with open(RunDir(run).classes) as f:
        before = f.read()
    for allow in (False, True):
        with pytest.raises(UserError, match=r"classes \['apps', 'devices'\].*\['aaa', 'apps'\] "
                           r"\(added aaa, removed devices\).*not even --allow_new_data"):
            training.run(helpers.tiny_folder_config(pictures, True, num_steps=4), run,
                                     allow_new_data=allow)
    with open(RunDir(run).classes) as f:
        assert f.read() == before


def realistic_folder(root, per_class=100):
    """300 pictures in 3 class folders, of mixed sizes, modes (RGB, RGBA, L, P) and formats
    (PNG, JPEG), with 5 links to pictures already there and 3 corrupt files."""
    rng = np.random.default_rng(1)
    for k, name in enumerate(("birds", "boats", "trees")):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            width, height = rng.integers(24, 90, 2)
            pixels = rng.integers(0, 80, (height, width, 3)) + 80 * k
            image = Image.fromarray(pixels.astype(np.uint8))
            mode = ("RGB", "RGBA", "L", "P")[i % 4]
            image = image.convert(mode) if mode != "P" else image.quantize(16)
            jpeg = mode in ("RGB", "L") and i % 8 < 4
            image.save(root / name / f"{i:03d}.{'jpg' if jpeg else 'png'}")
    for i in range(5):
        (root / "boats" / f"link{i}.png").symlink_to(root / "boats" / f"{4 * i + 1:03d}.png")
    for name in ("birds", "boats", "trees"):
        (root / name / "broken.jpg").write_bytes(b"\xff\xd8\xff not a whole JPEG")
    return root


def test_a_realistic_folder_trains_conditionally_resumes_exactly_and_keeps_its_classes(
        tmp_path, caplog, training):
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    pictures = realistic_folder(tmp_path / "pictures")

    def config(num_steps):
        c = helpers.tiny_folder_config(pictures, conditional=True, num_steps=num_steps)
        c.data.holdout = 20
        c.training.checkpoint_every_steps = 2
        return c

    straight, stopped = str(tmp_path / "straight"), str(tmp_path / "stopped")
    with caplog.at_level("INFO", logger="dcgan"):
        training.run(config(4), straight)
    messages = [r.getMessage() for r in caplog.records]
    assert any("skipped 3 unreadable file(s) of 303" in m for m in messages)
    assert any("5 path(s) to a file listed under another name" in m for m in messages)
    assert any("(280 images" in m for m in messages)  # 300 readable, 20 held out
    training.run(config(2), stopped)
    training.run(config(4), stopped)
    a, b = helpers.training_state(straight), helpers.training_state(stopped)
    assert a.keys() == b.keys() and len(a) > 20
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    records = helpers.read_records(stopped)
    assert [r["step"] for r in records] == [2, 4] and "d_holdout" in records[-1]
    with open(RunDir(stopped).classes) as f:
        assert json.load(f)["names"] == ["birds", "boats", "trees"]

    shutil.move(pictures / "trees", pictures / "forest")
    with pytest.raises(UserError, match=r"added forest, removed trees"):
        training.run(config(6), stopped, allow_new_data=True)
