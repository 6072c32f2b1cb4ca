"""The loop's recovery decisions in-process: NanGuard (what a NaN leads to) and StopOnSignal
(a first signal asks to stop at the next step boundary). Their effect on whole runs, in real
processes, is test_robustness's."""

import math
import os
import signal
import threading
import time

import pytest

from dcgan.training import recovery
from dcgan.training.state import TrainingState
from tests import helpers

NAN = float("nan")


@pytest.fixture(scope="module")
def state():
    return TrainingState(helpers.tiny_config(), "float32")


def test_a_nan_loss_is_named_with_the_steps_it_came_from(state):
    guard = recovery.NanGuard("stop", state)
    finite = {"g_loss": 1.0, "d_loss": 0.5}
    assert guard.check([(3, finite), (2, finite)], 6) is None
    assert guard.check([(3, finite), (2, {"g_loss": 1.0, "d_loss": NAN})], 6) == \
        "d_loss became NaN/Inf at steps 5-6"
    assert guard.check([(1, {"g_loss": math.inf, "d_loss": NAN})], 9) == \
        "g_loss, d_loss became NaN/Inf at step 9"


def test_nan_weights_are_found_only_when_asked_before_a_save():
    state = TrainingState(helpers.tiny_config(), "float32")
    guard = recovery.NanGuard("stop", state)
    finite = [(2, {"g_loss": 1.0})]
    assert guard.check(finite, 4, weights=True) is None
    weight = state.generator.trainable_variables[0]
    weight.assign(weight * NAN)
    assert guard.check(finite, 4) is None
    assert guard.check(finite, 4, weights=True) == "the weights became NaN/Inf by step 4"


def test_stop_keeps_the_last_good_checkpoint_and_says_how_to_go_on(state):
    guard = recovery.NanGuard("stop", state)
    with pytest.raises(recovery.Diverged) as raised:
        guard.decide("g_loss became NaN/Inf at step 7", "run/checkpoints/ckpt-6")
    message = str(raised.value)
    assert "the last good checkpoint run/checkpoints/ckpt-6 is kept" in message
    assert "training.on_nan=rollback" in message and "resume from step 6" in message
    with pytest.raises(recovery.Diverged, match="before the first checkpoint.*start again"):
        guard.decide("g_loss became NaN/Inf at step 1", None)


def test_rollback_halves_the_rates_each_time_then_gives_up_until_a_newer_checkpoint(state):
    guard = recovery.NanGuard("rollback", state)
    factors = [guard.decide("d_loss became NaN/Inf at step 5", "ckpt-4")
               for _ in range(recovery.MAX_ROLLBACKS)]
    assert factors == [0.5, 0.25, 0.125]
    with pytest.raises(recovery.Diverged, match=f"again after {recovery.MAX_ROLLBACKS} "
                       "rollbacks to ckpt-4"):
        guard.decide("d_loss became NaN/Inf at step 5", "ckpt-4")
    # Training got past the trouble and saved again: a new episode starts from one half.
    assert guard.decide("d_loss became NaN/Inf at step 9", "ckpt-8") == 0.5


def test_a_huge_r1_weight_is_named_first(state):
    guard = recovery.NanGuard("stop", state, r1_gamma=1e30)
    with pytest.raises(recovery.Diverged, match="lower training.r1_gamma \\(now 1e\\+30\\)"):
        guard.decide("d_loss became NaN/Inf at step 3", "ckpt-2")


@pytest.fixture
def handlers_kept():
    """The test process's own handlers come back whatever the test did to them."""
    kept = {signum: signal.getsignal(signum) for signum in recovery.StopOnSignal.CODES}
    yield
    for signum, handler in kept.items():
        signal.signal(signum, handler)


def wait_for(condition, seconds=10):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_first_signal_asks_to_stop_with_its_exit_code(handlers_kept, signum, code):
    with recovery.StopOnSignal() as stop:
        assert stop.exit_code is None
        os.kill(os.getpid(), signum)  # the process carries on: the loop decides when to stop
        assert wait_for(lambda: stop.exit_code is not None)
        assert stop.exit_code == code
    # A further signal ends the process at once, not through Python.
    assert signal.getsignal(signum) == signal.SIG_DFL


def test_without_a_signal_the_handlers_are_given_back(handlers_kept):
    before = signal.getsignal(signal.SIGINT)
    with recovery.StopOnSignal() as stop:
        assert signal.getsignal(signal.SIGINT) != before
    assert stop.exit_code is None
    assert signal.getsignal(signal.SIGINT) == before


def test_outside_the_main_thread_signals_are_left_alone(handlers_kept):
    before = signal.getsignal(signal.SIGINT)
    seen = []

    def enter():
        with recovery.StopOnSignal() as stop:
            seen.append((signal.getsignal(signal.SIGINT), stop.exit_code))

    thread = threading.Thread(target=enter)
    thread.start()
    thread.join()
    assert seen == [(before, None)]
