"""Checkpoints of a run: list, verify, select, restore, save, rotate, and the best one.

Every command goes through this module, so training, sampling, export and evaluation agree on
which checkpoints exist, which of them read back whole, and which generator to sample from.

- A checkpoint counts once TensorFlow's `checkpoint` state file names it (written atomically,
  after the data and index are complete) or once its index exists (the index is written last:
  a run killed between writing a checkpoint and recording it leaves a whole one behind).
- Whole means every tensor reads back: a kill or power cut can tear the newest one. Commands
  fall back past torn checkpoints to the newest whole one with the same one-line warning;
  training also moves the torn files to checkpoints/damaged/ (never deletes them).
- Saving (`CheckpointWriter`, the one writer) keeps `keep` whole checkpoints, whatever earlier
  falls back left behind.
"""

import glob
import json
import logging
import math
import os
import re
import shutil

import tensorflow as tf

from dcgan import files
from dcgan.errors import UserError, reason
from dcgan.run import workdir

log = logging.getLogger("dcgan")

EMA_KEY = "ema_generator"

_NAME = re.compile(r"ckpt-(\d+)")


def directory(root, which="latest"):
    run = workdir.RunDir(root)
    return run.best_checkpoint if which == "best" else run.checkpoints


def step_of(path):
    """The step in a checkpoint prefix's name (ckpt-150 -> 150), or None."""
    match = _NAME.fullmatch(os.path.basename(path or ""))
    return int(match.group(1)) if match else None


def candidates(folder):
    """Checkpoint prefixes in `folder`, newest first: those the state file names and those with
    an index it does not name. Whether they read back whole is `verify`'s question."""
    if not os.path.isdir(folder):
        return []
    names = set()
    state = _read_state(folder)
    if state is not None:
        # A name with no file at all left is one rotated away, not a torn one.
        names.update(os.path.basename(p) for p in
                     [state.model_checkpoint_path, *state.all_model_checkpoint_paths]
                     if glob.glob(glob.escape(os.path.join(folder, os.path.basename(p))) + ".*"))
    names.update(name[:-len(".index")] for name in os.listdir(folder) if name.endswith(".index"))
    steps = {step_of(name): name for name in names if step_of(name) is not None}
    return [os.path.join(folder, steps[s]) for s in sorted(steps, reverse=True)]


def verify(path):
    """Read every tensor of the checkpoint at `path`; raises if any part is missing or torn."""
    reader = tf.train.load_checkpoint(path)
    for name in reader.get_variable_to_shape_map():
        reader.get_tensor(name)


def newest_whole(folder, tidy=False, load=verify):
    """The newest checkpoint in `folder` that `load` reads whole, after warning about newer ones.

    Args:
        folder: a checkpoints folder.
        tidy: move torn checkpoints to checkpoints/damaged/ and rewrite the state file so that
            saving continues (and rotates) from the one returned; training only, since the
            other commands must not change a run folder another process may be training in.
        load: reads a checkpoint (raises when it cannot); `verify` by default, or the restore
            of the training state itself.

    Returns:
        The checkpoint's prefix, or None when `folder` holds no checkpoint at all.

    Raises:
        UserError when there are checkpoints and none of them reads back.
    """
    found = candidates(folder)
    failures = []
    for path in found:
        try:
            load(path)
        except Exception as e:  # noqa: BLE001 - torn files raise anything from IndexError up
            failures.append((path, e))
            continue
        for bad, error in failures:
            log.warning("checkpoint %s cannot be read (%s); using the older %s instead",
                        bad, reason(error), os.path.basename(path))
        if tidy:
            _tidy(folder, path, [bad for bad, _ in failures], found)
        return path
    if failures:
        path, error = failures[0]
        raise UserError(f"no checkpoint in {folder} reads back whole ({os.path.basename(path)}: "
                        f"{reason(error)}); train again in a new --workdir")
    if tidy and os.path.isdir(folder):
        _remove_unfinished(folder)
        state = workdir.RunDir.checkpoint_state(folder)
        if os.path.exists(state):  # names nothing that exists
            os.remove(state)
    return None


