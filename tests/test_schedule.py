"""What the loop does when (Schedule, itstime) and how long it has trained (Clock), in-process."""

import time

import pytest
import tensorflow as tf

from dcgan.training import schedule
from tests import helpers


def training(**fields):
    """The training group of a tiny config, with `fields` changed."""
    config = helpers.tiny_config(**fields)
    return config.training


def test_work_is_due_at_each_multiple_and_at_the_last_step():
    assert [s for s in range(1, 11) if schedule.itstime(s, 4, 10)] == [4, 8, 10]
    assert [s for s in range(1, 11) if schedule.itstime(s, 5, 10)] == [5, 10]
    assert not any(schedule.itstime(s, 0, 10) for s in range(1, 11))  # 0: never, not even last


def test_the_loop_stops_at_every_step_something_is_due_and_at_the_end():
    plan = schedule.Schedule(training(num_steps=20, steps_per_call=7, log_every_steps=3,
                                      sample_every_steps=8, checkpoint_every_steps=0))
    at, stops = 0, []
    while not plan.finished(at):
        at += plan.steps_to_next(at)
        stops.append(at)
    # Every multiple of 3 and of 8, the end, and no call longer than 7 steps.
    assert stops == [3, 6, 8, 9, 12, 15, 16, 18, 20]


def test_a_call_runs_at_most_steps_per_call_and_never_past_the_end():
    plan = schedule.Schedule(training(num_steps=10, steps_per_call=4, log_every_steps=0,
                                      sample_every_steps=0, checkpoint_every_steps=0))
    assert [plan.steps_to_next(s) for s in (0, 4, 8, 9)] == [4, 4, 2, 1]


def test_what_is_due_and_what_the_last_step_of_an_invocation_adds():
    plan = schedule.Schedule(training(num_steps=12, log_every_steps=4, sample_every_steps=6,
                                      checkpoint_every_steps=0, eval_every_steps=3),
                             evaluate=True)
    due = plan.due(4)
    assert due.record and not due.sample and not due.save and not due.evaluate
    due = plan.due(6)
    assert due.sample and due.evaluate and due.record and not due.save
    assert not plan.due(5).any
    # A signal or the time budget ends this invocation at step 5: logged and saved anyway.
    due = plan.due(5, last=True)
    assert due.record and due.save and not due.sample
    # On the way out after a signal the evaluation is skipped, the rest is not.
    due = plan.due(9, last=True, stopping=130)
    assert not due.evaluate and due.record and due.save
    # The end of the run is saved at the last step, off the interval's multiples too.
    assert schedule.Schedule(training(num_steps=12, checkpoint_every_steps=5)).due(12).save


def test_evaluations_are_due_only_when_the_run_evaluates():
    fields = dict(num_steps=12, log_every_steps=0, sample_every_steps=0,
                  checkpoint_every_steps=0, eval_every_steps=3)
    assert not schedule.Schedule(training(**fields)).due(3).any
    assert schedule.Schedule(training(**fields), evaluate=True).due(3).evaluate


def test_the_clock_counts_the_earlier_invocations_and_leaves_out_what_is_excluded():
    trained = tf.Variable(2.0)  # seconds restored from a checkpoint
    clock = schedule.Clock(trained, max_seconds=2.5)
    clock.start()
    assert not clock.spent_before() and not clock.out_of_time()
    time.sleep(0.2)
    clock.exclude(0.15)  # tracing the step function: not training
    assert 2.04 <= clock.seconds() < 2.5
    assert not clock.out_of_time()
    clock.stamp()
    assert float(trained.numpy()) == pytest.approx(clock.seconds(), abs=0.05)
    time.sleep(0.5)
    assert clock.out_of_time()


def test_a_budget_spent_before_this_invocation_trains_nothing_and_none_is_no_budget():
    spent = schedule.Clock(tf.Variable(3.0), max_seconds=3.0)
    spent.start()
    assert spent.spent_before() and spent.out_of_time()
    unlimited = schedule.Clock(tf.Variable(1e9), max_seconds=0)
    unlimited.start()
    assert not unlimited.spent_before() and not unlimited.out_of_time()
