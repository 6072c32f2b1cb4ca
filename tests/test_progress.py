"""What a run prints while it trains: a live bar on a terminal, plain log lines in a pipe."""

import io
import logging
import os
import pty
import re
import subprocess
import sys

from dcgan import progress
from dcgan.run.workdir import RunDir
from tests import helpers

NUM_STEPS = 12
TINY = ["--config=configs/default.py", f"--config.training.num_steps={NUM_STEPS}",
        "--config.training.batch_size=4", "--config.model.gen_filters=4",
        "--config.model.disc_filters=4", "--config.model.noise_dim=8",
        "--config.model.kernel_size=3", "--config.training.precision=float32",
        "--config.training.num_grid_images=4", "--config.training.log_every_steps=4",
        "--config.training.sample_every_steps=12", "--config.training.checkpoint_every_steps=12"]
# A number of seconds, minutes or hours, as the ETA shows once the rate is known.
ETA = r"ETA (\d+h)?(\d+m)?\d+s"


def train_on_a_terminal(workdir, timeout=300):
    """Runs the training command with a pseudo-terminal as its stdout and stderr."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "dcgan.main", *TINY, f"--workdir={workdir}"],
        cwd=helpers.ROOT, env=helpers.command_env(), stdin=subprocess.DEVNULL, stdout=follower,
        stderr=follower)
    os.close(follower)
    output = b""
    try:
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: every process holding the terminal has exited
                break
            if not chunk:
                break
            output += chunk
        process.wait(timeout=timeout)
    finally:
        os.close(leader)
        if process.poll() is None:
            process.kill()
    return process.returncode, output.decode(errors="replace")


def test_terminal_shows_one_live_bar(tmp_path, training):
    code, output = train_on_a_terminal(tmp_path / "run")
    assert code == 0, output
    # Every redraw starts with a carriage return and rewrites the same line.
    redraws = [part for part in output.split("\r") if part.startswith("step ")]
    assert len(redraws) >= 3, output
    last = redraws[-1]
    assert re.match(rf"step {NUM_STEPS}/{NUM_STEPS} 100%", last), last
    assert re.search(ETA, last) and "img/s" in last, last
    for label in ("g ", "d ", "D(x) ", "D(G(z)) "):
        assert label in last, last
    assert any(re.search(rf"step \d+/{NUM_STEPS} .*{ETA}", part) for part in redraws[:-1])
    # The bar stands in for the per-step log lines on screen; train.log still has them.
    assert "INFO step" not in output
    with open(RunDir(tmp_path / "run").log) as f:
        log = f.read()
    assert re.search(rf"INFO step {NUM_STEPS}/{NUM_STEPS} 100%  {ETA}  g_loss", log), log


def test_pipe_gets_plain_log_lines(tmp_path, training):
    result = training.command(*TINY, f"--workdir={tmp_path / 'run'}")
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr and "\x1b" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if "INFO step " in line]
    assert [re.search(r"step (\d+)/", line).group(1) for line in lines] == ["4", "8", "12"]
    for line in lines:
        assert re.search(rf"{ETA}  g_loss \S+  d_loss \S+  d_real \S+  d_fake \S+", line), line
    assert "report" in result.stdout and os.path.exists(RunDir(tmp_path / "run").report)


def test_counter_redraws_in_place_on_a_terminal():
    leader, follower = pty.openpty()
    with open(follower, "w") as terminal:
        with progress.Counter(100, "scoring", stream=terminal) as counter:
            for _ in range(10):
                counter.update(10)
    output = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the terminal's other end is closed
            break
        if not chunk:
            break
        output += chunk
    os.close(leader)
    text = output.decode()
    assert text.startswith("\r") and text.count("\n") == 1 and text.endswith("\n"), text
    last = text.rstrip("\r\n").split("\r")[-1]
    assert re.match(r"scoring  100/100  100%  \[#{20}\]  \d+s  ETA 0s", last), last


def test_counter_logs_about_every_tenth_in_a_pipe(caplog):
    read_end, write_end = os.pipe()
    with open(write_end, "w") as pipe, caplog.at_level(logging.INFO, logger="dcgan"):
        with progress.Counter(100, "scoring", stream=pipe) as counter:
            for _ in range(4):
                counter.update(25)
        with progress.Counter(100, "silent", stream=pipe, enabled=False) as counter:
            counter.update(100)
    with open(read_end) as written:
        assert written.read() == ""  # no bar, no carriage return in a pipe
    lines = [record.getMessage() for record in caplog.records]
    assert [line.split(" (")[0] for line in lines] == [
        "scoring: 25/100", "scoring: 50/100", "scoring: 75/100", "scoring: 100/100"], lines


def test_percent_and_eta_follow_a_time_budget_that_ends_the_run_first(caplog):
    stream = io.StringIO()  # not a terminal: log lines
    bar = progress.Progress(0, 10**6, 8, stream=stream, max_seconds=600)
    with caplog.at_level(logging.INFO, logger="dcgan"):
        bar.update(100, {"g_loss": 0.7}, seconds=300.0)
        bar.update(200, {"g_loss": 0.7}, seconds=450.0)
    first, second = [r.getMessage() for r in caplog.records]
    assert re.match(r"step 100/1000000  50%  ETA 5m00s  g_loss 0\.7$", first), first
    assert re.match(r"step 200/1000000  75%  ETA 2m30s  g_loss 0\.7$", second), second


def test_percent_and_eta_follow_the_steps_when_they_end_the_run_first(caplog):
    bar = progress.Progress(0, 100, 8, stream=io.StringIO(), max_seconds=3600)
    with caplog.at_level(logging.INFO, logger="dcgan"):
        bar.update(10, {"g_loss": 0.7}, seconds=1.0)
        bar.update(20, {"g_loss": 0.7}, seconds=2.0)  # 10 steps a second
    message = caplog.records[-1].getMessage()
    assert re.match(r"step 20/100  20%  ETA 8s  g_loss", message), message
