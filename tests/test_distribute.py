"""tf.distribute: one device, mirrored replicas and a two-worker cluster train the same GAN.

The mirrored and multi-worker runs start new processes: the CPU can only be split into
virtual devices, and a process can only join a cluster, before TensorFlow initialises.
"""

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from configs import default
from dcgan.errors import UserError
from dcgan.run.workdir import RunDir
from dcgan.training import distribute
from tests import helpers

LOSSES = ("g_loss", "d_loss", "d_real", "d_fake")
# Generous for a loaded CI machine; a hung collective still ends the test instead of the job.
CLUSTER_TIMEOUT = 240


def comparable_config(num_steps=4):
    """A tiny run that trains identically however many replicas share the global batch.

    Batch norm is synchronized, else each replica normalises by its own slice's statistics.
    Dropout is off: each replica draws the masks of its own slice, which cannot equal the
    masks one device draws for the whole batch.
    """
    config = helpers.tiny_config(num_steps=num_steps, log_every_steps=1)
    config.model.dropout = 0.0
    config.model.ema_decay = 0.5
    config.runtime.sync_batch_norm = True
    return config


def as_flags(config):
    """The command-line overrides of configs/default.py that give `config`."""
    def flatten(d, prefix=""):
        for key, value in d.items():
            if isinstance(value, dict):
                yield from flatten(value, f"{prefix}{key}.")
            else:
                yield f"{prefix}{key}", value

    base = dict(flatten(default.get_config().to_dict()))
    return ["--config=configs/default.py"] + [
        f"--config.{name}={value}" for name, value in flatten(config.to_dict())
        if base[name] != value]


def assert_same_training(run, reference):
    """Same losses at every logged step and the same final weights, within float tolerance."""
    got, want = helpers.read_records(run), helpers.read_records(reference)
    assert [r["step"] for r in got] == [r["step"] for r in want]
    for a, b in zip(got, want, strict=True):
        for name in LOSSES:
            assert a[name] == pytest.approx(b[name], rel=1e-5, abs=1e-6), (a["step"], name)
    a, b = helpers.training_state(run), helpers.training_state(reference)
    assert a.keys() == b.keys() and any("ema_generator" in name for name in a)
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-4, atol=1e-5, err_msg=name)


@pytest.fixture(scope="module")
def one_device_run(training):
    return training.finished(comparable_config())