def select(root, which="latest", step=None):
    """(prefix, step) of the checkpoint a command asked for: `which` latest or best, or a step.

    Falls back past torn checkpoints like training does; a UserError says what exists instead.
    """
    if step is not None and which == "best":
        raise UserError("--step and --checkpoint=best both pick a checkpoint; give one")
    folder = directory(root, which)
    if step is not None:
        whole = {step_of(p): p for p in candidates(folder)}
        if step not in whole:
            kept = ", ".join(str(s) for s in sorted(whole)) or "none"
            raise UserError(f"no checkpoint of step {step} in {folder}; steps kept: {kept}")
        try:
            verify(whole[step])
        except Exception as e:  # noqa: BLE001 - as in newest_whole
            raise UserError(f"checkpoint {whole[step]} cannot be read ({reason(e)}); pick "
                            "another --step") from None
        return whole[step], step
    path = newest_whole(folder)
    if path is None:
        hint = ("it appears once training.eval_every_steps > 0 has scored the run"
                if which == "best" else "train first, or wait for the first save "
                "(training.checkpoint_every_steps)")
        what = "best checkpoint" if which == "best" else "checkpoint"
        raise UserError(f"no {what} in {folder} yet; {hint}")
    return path, step_of(path)


def restore_generator(config, path, use_ema=True, num_classes=0):
    """The generator of the run whose config is `config` (workdir.read_config), in float32
    with the weights of checkpoint `path`.

    `num_classes` is the number of the run's classes (workdir.read_classes) for a conditional
    run.

    The one rule for which generator samples: the EMA copy when the checkpoint holds one and
    `use_ema`, else the trained one. Only the generator is read; `expect_partial` says the rest
    stays in the file on purpose.

    Returns:
        (generator, key), key "ema_generator" or "generator".
    """
    from dcgan import models

    names = {name.split("/", 1)[0] for name, _ in tf.train.list_variables(path)}
    key = EMA_KEY if use_ema and EMA_KEY in names else "generator"
    # float32 whatever precision the run trained in: the same images on every machine.
    generator = models.generator_from_config(config, "float32", num_classes)
    try:
        tf.train.Checkpoint(**{key: generator}).restore(path).expect_partial() \
            .assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as e:
        raise UserError(f"{path} holds no {key.replace('_', ' ')} matching the run's "
                        f"config.json ({reason(e)[:120]})") from None
    return generator, key


def resume_point(latest):
    step = step_of(latest)
    return "the start (no checkpoint yet)" if step is None else f"step {step}"


class CheckpointWriter:
    """The one owner of a run's saving: its checkpoints, their rotation, the best checkpoint,
    the step saved last.

    Built once per invocation, with the training state's `checkpoint`. It first finds the
    newest whole checkpoint (`resume_from`) for the run to continue from; the chief tidies
    torn ones away. Every worker of a cluster takes part in every save (a save may hold
    collective ops), but only the chief's files are the run's: the others save into a folder
    of their own that they delete.

    Args:
        checkpoint: the tf.train.Checkpoint of the training state.
        run: the run folder (workdir.RunDir): its checkpoints and best checkpoint folders.
        chief: whether this process writes the run folder.
        keep: whole checkpoints kept by rotation.
        before_save: called before every save, to bring what the weights do not carry up to
            date (the seconds trained).
    """

    def __init__(self, checkpoint, run, chief, keep, before_save=None):
        self.checkpoint, self.chief, self.keep = checkpoint, chief, keep
        self.folder, self._best_folder = run.checkpoints, run.best_checkpoint
        self._best_record = run.best_record
        self._before_save = before_save or (lambda: None)
        # Before the manager reads the state file, which tidying rewrites.
        self.resume_from = newest_whole(self.folder, tidy=chief)
        self.manager = tf.train.CheckpointManager(checkpoint, self.folder, max_to_keep=keep)
        # Tracked here, not read from the manager: a non-chief worker's manager never saves,
        # and all workers must make the same saves.
        self.saved_step = step_of(self.resume_from) if self.manager.latest_checkpoint else None
        self._best = None

    @property
    def latest(self):
        """The prefix of the newest checkpoint saved, or None before the first save."""
        return self.manager.latest_checkpoint

    def save(self, step):
        self._before_save()
        self._save(self.manager, step, self.keep)
        self.saved_step = step

    def reload(self, load):
        """Load the newest whole checkpoint with `load` (a rollback); returns its step."""
        path = newest_whole(self.folder, tidy=self.chief, load=load)
        self.saved_step = step_of(path)
        return self.saved_step

    def offer_best(self, step, fid):
        """Keep the state in checkpoints/best when `fid` is the lowest Frechet distance yet."""
        if self._best is None:
            self._best = _Best(self.checkpoint, self._best_folder, self._best_record)
        if not fid < self._best.fid:
            return
        self._best.fid = fid
        self._before_save()
        self._save(self._best.manager, step, 1)
        if self.chief:
            files.write_json_atomically(self._best.path, {"step": step, "fid": fid})
            log.info("best Frechet distance so far (%.4g) at step %d: kept in %s", fid, step,
                     self._best.manager.directory)

    def _save(self, manager, step, keep):
        if self.chief:
            _save_rotating(manager, step, keep)
            return
        tmp = workdir.RunDir.worker_scratch(manager.directory, os.getpid())
        try:
            tf.train.CheckpointManager(manager.checkpoint, tmp, max_to_keep=1).save(step)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class _Best:
    """checkpoints/best: its manager, and the lowest Frechet distance so far.

    best.json ({step, fid}) carries the score across resumes.
    """

    def __init__(self, checkpoint, folder, record):
        self.manager = tf.train.CheckpointManager(checkpoint, folder, max_to_keep=1)
        self.path = record
        self.fid = math.inf
        if self.manager.latest_checkpoint and os.path.exists(self.path):
            try:
                with open(self.path) as f:
                    self.fid = float(json.load(f)["fid"])
            except (OSError, ValueError, KeyError, TypeError):
                log.warning("%s is unreadable; the next evaluation replaces the best", self.path)


