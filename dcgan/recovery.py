"""Never lose a run: signals, damaged checkpoints, NaN losses, full disks, logs kept in step.

A run folder must survive whatever ends its process: Ctrl-C, a pre-emption's SIGTERM, a
`kill -9` or a power cut in the middle of a checkpoint write, a full disk. The rules:

- A checkpoint counts once the `checkpoint` state file names it, and TensorFlow writes that file
  (atomically) only after the checkpoint's data and index are complete.
- A resume loads the newest checkpoint that reads back whole and falls back to older ones past
  damaged files, which are set aside in checkpoints/damaged/, never deleted.
- Everything logged after the resumed step (metrics.jsonl, sample grids, TensorBoard events)
  is dropped first, so a resumed run never shows a step twice.
- NaN or Inf never reaches a checkpoint: losses (and, before a save, the weights) are checked.
"""

import glob
import logging
import math
import os
import re
import shutil
import signal
import threading

import tensorflow as tf
from google.protobuf.message import DecodeError
from tensorflow.core.util import event_pb2

from dcgan import workdir
from dcgan.errors import UserError

log = logging.getLogger("dcgan")

CHECKPOINT_DIR = "checkpoints"
DAMAGED_DIR = "damaged"  # under checkpoints/: unreadable checkpoints, kept for inspection
TENSORBOARD_DIR = "tensorboard"
# Consecutive rollbacks to the same checkpoint before training.on_nan=rollback gives up.
MAX_ROLLBACKS = 3
# Fault injection for tests of the divergence handling (a real divergence that recovers after
# a rollback cannot be provoked in a few deterministic steps): the first time the run reaches
# this step, a generator weight is set to NaN. Never set it for a real run.
FAULT_ENV = "DCGAN_FAULT_NAN_AT_STEP"

_CHECKPOINT_NAME = re.compile(r"ckpt-(\d+)")
# The OS errors of a write that cannot succeed until the user acts.
_FULL = {"No space left on device", "Disk quota exceeded", "File too large",
         "Read-only file system"}
_WRITE_ERRORS = _FULL | {"Permission denied", "Operation not permitted", "Input/output error",
                         "Not a directory"}


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

    def __init__(self):
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
                if self.exit_code is None:
                    self.exit_code = self.CODES[signum]
                    log.warning("signal %d: saving a checkpoint after this step, then exiting "
                                "(again to quit at once, losing the steps since the last "
                                "checkpoint)", signum)
                    continue
                log.warning("signal %d again: quitting now; rerun the same command to resume "
                            "from the last checkpoint", signum)
                for handler in logging.getLogger().handlers + log.handlers:
                    handler.flush()
                os._exit(self.CODES[signum])


# ---------------------------------------------------------------------------------------------
# Checkpoints that read back whole.


def checkpoint_step(path):
    match = _CHECKPOINT_NAME.fullmatch(os.path.basename(path or ""))
    return int(match.group(1)) if match else None


def checkpoint_candidates(directory):
    """Checkpoint prefixes in `directory`, newest first.

    Those the state file lists and those with an index it does not list (a run killed between
    writing a checkpoint and recording it, or a state file lost with the power): an index is
    written last, so its presence means the checkpoint may be whole; reading it tells.
    """
    if not os.path.isdir(directory):
        return []
    names = set()
    state = _read_state(directory)
    if state is not None:
        names.update(os.path.basename(p) for p in
                     [state.model_checkpoint_path, *state.all_model_checkpoint_paths])
    names.update(name[:-len(".index")] for name in os.listdir(directory)
                 if name.endswith(".index"))
    steps = {checkpoint_step(name): name for name in names if checkpoint_step(name) is not None}
    return [os.path.join(directory, steps[s]) for s in sorted(steps, reverse=True)]


def _read_state(directory):
    """The `checkpoint` state file's contents, or None if missing or unreadable."""
    try:
        return tf.train.get_checkpoint_state(directory)
    except (ValueError, tf.errors.OpError):  # e.g. an empty file after a power cut
        return None


