"""When the loop does its periodic work, and how long it has trained.

`Schedule` answers "is it time to log / draw samples / save / evaluate / stop" for every step
(one rule, `itstime`), and how many steps to run before the next of those. `Clock` counts the
seconds trained over every invocation of a run, which training.max_seconds limits.
"""

import time


def itstime(step, every, total):
    """Whether work done every `every` steps (0: never) is due at `step` of `total`.

    Due at each multiple of `every`, and at the last step, so the end of a run is always logged
    and saved.
    """
    return bool(every) and (step % every == 0 or step == total)


class Due:
    """What is due after a call of the training step."""

    def __init__(self, log, sample, checkpoint, evaluate, last):
        self.sample = sample
        # Evaluation is skipped on the way out after a signal: the user asked to stop.
        self.evaluate = evaluate
        # The last step of an invocation (a signal, the time budget) is logged and saved
        # whatever the intervals.
        self.record = log or checkpoint or evaluate or last
        self.save = checkpoint or last
        self.any = self.record or sample


class Schedule:
    """The run's intervals (training.*_every_steps) and its end (training.num_steps).

    Args:
        training: the config's training group.
        evaluate: whether the run evaluates every training.eval_every_steps.
    """

    def __init__(self, training, evaluate=False):
        self.total = training.num_steps
        self.steps_per_call = training.steps_per_call
        self.every = {"log": training.log_every_steps, "sample": training.sample_every_steps,
                      "checkpoint": training.checkpoint_every_steps,
                      "evaluate": training.eval_every_steps if evaluate else 0}

    def finished(self, step):
        return step >= self.total

    def steps_to_next(self, step):
        """Steps to run in the next call: up to the next step where something is due."""
        return min([self.steps_per_call, self.total - step] +
                   [k - step % k for k in self.every.values() if k])

    def due(self, step, last=False, stopping=False):
        """What is due at `step`; `last`: this invocation ends here; `stopping`: on a signal."""
        now = {name: itstime(step, every, self.total) for name, every in self.every.items()}
        return Due(now["log"], now["sample"], now["checkpoint"],
                   now["evaluate"] and not stopping, last)


class Clock:
    """Seconds trained, summed over the run's invocations: what training.max_seconds limits.

    The total so far rides in the checkpoint (`seconds_variable`, restored before `start`).
    Tracing and compiling a step function is not training: the calls that do it are left out
    (`exclude`), so a budget of a few seconds trains for about that many seconds.
    """

    def __init__(self, seconds_variable, max_seconds):
        self.variable = seconds_variable
        self.max_seconds = max_seconds
        self.before = 0.0
        self.started = None
        self.excluded = 0.0

    def start(self):
        self.before = float(self.variable.numpy())
        self.started = time.monotonic()

    def seconds(self):
        return self.before + time.monotonic() - self.started - self.excluded

    def exclude(self, seconds):
        self.excluded += seconds

    def out_of_time(self):
        return bool(self.max_seconds) and self.seconds() >= self.max_seconds

    def spent_before(self):
        """Whether the earlier invocations used up the budget: then nothing is trained."""
        return bool(self.max_seconds) and self.before >= self.max_seconds

    def stamp(self):
        """Write the seconds so far into the state, before it is saved."""
        self.variable.assign(self.seconds())