def test_mirrored_on_two_cpus_matches_one_device(one_device_run, tmp_path, training):
    run = str(tmp_path / "mirrored")
    result = training.command(
        *as_flags(comparable_config()), f"--workdir={run}",
        "--config.runtime.distribute=mirrored", "--config.runtime.virtual_cpu_devices=2",
        timeout=CLUSTER_TIMEOUT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 replica(s)" in result.stderr
    assert_same_training(run, one_device_run)


def test_mirrored_conditional_run_matches_one_device(tmp_path, training):
    """The labels and the generator's classes split over the replicas with their images."""
    config = comparable_config(num_steps=2)
    config.model.conditional = True
    reference, run = str(tmp_path / "one_device"), str(tmp_path / "mirrored")
    training.run(config, reference)
    result = training.command(
        *as_flags(config), f"--workdir={run}",
        "--config.runtime.distribute=mirrored", "--config.runtime.virtual_cpu_devices=2",
        timeout=CLUSTER_TIMEOUT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert_same_training(run, reference)


def test_mode_seeking_with_an_odd_batch_per_replica_is_one_line(tmp_path):
    result = helpers.run_cli(
        "dcgan.main", "--config=configs/default.py", f"--workdir={tmp_path / 'run'}",
        "--config.training.mode_seeking=1", "--config.training.batch_size=18",
        "--config.runtime.distribute=mirrored", "--config.runtime.virtual_cpu_devices=2")
    assert result.returncode == 2
    helpers.assert_one_line_error(result, "training.mode_seeking", "an odd 9",
                                  "a multiple of 4")
    assert not os.path.exists(RunDir(tmp_path / "run").checkpoints)


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("localhost", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def run_cluster(workdirs, config):
    """Train on a chief and a worker on localhost; `workdirs` maps each task to its --workdir.

    Returns {task: (exit code, output)}. Kills both if either fails (the other would wait on a
    collective op forever) or if the pair outlives the timeout.
    """
    chief_port, worker_port = free_ports(2)
    cluster = {"chief": [f"localhost:{chief_port}"], "worker": [f"localhost:{worker_port}"]}
    procs = {}
    try:
        for task, folder in workdirs.items():
            env = helpers.command_env(TF_CONFIG=json.dumps({"cluster": cluster,
                                                            "task": {"type": task, "index": 0}}))
            procs[task] = subprocess.Popen(
                [sys.executable, "-m", "dcgan.main", *as_flags(config), f"--workdir={folder}",
                 "--config.runtime.distribute=multi_worker"],
                cwd=helpers.ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                text=True)
        deadline = time.monotonic() + CLUSTER_TIMEOUT
        while any(p.poll() is None for p in procs.values()):
            if any(p.poll() not in (None, 0) for p in procs.values()):
                time.sleep(5)  # time for the other task to fail on its own, then stop it
                break
            assert time.monotonic() < deadline, "the cluster did not finish in time"
            time.sleep(0.2)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
    return {task: (p.wait(), p.communicate()[0]) for task, p in procs.items()}


def train_on_cluster(workdir, config):
    """Both tasks share `workdir`, as on a shared filesystem; returns each task's output."""
    results = run_cluster({"chief": workdir, "worker": workdir}, config)
    for task, (code, output) in results.items():
        assert code == 0, f"{task} exited {code}:\n{output[-3000:]}"
    return {task: output for task, (_, output) in results.items()}


def test_two_workers_write_one_run_and_resume(one_device_run, tmp_path):
    run = str(tmp_path / "cluster")
    first = train_on_cluster(run, comparable_config(num_steps=2))
    assert "2 replica(s)" in first["chief"]
    second = train_on_cluster(run, comparable_config(num_steps=4))
    assert "resuming at step 2 of 4" in second["chief"]
    assert "resuming at step 2 of 4" in second["worker"]

    # One run folder, written by the chief alone: one checkpoint series, one set of samples,
    # one metrics line per step, its log lines only; the worker's temporary saves are gone.
    ckpt_dir = RunDir(run).checkpoints
    assert tf.train.latest_checkpoint(ckpt_dir).endswith("ckpt-4")
    assert sorted(os.listdir(ckpt_dir)) == ["checkpoint"] + [
        f"ckpt-{s}.{ext}" for s in (2, 4) for ext in ("data-00000-of-00001", "index")]
    assert list(RunDir(run).sample_grids()) == [2, 4]
    assert len(os.listdir(RunDir(run).samples)) == 2
    with open(RunDir(run).log) as f:
        log = f.read()
    assert log.count("starting at step 0") == 1 and log.count("resuming at step 2") == 1
    # Together the workers trained on each global batch exactly as one device does, and the
    # resumed cluster continued where it stopped.
    assert_same_training(run, one_device_run)


def test_workers_that_cannot_see_the_checkpoint_stop_with_one_line(one_device_run, tmp_path):
    """The chief resumes from step 4 but the worker finds no checkpoint in its own folder."""
    chief, own = str(tmp_path / "chief"), str(tmp_path / "worker_only")
    helpers.copy_run(one_device_run, chief)
    results = run_cluster({"chief": chief, "worker": own}, comparable_config(num_steps=6))
    for task, (code, output) in results.items():
        assert code == 2, f"{task} exited {code}:\n{output[-3000:]}"
        error = [line for line in output.splitlines() if line.startswith("error:")]
        assert len(error) == 1 and "resumed from different steps" in error[0], output[-3000:]
        assert "Traceback" not in output
    assert tf.train.latest_checkpoint(RunDir(chief).checkpoints).endswith("-4")
    assert not os.path.exists(own)


def test_tpu_request_without_a_tpu_is_one_line():
    with pytest.raises(UserError, match="tpu found no TPU") as error:
        distribute.make_strategy("tpu")
    assert "\n" not in str(error.value)


def test_cluster_description_mistakes_are_named(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(UserError, match="needs the cluster in TF_CONFIG"):
        distribute.make_strategy("multi_worker")
    with pytest.raises(UserError, match="not a valid cluster description"):
        distribute.read_tf_config("{not json")
    with pytest.raises(UserError, match="not a valid cluster description"):
        distribute.read_tf_config('{"cluster": {"worker": ["a:1"]}}')
    with pytest.raises(UserError, match="index 2 is outside"):
        distribute.read_tf_config(
            '{"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 2}}')


@pytest.mark.parametrize("cluster, task, chief", [
    ({"chief": ["a:1"], "worker": ["b:1"]}, ("chief", 0), True),
    ({"chief": ["a:1"], "worker": ["b:1"]}, ("worker", 0), False),
    ({"worker": ["a:1", "b:1"]}, ("worker", 0), True),
    ({"worker": ["a:1", "b:1"]}, ("worker", 1), False),
])
def test_only_the_chief_writes_the_workdir(monkeypatch, cluster, task, chief):
    monkeypatch.setenv("TF_CONFIG", json.dumps(
        {"cluster": cluster, "task": {"type": task[0], "index": task[1]}}))
    assert distribute.writes_run_files("multi_worker") is chief
    # TF_CONFIG is for clusters: a single-process run owns its workdir whatever it says.
    assert distribute.writes_run_files("mirrored") is True


def test_virtual_devices_too_late_is_a_clear_error():
    have = len(tf.config.list_logical_devices("CPU"))  # TensorFlow is initialised from here
    with pytest.raises(UserError, match="set it in a new process"):
        distribute.split_cpu(have + 1)
