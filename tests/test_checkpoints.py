"""Every command finds, verifies and restores checkpoints the same way, past torn ones."""

import glob
import os

import pytest

from dcgan.run import checkpoints
from dcgan.run.workdir import RunDir
from tests import helpers

FALLBACK = "ckpt-6 cannot be read"
OLDER = "using the older ckpt-4 instead"


@pytest.fixture(scope="module")
def finished(tmp_path_factory, training):
    """A run with checkpoints at steps 2, 4, 6, an EMA generator, a best checkpoint, and the
    classifier that scored it."""
    root = tmp_path_factory.mktemp("ckpt")
    data, clf = helpers.idx_with_classifier(str(root))
    config = helpers.tiny_config(f"idx:{data}", num_steps=6, eval_every_steps=2,
                                 eval_num_samples=16, eval_features=clf)
    config.model.ema_decay = 0.5
    workdir = str(root / "run")
    training.run(config, workdir)
    return {"workdir": workdir, "config": config, "clf": clf}


@pytest.fixture
def run(finished, tmp_path):
    """A copy of the finished run that a test may damage."""
    return helpers.copy_run(finished["workdir"], tmp_path / "run")


def tear(folder, step):
    """Cut a checkpoint's data file in `folder` in half, as a kill during its write would."""
    (data_file,) = glob.glob(os.path.join(folder, f"ckpt-{step}.data-*"))
    with open(data_file, "r+b") as f:
        f.truncate(os.path.getsize(data_file) // 2)


def whole_steps(workdir):
    return sorted(int(os.path.basename(p)[5:-6]) for p in
                  glob.glob(os.path.join(RunDir(workdir).checkpoints, "ckpt-*.index")))


def ok(result):
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


def test_a_torn_newest_checkpoint_every_command_falls_back(run, finished, tmp_path, training):
    tear(RunDir(run).checkpoints, 6)
    before = helpers.files_under(run)
    grid = ok(helpers.run_cli("dcgan.sample", f"--workdir={run}",
                              f"--output={tmp_path / 'grid.png'}"))
    exported = ok(helpers.run_cli("dcgan.sample", f"--workdir={run}",
                                  f"--export={tmp_path / 'export'}"))
    scored = ok(helpers.run_cli("dcgan.evaluate", f"--workdir={run}", "--num_samples=8",
                                f"--features={finished['clf']}"))
    for result in (grid, exported, scored):
        assert FALLBACK in result.stderr and OLDER in result.stderr, result.stderr
    assert "from ckpt-4 (EMA generator)" in grid.stdout
    assert "exported ckpt-4 (EMA generator)" in exported.stdout
    assert "ckpt-4 (ema_generator, step 4)" in scored.stdout
    # Reading commands leave the run folder as they found it (a run may be training in it).
    after = helpers.files_under(run)
    assert set(after) - set(before) == {os.path.relpath(RunDir(run).eval_results, run)}
    assert all(after[name] == before[name] for name in before)

    # Training falls back the same way, sets the torn files aside, and keeps
    # training.keep_checkpoints (3) checkpoints, not the ones recovered from before the tear too.
    config = finished["config"]
    config.training.num_steps = 12
    training.run(config, run)
    assert sorted(os.listdir(os.path.join(RunDir(run).checkpoints, "damaged"))) == [
        "ckpt-6.data-00000-of-00001", "ckpt-6.index"]
    assert whole_steps(run) == [8, 10, 12]


def test_a_deleted_newest_index_every_command_takes_the_previous_one(run, finished, tmp_path):
    os.remove(os.path.join(RunDir(run).checkpoints, "ckpt-6.index"))
    grid = ok(helpers.run_cli("dcgan.sample", f"--workdir={run}",
                              f"--output={tmp_path / 'grid.png'}"))
    scored = ok(helpers.run_cli("dcgan.evaluate", f"--workdir={run}", "--num_samples=8",
                                f"--features={finished['clf']}"))
    for result in (grid, scored):
        assert FALLBACK in result.stderr and OLDER in result.stderr, result.stderr
    assert "from ckpt-4 (EMA generator)" in grid.stdout
    assert "ckpt-4 (ema_generator, step 4)" in scored.stdout


def test_a_torn_chosen_checkpoint_is_one_line(run, finished):
    tear(RunDir(run).checkpoints, 6)
    helpers.assert_one_line_error(helpers.run_cli("dcgan.sample", f"--workdir={run}", "--step=6"),
                   "ckpt-6 cannot be read", "pick another --step")
    helpers.assert_one_line_error(helpers.run_cli("dcgan.sample", f"--workdir={run}", "--step=5"),
                   "no checkpoint of step 5", "steps kept: 2, 4, 6")
    (best,) = glob.glob(os.path.join(RunDir(run).best_checkpoint, "ckpt-*.index"))
    tear(RunDir(run).best_checkpoint, checkpoints.step_of(best[:-len(".index")]))
    for module, extra in (("dcgan.sample", "--num_images=4"),
                          ("dcgan.evaluate", f"--features={finished['clf']}")):
        result = helpers.run_cli(module, f"--workdir={run}", "--checkpoint=best", extra)
        helpers.assert_one_line_error(result, "checkpoints/best reads back whole")


def test_a_resume_removes_only_the_records_the_run_wrote(run, finished, training):
    """Grids past the resumed step are dropped; a user's own files in samples/ stay."""
    tear(RunDir(run).checkpoints, 6)
    samples = RunDir(run).samples
    mine = {"step_000006_copy.png": b"my copy", "notes.txt": b"good one"}
    for name, content in mine.items():
        with open(os.path.join(samples, name), "wb") as f:
            f.write(content)
    config = finished["config"]
    config.training.num_steps = 4  # resumes at 4 and has nothing left to train
    training.run(config, run)
    names = set(os.listdir(samples))
    assert os.path.basename(RunDir(run).sample_grid(6)) not in names
    assert os.path.basename(RunDir(run).sample_grid(4)) in names
    for name, content in mine.items():
        with open(os.path.join(samples, name), "rb") as f:
            assert f.read() == content
