"""Never lose a run: signals, NaN losses, full disks; this module decides, the loop acts.

A run folder must survive whatever ends its process: Ctrl-C, a pre-emption's SIGTERM, a
`kill -9` or a power cut in the middle of a checkpoint write, a full disk. The rules:

- A first signal stops training at the next step boundary, after a checkpoint; a second quits.
- NaN or Inf never reaches a checkpoint: losses (and, before a save, the weights) are checked,
  and `training.on_nan` says whether to stop or roll back to the last good checkpoint.
- A write the system refuses (a full disk, a read-only folder) becomes one line that says how
  to resume.

Torn checkpoints are handled where checkpoints live (`dcgan.run.checkpoints`), and records logged
past the step a run continues from where the record lives (`dcgan.run.run_record`).
"""

import logging
import math
import os
import re
import signal
import threading

from dcgan.errors import FULL_DISK, WRITE_ERRORS, UserError, reason
from dcgan.run import checkpoints

log = logging.getLogger("dcgan")

# Consecutive rollbacks to the same checkpoint before training.on_nan=rollback gives up.
MAX_ROLLBACKS = 3
# An R1 weight from here up is named first when training diverges: weights in use run from
# about 0.01 to 100 (Karras et al.); one far above that blows up D's gradient by itself.
R1_GAMMA_SUSPECT = 1000.0


class Interrupted(Exception):
    """Training stopped on a signal after saving a checkpoint; carries the exit code."""

    def __init__(self, exit_code, step):
        super().__init__(f"stopped at step {step} on signal; rerun the same command to resume")
        self.exit_code = exit_code


class Diverged(UserError):
    """A loss or weight became NaN or infinite."""


def _ignore(signum, frame):
    """The Python-level handler; the watcher thread does the work (see StopOnSignal)."""


