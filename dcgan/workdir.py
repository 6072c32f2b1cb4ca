"""The files of a run folder: its config, its lock, atomic writes."""

import fcntl
import json
import os

from dcgan.errors import UserError

CONFIG_FILE = "config.json"
LOG_FILE = "train.log"
GIF_FILE = "progress.gif"
LOCK_FILE = ".lock"
# Config fields that fix the shapes of the saved variables: a checkpoint only resumes under these.
MODEL_FIELDS = ("data.image_size", "data.channels", "model")
# Fields added after the first release, with the value that a config.json written before them
# implied: `read_config` fills them in, so older runs still resume, sample and evaluate.
LATER_FIELDS = {"runtime.sync_batch_norm": False, "model.minibatch_stddev": -1}


def prepare(workdir):
    """Create the run folder and its subfolders, failing clearly if it cannot be written."""
    try:
        for sub in ("", "checkpoints", "samples", "tensorboard"):
            os.makedirs(os.path.join(workdir, sub), exist_ok=True)
        probe = os.path.join(workdir, ".write_test")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as e:
        raise UserError(
            f"workdir {workdir} is not writable ({e.strerror}); choose another --workdir"
        ) from None


class _Lock:
    """A hold on a run folder's lock; the lock goes when its last holder in the process closes."""

    held = {}  # real path -> [open lock file, number of holders]

    def __init__(self, key):
        self.key = key

    def close(self):
        entry = self.held.get(self.key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            del self.held[self.key]
            entry[0].close()  # closing the file releases the flock
        self.key = None


def lock(workdir):
    """Hold an exclusive lock on the run folder until `.close()` (or this process ends).

    flock is released by the kernel when the process dies, even on kill -9, so a crashed run
    never leaves a stale lock. Within one process the lock can be taken again (the entry point
    takes it before logging to the folder, train_and_evaluate takes it too).
    """
    key = os.path.realpath(workdir)
    if key in _Lock.held:
        _Lock.held[key][1] += 1
        return _Lock(key)
    try:
        os.makedirs(workdir, exist_ok=True)
        handle = open(os.path.join(workdir, LOCK_FILE), "a+")
    except OSError as e:
        raise UserError(
            f"workdir {workdir} is not writable ({e.strerror}); choose another --workdir"
        ) from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "another process"
        handle.close()
        raise UserError(
            f"workdir {workdir} is in use by another training run ({owner}); "
            "wait for it to finish or use another --workdir"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}")
    handle.flush()
    _Lock.held[key] = [handle, 1]
    return _Lock(key)


def _field(config_dict, dotted):
    value = config_dict
    for key in dotted.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def model_differences(saved, current):
    """Fields that differ between two config dicts among those that shape the checkpoint."""
    differences = []
    for name in MODEL_FIELDS:
        old, new = _field(saved, name), _field(current, name)
        if isinstance(old, dict) and isinstance(new, dict):
            for key in sorted(set(old) | set(new)):
                if old.get(key) != new.get(key):
                    differences.append(f"{name}.{key}: {old.get(key)!r} -> {new.get(key)!r}")
        elif old != new:
            differences.append(f"{name}: {old!r} -> {new!r}")
    return differences


def read_config(workdir):
    """The run's config.json as a dict, with `LATER_FIELDS` it lacks; None if there is none."""
    path = os.path.join(workdir, CONFIG_FILE)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        config = json.load(f)
    for dotted, implied in LATER_FIELDS.items():
        *groups, key = dotted.split(".")
        group = config
        for name in groups:
            group = group.setdefault(name, {})
        group.setdefault(key, implied)
    return config


def write_lines_atomically(path, lines):
    """Replace `path` by a file of `lines`: a kill leaves the old file or the new, never half."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.writelines(lines)
    os.replace(tmp, path)


def write_json_atomically(path, obj):
    write_lines_atomically(path, [json.dumps(obj, indent=2, sort_keys=True), "\n"])