def _save_rotating(manager, step, keep):
    """manager.save, then rotation down to `keep` whole checkpoints.

    CheckpointManager rotates only what it saved itself in this process; after a fall back the
    older checkpoints it recovered from the state file would stay forever. A failed write
    becomes a UserError that says where the run resumes from, with nothing half-written left.
    """
    try:
        path = manager.save(checkpoint_number=step)
    except (OSError, tf.errors.OpError) as e:
        prefix = os.path.join(manager.directory, f"ckpt-{step}")
        if prefix not in manager.checkpoints:  # never take the half-written files for good
            _delete(prefix)
            shutil.rmtree(prefix + "_temp", ignore_errors=True)
        raise UserError(f"cannot write checkpoint {prefix} ({reason(e)}); free space or fix "
                        f"the folder, then rerun the same command to resume from "
                        f"{resume_point(manager.latest_checkpoint)}") from None
    if keep:
        for old in candidates(manager.directory)[keep:]:
            _delete(old)
    return path



def _read_state(folder):
    """The `checkpoint` state file's contents, or None if missing or unreadable."""
    try:
        return tf.train.get_checkpoint_state(folder)
    except (ValueError, tf.errors.OpError):  # e.g. an empty file after a power cut
        return None


def _write_state(folder, latest, paths):
    """Write the state file as CheckpointManager does (a text proto), atomically."""
    lines = [f'model_checkpoint_path: "{os.path.basename(latest)}"']
    lines += [f'all_model_checkpoint_paths: "{os.path.basename(p)}"' for p in paths]
    files.write_lines_atomically(workdir.RunDir.checkpoint_state(folder),
                                 [f"{line}\n" for line in lines])


def _delete(prefix):
    for path in glob.glob(glob.escape(prefix) + ".*"):
        os.remove(path)


def _tidy(folder, restored, damaged, found):
    if damaged:
        aside = workdir.RunDir.damaged_checkpoints(folder)
        os.makedirs(aside, exist_ok=True)
        for prefix in damaged:
            for path in glob.glob(glob.escape(prefix) + ".*"):
                os.replace(path, os.path.join(aside, os.path.basename(path)))
        log.warning("moved the unreadable checkpoint files to %s", aside)
    state = _read_state(folder)
    if damaged or state is None or os.path.basename(state.model_checkpoint_path) != \
            os.path.basename(restored):
        # Record what is really there, oldest first, so that the manager continues from it.
        _write_state(folder, restored, [
            p for p in reversed(found)
            if p not in damaged and step_of(p) <= step_of(restored)])
    _remove_unfinished(folder)


def _remove_unfinished(folder):
    """Delete what a killed save left behind: temporary folders and data files with no index.

    Neither can ever load, and on a full disk they hold the space the next save needs.
    """
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        prefix = name.split(".data-")[0]
        if name.endswith("_temp") and _NAME.fullmatch(name[:-len("_temp")]):
            shutil.rmtree(path, ignore_errors=True)
        elif ".data-" in name and _NAME.fullmatch(prefix) and \
                not os.path.exists(os.path.join(folder, prefix + ".index")):
            os.remove(path)