class StopOnSignal:
    """The first SIGINT/SIGTERM asks training to stop at the next step boundary; a second quits.

    Python runs signal handlers between bytecodes of the main thread only, and the main thread
    sits inside TensorFlow for a whole training call or checkpoint write. So the signal number
    is also written to a pipe (`signal.set_wakeup_fd`) that a watcher thread reads at once: the
    first signal sets `exit_code`, which the loop checks after each call; the second ends the
    process on the spot with the same code (130 for SIGINT, 143 for SIGTERM). Quitting in the
    middle of a write is safe: the run folder is built to survive a kill -9.
    """

    CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}

    def __init__(self, checkpoint_folder=None):
        """`checkpoint_folder`: the run's checkpoints, to tell whether quitting loses the run's
        steps since its last checkpoint or all of them (None: assume a checkpoint exists)."""
        self.checkpoint_folder = checkpoint_folder
        self.exit_code = None
        self._previous = {}
        self._pipe = None
        self._previous_wakeup = -1
        self._thread = None

    def __enter__(self):
        try:
            for signum in self.CODES:
                self._previous[signum] = signal.signal(signum, _ignore)
        except ValueError:  # not the main thread: leave signals alone
            self._previous.clear()
            return self
        self._pipe = os.pipe()
        os.set_blocking(self._pipe[1], False)
        self._previous_wakeup = signal.set_wakeup_fd(self._pipe[1], warn_on_full_buffer=False)
        self._thread = threading.Thread(target=self._watch, name="dcgan-signals", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        if self._pipe is None:
            return
        signal.set_wakeup_fd(self._previous_wakeup)
        for signum, handler in self._previous.items():
            # After a first signal the process is on its way out: another one ends it at once
            # (killed by the signal, which a shell shows as 130 or 143), not with a traceback.
            signal.signal(signum, handler if self.exit_code is None else signal.SIG_DFL)
        os.close(self._pipe[1])  # the watcher reads end-of-file and returns
        self._thread.join()
        os.close(self._pipe[0])
        self._pipe = None

    def _watch(self):
        while True:
            data = os.read(self._pipe[0], 16)
            if not data:
                return
            for signum in data:
                if signum not in self.CODES:
                    continue
                saved = self.checkpoint_folder is None or bool(
                    checkpoints.candidates(self.checkpoint_folder))
                if self.exit_code is None:
                    self.exit_code = self.CODES[signum]
                    log.warning("signal %d: saving a checkpoint after this step, then exiting "
                                "(again to quit at once, losing %s)", signum,
                                "the steps since the last checkpoint" if saved else
                                "every step so far: no checkpoint is saved yet")
                    continue
                log.warning("signal %d again: quitting now; %s", signum,
                            "rerun the same command to resume from the last checkpoint" if saved
                            else "no checkpoint was saved yet, so the same command starts the "
                            "run again from step 0")
                for handler in logging.getLogger().handlers + log.handlers:
                    handler.flush()
                os._exit(self.CODES[signum])


def write_problem(error, root):
    """A one-line message if `error` is a write into the run folder that the system refused."""
    why = reason(error)
    if why not in WRITE_ERRORS or not (isinstance(error, OSError) or hasattr(error, "message")):
        return None
    where = getattr(error, "filename", None)
    if where is None:
        found = re.search(re.escape(os.path.normpath(root)) + r"[^\s;:,]*", str(error))
        where = found.group(0) if found else None
    inside = where is not None and \
        os.path.abspath(where).startswith(os.path.abspath(root) + os.sep)
    # A full disk shows only on writes; other errors must name a file of the run to be ours.
    if why not in FULL_DISK and not inside:
        return None
    listed = checkpoints.candidates(checkpoints.directory(root))
    latest = listed[0] if listed else None
    return (f"cannot write {where or root} ({why}); free space or fix the folder, then "
            f"rerun the same command to resume from {checkpoints.resume_point(latest)}")


class NanGuard:
    """Finds NaN/Inf in the losses (and the weights before a save) and decides what follows.

    `stop` raises Diverged naming the step, keeping the last good checkpoint. `rollback`
    returns how far to lower the learning rates before continuing from that checkpoint (the
    loop restores it); after MAX_ROLLBACKS rollbacks to the same checkpoint it gives up like
    `stop`. `r1_gamma` is the run's training.r1_gamma: a penalty that heavy diverges too.
    """

    def __init__(self, mode, state, r1_gamma=0.0):
        self.mode, self.state, self.r1_gamma = mode, state, r1_gamma
        self.rollbacks = 0
        self._target = None

    def check(self, pending, step, weights=False):
        """The problem (text) with the steps in `pending` [(steps, summed metrics)], or None.

        `weights` also checks every variable: a finite loss can come with an overflowing update,
        and a checkpoint must never hold NaN.
        """
        first = step - sum(n for n, _ in pending)
        for n, totals in pending:
            bad = [k for k, v in totals.items() if not math.isfinite(float(v))]
            if bad:
                where = f"step {first + n}" if n == 1 else f"steps {first + 1}-{first + n}"
                return f"{', '.join(bad)} became NaN/Inf at {where}"
            first += n
        if weights and not self.state.weights_finite():
            return f"the weights became NaN/Inf by step {step}"
        return None

    def decide(self, problem, latest):
        """Raise Diverged, or return the factor (1/2 per rollback) to scale the rates by.

        Args:
            problem: what `check` found.
            latest: the last good checkpoint's prefix, or None before the first save.
        """
        lower = "lower optim.g_learning_rate and optim.d_learning_rate"
        if self.r1_gamma >= R1_GAMMA_SUSPECT:
            lower = f"lower training.r1_gamma (now {self.r1_gamma:g}) or {lower[len('lower '):]}"
        if self.mode == "stop":
            lower += " (or set training.on_nan=rollback)"
        if latest is None:
            raise Diverged(f"training diverged: {problem}, before the first checkpoint; {lower} "
                           "and rerun the same command to start again")
        resume = f"and rerun the same command to resume from step {checkpoints.step_of(latest)}"
        if self.mode == "stop":
            raise Diverged(f"training diverged: {problem}; the last good checkpoint {latest} is "
                           f"kept; {lower} {resume}")
        if latest != self._target:  # progress since the last rollback: a new episode
            self._target, self.rollbacks = latest, 0
        if self.rollbacks >= MAX_ROLLBACKS:
            rates = self.state.learning_rates()
            raise Diverged(f"training diverged: {problem} again after {MAX_ROLLBACKS} rollbacks "
                           f"to {latest} (learning rates g {rates['g_learning_rate']:.3g}, "
                           f"d {rates['d_learning_rate']:.3g}); {lower} {resume}")
        self.rollbacks += 1
        # Halved once more per rollback to this checkpoint: each restore brings back its scale.
        return 0.5 ** self.rollbacks
