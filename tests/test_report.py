"""report.png at the end of a run and on demand, and the cross-entropy story in metrics.jsonl."""

import math
import os

import imageio.v3 as iio
import numpy as np
import pytest

from dcgan.run.workdir import RunDir
from tests import helpers, unwritable


def assert_report_png(path):
    image = iio.imread(path)
    assert image.dtype == np.uint8 and image.ndim == 3
    height, width = image.shape[:2]
    assert 400 <= height <= 3000 and 600 <= width <= 4000, image.shape
    assert image.std() > 10  # axes, curves and samples, not a blank page


@pytest.fixture(scope="module")
def finished_run(training):
    return training.finished(helpers.tiny_config())


def test_a_finished_run_writes_its_report(finished_run):
    assert_report_png(RunDir(finished_run).report)


def test_hard_labels_have_no_entropy_and_the_parts_sum_to_the_loss(finished_run):
    records = helpers.read_records(finished_run)
    assert [r["step"] for r in records] == [2, 4]
    for record in records:
        assert record["d_entropy"] == 0.0
        assert record["d_kl"] == pytest.approx(record["d_loss"], abs=1e-5)


def test_label_smoothing_adds_the_entropy_of_the_targets(tmp_path, training):
    training.run(helpers.tiny_config(label_smoothing=0.1, num_steps=2), str(tmp_path))
    # One-sided smoothing: real targets 0.9 carry H(0.9) nats, fake targets 0 carry none.
    h = -(0.9 * math.log(0.9) + 0.1 * math.log(0.1))
    for record in helpers.read_records(str(tmp_path)):
        assert record["d_entropy"] == pytest.approx(h, abs=1e-5)
        assert record["d_kl"] > 0
        assert record["d_entropy"] + record["d_kl"] == pytest.approx(record["d_loss"], abs=1e-5)


def test_report_command_redraws_the_report(finished_run):
    report = RunDir(finished_run).report
    os.remove(report)
    result = helpers.run_cli("dcgan.report", f"--workdir={finished_run}")
    assert result.returncode == 0, result.stderr
    assert report in result.stdout
    assert_report_png(report)


@pytest.mark.parametrize("setup, words", [
    ("missing", ["does not exist"]),
    ("empty", ["no metrics", "metrics.jsonl"]),
])
def test_report_command_errors_are_one_line(tmp_path, setup, words):
    workdir = tmp_path / "run"
    run = RunDir(workdir)
    if setup == "empty":  # a run that has not reached its first log step
        os.makedirs(run.samples)
        with open(run.metrics, "w"):
            pass
    result = helpers.run_cli("dcgan.report", f"--workdir={workdir}")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    for word in words:
        assert word in errors[0]
    assert not os.path.exists(run.report)


def test_report_of_a_read_only_run_says_where_else_to_write(finished_run, tmp_path):
    workdir = helpers.copy_run(finished_run, tmp_path / "run")
    os.remove(RunDir(workdir).report)
    elsewhere = tmp_path / "elsewhere.png"
    with unwritable.read_only(workdir):
        refused = helpers.run_cli("dcgan.report", f"--workdir={workdir}")
        written = helpers.run_cli("dcgan.report", f"--workdir={workdir}", f"--output={elsewhere}")
    helpers.assert_one_line_error(refused, workdir, "--output=")
    assert written.returncode == 0, written.stderr
    assert_report_png(elsewhere)
    assert not os.path.exists(RunDir(workdir).report)
