"""Nothing learnt is lost: Ctrl-C, SIGTERM, kill -9, torn checkpoints, NaN, a full disk, a lock.

The signal tests start real training processes, interrupt them while they train and resume
them; the others run `train_and_evaluate` in this process, where the failure can be staged
(a truncated checkpoint, a file-size limit, a learning rate that overflows).
"""

import collections
import glob
import itertools
import math
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.util import event_pb2

from dcgan.errors import UserError
from dcgan.run import checkpoints
from dcgan.run.workdir import RunDir
from dcgan.training import recovery
from dcgan.training import step as training_step
from tests import helpers

STEP_LINE = re.compile(r"\bstep (\d+)/\d+")
RESUMED_AT = re.compile(r"\b(?:resuming|starting) at step (\d+) of")
FOREVER = 10**6  # num_steps of a run that is interrupted long before its end


def cli_args(data, workdir, *overrides):
    return ["--config=configs/default.py", f"--config.data.source=npz:{data}",
            "--config.training.batch_size=4", "--config.model.gen_filters=4",
            "--config.model.disc_filters=4", "--config.model.noise_dim=8",
            "--config.model.kernel_size=3", "--config.training.precision=float32",
            "--config.training.num_grid_images=4", "--config.training.log_every_steps=1",
            *overrides, f"--workdir={workdir}"]