def _write_state(directory, latest, paths):
    """Write the state file as CheckpointManager does (a text proto), atomically."""
    lines = [f'model_checkpoint_path: "{os.path.basename(latest)}"']
    lines += [f'all_model_checkpoint_paths: "{os.path.basename(p)}"' for p in paths]
    state = os.path.join(directory, "checkpoint")
    with open(state + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(state + ".tmp", state)


def _restore(gan, checkpoint, path):
    names = [name for name, _ in tf.train.list_variables(path)]
    # Checkpoints written before rollbacks existed have no scale; it stays 1.
    if not any(name.startswith("learning_rate_scale/") for name in names):
        checkpoint = gan.checkpoint(with_scale=False)
    checkpoint.restore(path).assert_existing_objects_matched()


def restore_latest(gan, checkpoint, directory, tidy=True):
    """Restore `checkpoint` (of `gan`) from the newest checkpoint in `directory` that loads.

    Newer checkpoints that fail to load (cut short by a crash or power loss) are reported and,
    if `tidy`, moved to checkpoints/damaged/ and dropped from the state file, so that
    CheckpointManager continues from the one restored.

    Returns:
        The restored checkpoint's path, or None when the folder holds no checkpoint.

    Raises:
        UserError if there are checkpoints and none of them loads (damaged, or of another model).
    """
    candidates = checkpoint_candidates(directory)
    failures = []
    for path in candidates:
        try:
            _restore(gan, checkpoint, path)
        except Exception as e:  # noqa: BLE001 - torn files raise anything from IndexError up
            failures.append((path, e))
            continue
        for bad, error in failures:
            log.warning("checkpoint %s cannot be read (%s); resuming from the older %s instead",
                        bad, error_reason(error), os.path.basename(path))
        if tidy:
            _tidy(directory, path, [bad for bad, _ in failures], candidates)
        return path
    if failures:
        path, error = failures[0]
        raise UserError(f"cannot resume from {path}: {error_reason(error)}; "
                        "use a new --workdir") from None
    if tidy and candidates == [] and os.path.isdir(directory):
        _remove_unfinished(directory)
        if os.path.exists(os.path.join(directory, "checkpoint")):  # names nothing that exists
            os.remove(os.path.join(directory, "checkpoint"))
    return None


def _tidy(directory, restored, damaged, candidates):
    if damaged:
        aside = os.path.join(directory, DAMAGED_DIR)
        os.makedirs(aside, exist_ok=True)
        for prefix in damaged:
            for path in glob.glob(glob.escape(prefix) + ".*"):
                os.replace(path, os.path.join(aside, os.path.basename(path)))
        log.warning("moved the unreadable checkpoint files to %s", aside)
    state = _read_state(directory)
    if damaged or state is None or os.path.basename(state.model_checkpoint_path) != \
            os.path.basename(restored):
        # Record what is really there, oldest first, so that the manager keeps rotating them.
        _write_state(directory, restored, [
            p for p in reversed(candidates)
            if p not in damaged and checkpoint_step(p) <= checkpoint_step(restored)])
    _remove_unfinished(directory)


def _remove_unfinished(directory):
    """Delete what a killed save left behind: temporary folders and data files with no index.

    Neither can ever load, and on a full disk they hold the space the next save needs.
    """
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        prefix = name.split(".data-")[0]
        if name.endswith("_temp") and _CHECKPOINT_NAME.fullmatch(name[:-len("_temp")]):
            shutil.rmtree(path, ignore_errors=True)
        elif ".data-" in name and _CHECKPOINT_NAME.fullmatch(prefix) and \
                not os.path.exists(os.path.join(directory, prefix + ".index")):
            os.remove(path)


def save_checkpoint(manager, step):
    """manager.save, turning a failed write into a UserError that says where to resume."""
    try:
        return manager.save(checkpoint_number=step)
    except (OSError, tf.errors.OpError) as e:
        prefix = os.path.join(manager.directory, f"ckpt-{step}")
        if prefix not in manager.checkpoints:  # never take the half-written files for good
            for path in glob.glob(glob.escape(prefix) + ".*"):
                os.remove(path)
            shutil.rmtree(prefix + "_temp", ignore_errors=True)
        raise UserError(f"cannot write checkpoint {prefix} ({error_reason(e)}); free space or "
                        f"fix the folder, then rerun the same command to resume from "
                        f"{_resume_point(manager.latest_checkpoint)}") from None


def _resume_point(latest):
    step = checkpoint_step(latest)
    return "the start (no checkpoint yet)" if step is None else f"step {step}"


def error_reason(error):
    """The useful part of an exception's message: `No space left on device`, not a stack."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    text = str(getattr(error, "message", None) or error).strip()
    for reason in _WRITE_ERRORS:
        if reason in text:
            return reason
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def write_problem(error, root):
    """A one-line message if `error` is a write into the run folder that the system refused."""
    reason = error_reason(error)
    if not isinstance(error, (OSError, tf.errors.OpError)) or reason not in _WRITE_ERRORS:
        return None
    where = getattr(error, "filename", None)
    if where is None:
        found = re.search(re.escape(os.path.normpath(root)) + r"[^\s;:,]*", str(error))
        where = found.group(0) if found else None
    inside = where is not None and \
        os.path.abspath(where).startswith(os.path.abspath(root) + os.sep)
    # A full disk shows only on writes; other errors must name a file of the run to be ours.
    if reason not in _FULL and not inside:
        return None
    latest = tf.train.latest_checkpoint(os.path.join(root, CHECKPOINT_DIR))
    return (f"cannot write {where or root} ({reason}); free space or fix the folder, then "
            f"rerun the same command to resume from {_resume_point(latest)}")


# ---------------------------------------------------------------------------------------------
# Logs that never show a step twice.


def forget_after(root, step):
    """Drop metrics, sample grids and TensorBoard events logged after `step`."""
    workdir.forget_after(root, step)
    trim_events(os.path.join(root, TENSORBOARD_DIR), step)


def trim_events(folder, step):
    """Rewrite the TensorBoard event files under `folder` without events after `step`.

    Event files are TFRecord files of Event protos. The file_version record (step 0) stays; a
    record cut short by a kill ends the file.
    """
    for path in glob.glob(os.path.join(glob.escape(folder), "**", "events.out.tfevents.*"),
                          recursive=True):
        records, dropped = [], False
        try:
            for raw in tf.data.TFRecordDataset(path):
                raw = raw.numpy()
                if event_pb2.Event.FromString(raw).step > step:
                    dropped = True
                else:
                    records.append(raw)
        except (tf.errors.OpError, DecodeError):  # a last record cut short by a kill
            dropped = True
        if dropped:
            # No "tfevents" in the name: TensorBoard must never read a half-written copy.
            tmp = os.path.join(os.path.dirname(path), ".trimmed-events.tmp")
            with tf.io.TFRecordWriter(tmp) as writer:
                for raw in records:
                    writer.write(raw)
            os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# Divergence.


class NanGuard:
    """Finds NaN/Inf in the losses (and weights before a save) and applies training.on_nan.

    `stop` raises Diverged naming the step, keeping the last good checkpoint. `rollback`
    restores that checkpoint, halves both learning rates (through the checkpointed
    learning_rate_scale, so a resumed run keeps them low) and lets training continue from
    there; after MAX_ROLLBACKS rollbacks to the same checkpoint it gives up like `stop`.
    """

    def __init__(self, mode, gan, manager, optim, root, chief):
        self.mode, self.gan, self.manager, self.optim = mode, gan, manager, optim
        self.root, self.chief = root, chief
        self.rollbacks = 0
        self._target = None
        fault = os.environ.get(FAULT_ENV, "")
        self._fault_step = int(fault) if fault.isdigit() else None
        variables = [v for part in (gan.generator, gan.discriminator, gan.ema_generator)
                     if part is not None for v in part.weights]
        variables += list(gan.g_optimizer.variables) + list(gan.d_optimizer.variables)
        self._floats = [v for v in variables if tf.as_dtype(v.dtype).is_floating]

    def check(self, pending, step, weights=False):
        """The problem (text) with the steps in `pending` [(steps, summed metrics)], or None.

        `weights` also checks every variable: a finite loss can come with an overflowing update,
        and a checkpoint must never hold NaN.
        """
        if self._fault_step is not None and step >= self._fault_step:
            self._fault_step = None
            first = self.gan.generator.trainable_variables[0]
            first.assign(tf.fill(tf.shape(first), float("nan")))
        first = step - sum(n for n, _ in pending)
        for n, totals in pending:
            bad = [k for k, v in totals.items() if not math.isfinite(float(v))]
            if bad:
                where = f"step {first + n}" if n == 1 else f"steps {first + 1}-{first + n}"
                return f"{', '.join(bad)} became NaN/Inf at {where}"
            first += n
        if weights and not all(bool(tf.reduce_all(tf.math.is_finite(v))) for v in self._floats):
            return f"the weights became NaN/Inf by step {step}"
        return None

    def handle(self, problem):
        """Stop (raise Diverged) or roll back; returns the step training continues from."""
        latest = self.manager.latest_checkpoint
        lower = "lower optim.g_learning_rate and optim.d_learning_rate"
        if self.mode == "stop":
            lower += " (or set training.on_nan=rollback)"
        if latest is None:
            raise Diverged(f"training diverged: {problem}, before the first checkpoint; {lower} "
                           "and rerun the same command to start again")
        resume = f"and rerun the same command to resume from step {checkpoint_step(latest)}"
        if self.mode == "stop":
            raise Diverged(f"training diverged: {problem}; the last good checkpoint {latest} is "
                           f"kept; {lower} {resume}")
        if latest != self._target:  # progress since the last rollback: a new episode
            self._target, self.rollbacks = latest, 0
        if self.rollbacks >= MAX_ROLLBACKS:
            raise Diverged(f"training diverged: {problem} again after {MAX_ROLLBACKS} rollbacks "
                           f"to {latest} (learning rates g {self._rate(self.gan.g_optimizer):.3g}"
                           f", d {self._rate(self.gan.d_optimizer):.3g}); {lower} {resume}")
        self.rollbacks += 1
        restore_latest(self.gan, self.manager.checkpoint, self.manager.directory,
                       tidy=self.chief)
        # Halved once per rollback to this checkpoint: each restore brings back its scale.
        self.gan.learning_rate_scale.assign(
            self.gan.learning_rate_scale * 0.5 ** self.rollbacks)
        apply_learning_rates(self.gan, self.optim)
        step = int(self.gan.step.numpy())
        if self.chief:
            forget_after(self.root, step)
        log.warning("%s; rolled back to step %d and halved the learning rates to g %.3g, d %.3g "
                    "(rollback %d of %d)", problem, step, self._rate(self.gan.g_optimizer),
                    self._rate(self.gan.d_optimizer), self.rollbacks, MAX_ROLLBACKS)
        return step

    @staticmethod
    def _rate(optimizer):
        return float(tf.convert_to_tensor(optimizer.learning_rate))


def apply_learning_rates(gan, optim):
    """Set the optimizers' rates to optim.*_learning_rate times the run's rollback scale.

    The optimizers checkpoint their rates too, but the config must win on resume (lowering the
    rates is how a user answers a divergence); the scale carries what rollbacks took off.
    """
    scale = float(gan.learning_rate_scale.numpy())
    for name, optimizer in (("g_learning_rate", gan.g_optimizer),
                            ("d_learning_rate", gan.d_optimizer)):
        optimizer.learning_rate.assign(float(optim[name]) * scale)
    if scale != 1.0:
        log.info("learning rates at %g times optim.*_learning_rate after rollbacks", scale)
