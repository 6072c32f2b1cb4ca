"""What every test shares: a CPU kept quiet, and the rule that a test that trains is slow.

A test trains through the `training` fixture, or through a fixture that asks for it (a run
trained once for a module); every test whose fixtures include it is marked `slow`, so
`make test-fast` leaves it out without anyone remembering to. A test that trains in a process
of its own making (on a terminal, to signal it, a cluster, a script) asks for `training` too, to
say so. A test not marked slow that trains anyway (it leaves a checkpoint in the folders made
for it) fails, naming the fixture. `slow` by hand is left for tests that train no run but cost
as much.
"""

import json
import os
import time

import pytest

from dcgan.run.workdir import RunDir
from tests import helpers

# Tests run on the CPU, quietly, whatever accelerators the machine has.
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

pytest_plugins = ("pytester",)

TRAINING_FIXTURE = "training"
_STARTED = pytest.StashKey[float]()


@pytest.hookimpl(tryfirst=True)  # before `-m "not slow"` deselects by the marks
def pytest_collection_modifyitems(items):
    for item in items:
        if TRAINING_FIXTURE in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    item.stash[_STARTED] = time.time()  # before any fixture of the test trains


@pytest.fixture(autouse=True)
def _trains_only_when_slow(request, tmp_path_factory):
    yield
    if request.node.get_closest_marker("slow") is not None:
        return
    trained = checkpoints_written(tmp_path_factory.getbasetemp(),
                                  request.node.stash[_STARTED])
    if trained:
        pytest.fail(f"this test trained ({trained[0]}) but is not marked slow: train through "
                    f"the `{TRAINING_FIXTURE}` fixture, which marks it", pytrace=False)


def checkpoints_written(folder, since):
    """Checkpoints (their index files) written from the time `since` on, in the folders made
    under `folder` since then: a test's tmp_path, a fixture's mktemp."""
    name = os.path.basename(RunDir("").checkpoints)
    found = []
    for made in os.scandir(folder):
        if not made.is_dir() or made.stat().st_mtime < since:
            continue
        for dirpath, _, names in os.walk(made.path):
            if os.path.basename(dirpath) == name:
                found += [os.path.join(dirpath, n) for n in names if n.endswith(".index") and
                          os.path.getmtime(os.path.join(dirpath, n)) >= since]
    return found


class Training:
    """The ways a test trains: in this process, in a new one, or a run trained once."""

    def __init__(self, tmp_path_factory):
        self._tmp = tmp_path_factory
        self._finished = {}

    def run(self, config, workdir, **kwargs):
        """train_and_evaluate(config, workdir) in this process; returns the last record."""
        from dcgan.training import train  # TensorFlow loads when a test first trains

        return train.train_and_evaluate(config, str(workdir), **kwargs)

    def in_new_process(self, *runs):
        """Each (config, workdir) in turn in one new process, op determinism on (see helpers)."""
        helpers.train_in_new_process(*runs)

    def command(self, *args, **kwargs):
        """The training command in a new process, as a user runs it (helpers.run_cli)."""
        return helpers.run_cli("dcgan.main", *args, **kwargs)

    def finished(self, config):
        """The folder of a run of `config` trained to its end, once per test process: tests
        that read it share it; a test that changes it takes a `helpers.copy_run`."""
        key = json.dumps(json.loads(config.to_json_best_effort()), sort_keys=True)
        if key not in self._finished:
            workdir = str(self._tmp.mktemp("finished") / "run")
            self.run(config, workdir)
            self._finished[key] = workdir
        return self._finished[key]


@pytest.fixture(scope="session")
def training(tmp_path_factory):
    """How a test trains; asking for it (directly or through a fixture) makes the test slow."""
    return Training(tmp_path_factory)