class Run:
    """A training process whose stderr is read line by line as it comes."""

    def __init__(self, data, workdir, *overrides):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dcgan.main", *cli_args(data, workdir, *overrides)],
            cwd=helpers.ROOT, env=helpers.command_env(), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.process.stderr:
            with self.changed:
                self.lines.append(line)
                self.changed.notify_all()
        with self.changed:
            self.lines.append(None)  # end of output
            self.changed.notify_all()

    def wait_for(self, accept, timeout=240):
        """The first result of accept(line) that is not None, waiting for more lines."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self.changed:
            while True:
                for line in self.lines[seen:]:
                    assert line is not None, "the run ended early:\n" + self.stderr()
                    found = accept(line)
                    if found is not None:
                        return found
                seen = len(self.lines)
                remaining = deadline - time.monotonic()
                assert remaining > 0, "no such line in time:\n" + self.stderr()
                self.changed.wait(remaining)

    def wait_for_step(self, at_least):
        """The first logged step >= at_least (the run is training by then)."""
        def step_reached(line):
            match = STEP_LINE.search(line)
            return int(match.group(1)) if match and int(match.group(1)) >= at_least else None
        return self.wait_for(step_reached)

    def signal(self, *signums):
        for i, signum in enumerate(signums):
            if i:  # the same signal twice before the first is handled would count once
                self.wait_for(lambda line: True if "saving a checkpoint" in line else None)
            self.process.send_signal(signum)

    def finish(self, timeout=120):
        returncode = self.process.wait(timeout=timeout)
        self.reader.join(timeout=10)
        return returncode

    def stderr(self):
        return "".join(line for line in self.lines if line is not None)

    def resumed_at(self):
        return int(RESUMED_AT.search(self.stderr()).group(1))


def latest_step(workdir):
    """The step a resume starts from: the newest checkpoint that reads back whole. A kill can
    land after a checkpoint is written whole but before the index names it (seen under load)."""
    return checkpoints.step_of(checkpoints.newest_whole(RunDir(workdir).checkpoints))


def metric_steps(workdir):
    records = helpers.read_records(workdir)
    for record in records:
        assert all(math.isfinite(v) for v in record.values()), record
    return [r["step"] for r in records]


def tensorboard_steps(workdir):
    """Steps with summaries; fails if any (tag, step) was written twice."""
    seen = collections.Counter()
    for path in glob.glob(os.path.join(RunDir(workdir).tensorboard, "**", "events.out.tfevents.*"),
                          recursive=True):
        for raw in tf.data.TFRecordDataset(path):
            event = event_pb2.Event.FromString(raw.numpy())
            if event.step > 0:  # step 0: each run's file header and dashboard layout
                seen.update((value.tag, event.step) for value in event.summary.value)
    twice = [key for key, count in seen.items() if count > 1]
    assert not twice, f"TensorBoard shows these twice: {twice[:5]}"
    return sorted({step for _, step in seen})


def assert_whole_run(workdir, num_steps, sample_every):
    """The run ended at num_steps with every step logged once, as if never interrupted."""
    assert latest_step(workdir) == num_steps
    steps = list(range(1, num_steps + 1))
    assert metric_steps(workdir) == steps
    assert tensorboard_steps(workdir) == steps
    expected = sorted({*range(sample_every, num_steps + 1, sample_every), num_steps})
    assert list(RunDir(workdir).sample_grids()) == expected
    assert len(os.listdir(RunDir(workdir).samples)) == len(expected)


@pytest.fixture
def data(tmp_path):
    path = str(tmp_path / "digits.npz")
    helpers.write_npz(path)
    return path


@pytest.fixture
def start_run(training):
    """Starts Runs; any still going when the test ends (it failed) is killed."""
    runs = []

    def start(*args):
        runs.append(Run(*args))
        return runs[-1]

    yield start
    for run in runs:
        if run.process.poll() is None:
            run.process.kill()
            run.process.wait()


def test_signals_and_kills_lose_nothing(tmp_path, data, start_run):
    """Ctrl-C, SIGTERM and kill -9 at random moments, each followed by a resume."""
    run_dir = str(tmp_path / "run")
    # Checkpoints every 3 steps: a stop between them must save one of its own. Kills can land
    # in a checkpoint write, a sweep of old checkpoints or a sample write.
    every = ["--config.training.checkpoint_every_steps=3",
             "--config.training.sample_every_steps=2"]
    rng = random.Random(0)
    resumed_from = []
    for signum in (signal.SIGINT, signal.SIGKILL, signal.SIGTERM, signal.SIGKILL):
        saved = latest_step(run_dir) if os.path.exists(run_dir) else None
        run = start_run(data, run_dir, f"--config.training.num_steps={FOREVER}", *every)
        run.wait_for_step((saved or 0) + 4)
        if not resumed_from:  # meanwhile a second run on the same workdir is refused
            refused = helpers.run_cli(
                "dcgan.main", *cli_args(data, run_dir, "--config.training.num_steps=9"))
            assert refused.returncode == 2 and "Traceback" not in refused.stderr
            assert refused.stderr.count("error: ") == 1, refused.stderr
            assert f"is in use by another training run (pid {run.process.pid})" in \
                refused.stderr
            with open(RunDir(run_dir).log) as f:
                assert f.read().count("config:") == 1  # it wrote nothing there
        time.sleep(rng.uniform(0.0, 0.3))
        signalled = time.monotonic()
        run.signal(signum)
        code = run.finish()
        assert "Traceback" not in run.stderr()
        resumed_from.append(run.resumed_at())
        # The last checkpoint recorded, or one more if a kill came between writing it whole
        # and recording it (seen here): it reads back, so the resume takes it.
        assert run.resumed_at() in ((saved or 0), (saved or 0) + 1)
        if signum == signal.SIGKILL:
            assert code == -signal.SIGKILL
            continue
        assert code == {signal.SIGINT: 130, signal.SIGTERM: 143}[signum], run.stderr()
        assert time.monotonic() - signalled < 20
        stopped = int(re.search(r"stopped at step (\d+) on signal", run.stderr()).group(1))
        assert latest_step(run_dir) == stopped and metric_steps(run_dir)[-1] == stopped
    final = latest_step(run_dir) + 2
    end = start_run(data, run_dir, f"--config.training.num_steps={final}", *every)
    assert end.finish() == 0, end.stderr()
    assert end.resumed_at() == final - 2
    # Each run got to step saved + 4 and so past a checkpoint: every run added to the one run.
    resumed_from.append(end.resumed_at())
    assert all(b > a for a, b in itertools.pairwise(resumed_from)), resumed_from
    assert_whole_run(run_dir, final, 2)


def test_a_second_signal_quits_at_once(tmp_path, data, start_run):
    """Even in the middle of a long training call (here 200 steps in one tf.function)."""
    run_dir = str(tmp_path / "run")
    chunk = 200
    every = [f"--config.training.{name}={chunk}" for name in (
        "steps_per_call", "log_every_steps", "checkpoint_every_steps", "sample_every_steps")]
    for signum, code, step in [(signal.SIGINT, 130, chunk), (signal.SIGTERM, 143, 2 * chunk)]:
        run = start_run(data, run_dir, f"--config.training.num_steps={FOREVER}", *every)
        run.wait_for_step(step)
        deadline = time.monotonic() + 60
        while latest_step(run_dir) != step:  # saved just after the log line
            assert time.monotonic() < deadline, run.stderr()
            time.sleep(0.05)
        run.signal(signum, signum)
        assert run.finish() == code, run.stderr()
        assert "quitting now" in run.stderr() and "Traceback" not in run.stderr()
        assert "stopped at step" not in run.stderr()  # it did not wait for the call to end
        assert latest_step(run_dir) == step and metric_steps(run_dir) == list(
            range(chunk, step + 1, chunk))


def tiny(data, **training):
    return helpers.tiny_config(f"npz:{data}", log_every_steps=1, **training)


def all_weights(workdir):
    reader = tf.train.load_checkpoint(RunDir(workdir).checkpoints)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if not name.startswith("_CHECKPOINTABLE_OBJECT_GRAPH")}


def learning_rate(workdir, optimizer="g_optimizer"):
    return float(all_weights(workdir)[f"{optimizer}/_learning_rate/.ATTRIBUTES/VARIABLE_VALUE"])


def test_torn_newest_checkpoint_falls_back_to_the_previous_one(tmp_path, data, caplog, training):
    run_dir = str(tmp_path / "run")
    ckpt = RunDir(run_dir).checkpoints
    training.run(tiny(data, num_steps=6), run_dir)

    # A kill during the write of ckpt-6 left half its data.
    (data_file,) = glob.glob(os.path.join(ckpt, "ckpt-6.data-*"))
    with open(data_file, "r+b") as f:
        f.truncate(os.path.getsize(data_file) // 2)
    training.run(tiny(data, num_steps=8), run_dir)
    assert "ckpt-6 cannot be read" in caplog.text and "older ckpt-4" in caplog.text
    assert sorted(os.listdir(os.path.join(ckpt, "damaged"))) == [
        "ckpt-6.data-00000-of-00001", "ckpt-6.index"]
    assert_whole_run(run_dir, 8, 2)

    # A power cut: the state file and the newest index are empty, a save's leftovers remain.
    caplog.clear()
    open(os.path.join(ckpt, "checkpoint"), "w").close()
    open(os.path.join(ckpt, "ckpt-8.index"), "w").close()
    os.makedirs(os.path.join(ckpt, "ckpt-10_temp"))
    shutil.copy(glob.glob(os.path.join(ckpt, "ckpt-8.data-*"))[0],
                os.path.join(ckpt, "ckpt-10.data-00000-of-00001"))
    training.run(tiny(data, num_steps=10), run_dir)
    assert "ckpt-8 cannot be read" in caplog.text and "older ckpt-6" in caplog.text
    assert_whole_run(run_dir, 10, 2)
    assert not glob.glob(os.path.join(ckpt, "*_temp"))

    # Nothing readable left: a clear error, and nothing moved or deleted.
    for index in glob.glob(os.path.join(ckpt, "ckpt-*.index")):
        open(index, "w").close()
    before = helpers.files_under(ckpt)
    with pytest.raises(UserError, match="no checkpoint in .*checkpoints reads back whole "
                                        r"\(ckpt-10: "):
        training.run(tiny(data, num_steps=12), run_dir)
    assert helpers.files_under(ckpt) == before


def test_nan_stops_at_the_step_and_keeps_the_last_good_checkpoint(tmp_path, data, caplog, training):
    run_dir = str(tmp_path / "run")
    training.run(tiny(data, num_steps=4), run_dir)
    good = helpers.files_under(RunDir(run_dir).checkpoints)

    # An absurd learning rate: step 5's update overflows, step 6's losses are NaN.
    wild = tiny(data, num_steps=8)
    wild.optim.g_learning_rate = wild.optim.d_learning_rate = 1e30
    with pytest.raises(recovery.Diverged, match=r"became NaN/Inf at step 6; the last good "
                                             r"checkpoint .*ckpt-4 is kept;.* from step 4"):
        training.run(wild, run_dir)
    assert helpers.files_under(RunDir(run_dir).checkpoints) == good
    assert metric_steps(run_dir) == [1, 2, 3, 4, 5]
    assert all(np.isfinite(v).all() for v in all_weights(run_dir).values())

    # Rolling back cannot save it either: each halving is still absurd.
    wild.training.on_nan = "rollback"
    with pytest.raises(recovery.Diverged, match="again after 3 rollbacks to .*ckpt-4"):
        training.run(wild, run_dir)
    rollbacks = re.findall(r"rolled back to step 4 and halved the learning rates to g (\S+),",
                           caplog.text)
    assert [float(r) for r in rollbacks] == [5e29, 2.5e29, 1.25e29]
    assert helpers.files_under(RunDir(run_dir).checkpoints) == good
    assert metric_steps(run_dir) == [1, 2, 3, 4, 5]

    # With the learning rates lowered again the run resumes from step 4 and finishes.
    training.run(tiny(data, num_steps=8), run_dir)
    assert_whole_run(run_dir, 8, 2)
    assert learning_rate(run_dir) == pytest.approx(1e-4)


def nan_weight_once_at(monkeypatch, step):
    """The first training call that reaches `step` leaves a generator weight NaN behind.

    An overflowing update with finite losses, as a real divergence can make; a real one that
    recovers after a rollback cannot be provoked in a few deterministic steps.
    """
    real_make_train_fn = training_step.make_train_fn
    fired = []

    def make_train_fn(gan, *args, **kwargs):
        steps = real_make_train_fn(gan, *args, **kwargs)

        def faulty(iterator):
            totals = steps(iterator)
            if not fired and int(gan.step.numpy()) >= step:
                fired.append(step)
                first = gan.generator.trainable_variables[0]
                first.assign(tf.fill(tf.shape(first), float("nan")))
            return totals
        return faulty

    monkeypatch.setattr(training_step, "make_train_fn", make_train_fn)
    return fired


def test_rollback_continues_with_halved_learning_rates(tmp_path, data, caplog, monkeypatch,
                                                       training):
    run_dir = str(tmp_path / "run")
    # A generator weight becomes NaN at step 4 while its losses are still finite: the check of
    # the weights before the checkpoint of step 4 catches it.
    fired = nan_weight_once_at(monkeypatch, 4)
    config = tiny(data, num_steps=8, on_nan="rollback")
    training.run(config, run_dir)
    assert fired == [4]
    assert "the weights became NaN/Inf by step 4; rolled back to step 2" in caplog.text
    assert_whole_run(run_dir, 8, 2)
    assert learning_rate(run_dir, "g_optimizer") == pytest.approx(5e-5)
    assert learning_rate(run_dir, "d_optimizer") == pytest.approx(5e-5)

    # The lowered rates are part of the run: a resume with the same config keeps them.
    monkeypatch.undo()
    training.run(tiny(data, num_steps=10, on_nan="rollback"), run_dir)
    assert learning_rate(run_dir) == pytest.approx(5e-5)
    assert metric_steps(run_dir) == list(range(1, 11))


@pytest.fixture
def file_size_limit():
    """Sets RLIMIT_FSIZE: writes past it fail with EFBIG, like a full disk, even as root."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    yield lambda size: resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def test_full_disk_while_saving_is_a_clear_error_and_the_run_resumes(tmp_path, data,
                                                                      file_size_limit, training):
    run_dir = str(tmp_path / "run")
    ckpt = RunDir(run_dir).checkpoints
    training.run(tiny(data, num_steps=2), run_dir)
    (data_file,) = glob.glob(os.path.join(ckpt, "ckpt-2.data-*"))
    before = helpers.files_under(ckpt)

    # Room for logs and samples, not for another checkpoint.
    file_size_limit(os.path.getsize(data_file) // 2)
    with pytest.raises(UserError, match=r"cannot write checkpoint .*ckpt-4 \(File too large\);"
                                        r".* rerun the same command to resume from step 2"):
        training.run(tiny(data, num_steps=6), run_dir)
    file_size_limit(resource.RLIM_INFINITY)
    assert helpers.files_under(ckpt) == before  # nothing half-written left behind

    training.run(tiny(data, num_steps=6), run_dir)
    assert_whole_run(run_dir, 6, 2)

    # Full again, now for the next line of metrics.jsonl.
    file_size_limit(os.path.getsize(RunDir(run_dir).metrics) + 10)
    with pytest.raises(UserError, match=r"cannot write .*\(File too large\);"
                                        r".* rerun the same command to resume from step 6"):
        training.run(tiny(data, num_steps=8), run_dir)
    file_size_limit(resource.RLIM_INFINITY)
    training.run(tiny(data, num_steps=8), run_dir)
    assert_whole_run(run_dir, 8, 2)  # the cut line of metrics is gone


def test_a_divergence_under_a_huge_r1_weight_names_it(tmp_path, data, training):
    with pytest.raises(recovery.Diverged, match=r"lower training.r1_gamma \(now 1e\+30\) or "
                                                r"optim.g_learning_rate"):
        training.run(tiny(data, num_steps=4, r1_gamma=1e30), str(tmp_path / "run"))
