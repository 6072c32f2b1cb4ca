"""The run folder: the name of each of its files (RunDir), its config, its classes, its lock."""

import contextlib
import copy
import fcntl
import glob
import json
import os
import re

import ml_collections

from dcgan import files
from dcgan.config_check import AS_TYPED_FIELD, INITIALIZED_FROM, PRECISION_FIELD
from dcgan.data import sources
from dcgan.errors import UserError, file_in_place_of_folder, unwritable_workdir

# The sample grids training writes; a user's own files in samples/ are never touched.
_SAMPLE_GRID = re.compile(r"step_(\d{6})\.png")
_UNFINISHED_GRID = files.temporary_names(_SAMPLE_GRID.pattern)


def _entry(name, doc=None):
    """A RunDir property: the path of `name` in the run folder."""
    return property(lambda run: os.path.join(run.root, name), doc=doc)


class RunDir:
    """Where each file and folder of the run folder `root` is: the one place their names are
    spelt. Commands, scripts and tests of other code take the paths from here."""

    checkpoints = _entry("checkpoints")
    samples = _entry("samples", "Training's sample grids, and `dcgan.sample`'s default outputs.")
    tensorboard = _entry("tensorboard")
    log = _entry("train.log")
    metrics = _entry("metrics.jsonl", "One JSON object per log step.")
    config = _entry("config.json", "The config the run's checkpoints were trained with.")
    config_history = _entry("config_history.jsonl",
                            "The config changes of resumes, and the step they were made at.")
    classes = _entry("classes.json", "A conditional run's class names, {\"names\": [...]}: "
                     "their number shapes the models.")
    progress_gif = _entry("progress.gif")
    report = _entry("report.png")
    eval_results = _entry("eval.json", "What `dcgan.evaluate` scored last.")
    lock_file = _entry(".lock")
    data_files = _entry("data_files.json", "A folder source's files (relative path, size), "
                        "fingerprint and class folders at the last start.")

    def __init__(self, root):
        self.root = root

    @property
    def best_checkpoint(self):
        """The checkpoint of lowest Frechet distance, in a folder of its own."""
        return os.path.join(self.checkpoints, "best")

    @property
    def best_record(self):
        """{step, fid} of the best checkpoint, beside it: carries its score across resumes."""
        return os.path.join(self.best_checkpoint, "best.json")

    @property
    def write_probe(self):
        """The file `prepare` writes and deletes to learn that the folder can be written."""
        return os.path.join(self.root, ".write_test")

    @staticmethod
    def checkpoint_state(checkpoint_folder):
        """TensorFlow's state file naming the checkpoints of `checkpoint_folder` (checkpoints
        or best_checkpoint)."""
        return os.path.join(checkpoint_folder, "checkpoint")

    @staticmethod
    def checkpoint_indexes(checkpoint_folder):
        """The index files of the checkpoints in `checkpoint_folder` (an index is written
        last, so each is a checkpoint saved whole or torn later), found without TensorFlow."""
        return glob.glob(os.path.join(glob.escape(checkpoint_folder), "ckpt-*.index"))

    @staticmethod
    def damaged_checkpoints(checkpoint_folder):
        """Where the unreadable checkpoints of `checkpoint_folder` are moved, kept for
        inspection."""
        return os.path.join(checkpoint_folder, "damaged")

    @staticmethod
    def worker_scratch(checkpoint_folder, pid):
        """Where a non-chief worker of process `pid` saves its copy, deleted at once."""
        return os.path.join(checkpoint_folder, f".worker_tmp_{pid}")

    def sample_output(self, kind, step, best, seed, truncation, ema):
        """`dcgan.sample`'s default output in samples: what was drawn (`kind`), from which
        checkpoint and with which settings, so that two samplings never write over each other."""
        name = f"{kind}_{'best_' if best else ''}step{step:06d}_seed{seed}"
        if truncation is not None:
            name += f"_trunc{truncation:g}"
        if not ema:
            name += "_noema"
        return os.path.join(self.samples, name + ".png")

    def subfolders(self):
        """The folders a training run writes into, made before it starts."""
        return self.checkpoints, self.samples, self.tensorboard

    def sample_grid(self, step):
        return os.path.join(self.samples, f"step_{step:06d}.png")

    def sample_grids(self):
        """{step: path} of the grids training wrote, in step order."""
        steps = {int(m.group(1)): path for path in self._in_samples()
                 if (m := _SAMPLE_GRID.fullmatch(os.path.basename(path)))}
        return {step: steps[step] for step in sorted(steps)}

    def unfinished_sample_grids(self):
        """The temporary files of grid writes cut short by a kill."""
        return [path for path in self._in_samples()
                if _UNFINISHED_GRID.fullmatch(os.path.basename(path))]

    def _in_samples(self):
        folder = self.samples
        return [os.path.join(folder, n) for n in os.listdir(folder)] if os.path.isdir(folder) \
            else []


# Config fields that fix the shapes of the saved variables: a checkpoint only resumes under these.
MODEL_FIELDS = ("data.image_size", "data.channels", "model")
# Fields that fix which images the run learns from and in what order (the seed draws the
# order): changing them on resume makes it another run, so it takes --allow_new_data.
DATA_FIELDS = ("data.source", "data.max_images", "data.holdout", "data.mirror", "seed")
# How a refused change of data can still be continued; a tool that cannot pass the flag (a
# comparison continues its runs only on the data they began with) leaves this part out.
ALLOW_NEW_DATA = "pass --allow_new_data to continue it on these, or "
# Fields that split the CPU for tests and dry runs: how this process runs, not what the run is,
# so config.json never holds them (a resume takes the default).
NOT_RECORDED_FIELDS = ("runtime.virtual_cpu_devices",)
# Fields added to the config after the first runs were written, with the value their absence
# means: what the versions before them did (each is off, or unused while it is off). A new
# field goes here with that value, so that the run folders written before it still read.
ADDED_FIELDS = {
    "data.max_images": 0,
    "data.holdout": 0,
    "data.cache_dir": "",
    "data.class_names": [],
    "data.mirror": False,
    "model.minibatch_stddev": -1,
    "model.conditional": False,
    "model.stddev_by_class": False,
    "model.class_norm": False,
    "model.skip_excitation": False,
    "optim.schedule": "constant",
    "optim.decay_start": 0.0,
    "training.max_seconds": 0.0,
    "training.r1_gamma": 0.0,
    "training.r1_every": 16,
    "training.mode_seeking": 0.0,
    "training.augment": "",
    "training.augment_p": 1.0,
    "training.ada_target": 0.0,
    "training.ada_gap_target": 0.0,
    "training.ada_kimg": 500.0,
    "training.ada_start_p": 0.0,
    "training.init_from": "",
    "training.freeze_d_layers": 0,
    "training.init_lr_scale": 1.0,
    # Never recorded (NOT_RECORDED_FIELDS): a run read back runs undivided.
    "runtime.virtual_cpu_devices": 0,
}
# Fields a resume may change, each change kept in config_history.jsonl: how long and how fast to
# train (num_steps, learning rates, betas, label smoothing, batch size, steps per call), how
# often to log, sample, save and score, the precision, the hardware (runtime) and where decoded
# images are cached (data.cache_dir: the same images either way). None of them
# changes the shapes in the checkpoint or the data it was trained on, so the run stays the same
# run; the history says from which step it was trained differently.
RESUMABLE_FIELDS = ("optim", "training", "runtime", "data.cache_dir", PRECISION_FIELD,
                    "data.class_names")
# Records of how the run was typed and started, which a resume keeps: never a change of it.
NOT_CHANGES = (AS_TYPED_FIELD, INITIALIZED_FROM)


def place(path):
    """Where `path` leads, `~` expanded and links followed, to tell two spellings of one folder
    apart from two folders; '' for no path."""
    return os.path.realpath(os.path.expanduser(path)) if path else ""


def prepare(workdir):
    """Create the run folder and its subfolders, failing clearly if it cannot be written."""
    try:
        for folder in RunDir(workdir).subfolders():
            os.makedirs(folder, exist_ok=True)
        probe = RunDir(workdir).write_probe
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as e:
        raise unwritable_workdir(workdir, e) from None


def lock(workdir):
    """Hold an exclusive lock on the run folder until the returned file is closed (or this
    process ends).

    flock is released by the kernel when the process dies, even on kill -9, so a crashed run
    never leaves a stale lock. A run takes it once: the entry point, before it logs to the
    folder, and hands it to train_and_evaluate.
    """
    try:
        os.makedirs(workdir, exist_ok=True)
        handle = open(RunDir(workdir).lock_file, "a+")
    except OSError as e:
        raise unwritable_workdir(workdir, e) from None
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
    return handle


def _leaves(config_dict, prefix=""):
    """Dotted name -> value of every field of a (nested) config dict."""
    found = {}
    for key, value in config_dict.items():
        if isinstance(value, dict):
            found.update(_leaves(value, f"{prefix}{key}."))
        else:
            found[f"{prefix}{key}"] = value
    return found


def _under(name, groups):
    return any(name == group or name.startswith(group + ".") for group in groups)


def recorded_config(config, source):
    """The config as config.json keeps it, a plain dict: data.source resolved
    (Source.resolved: paths absolute, so the run is read from any directory), and as typed in
    data.source_as_typed when that differs, for the record."""
    config_dict = json.loads(config.to_json_best_effort())
    if source.resolved() != source.text:
        config_dict["data"]["source"] = source.resolved()
        config_dict["data"]["source_as_typed"] = source.text
    return config_dict


def record_config(root, config_dict, resumed_step, will_train, saved, changes):
    """Keep config.json the config the run's checkpoints were trained with.

    A new run (no checkpoint) writes it. A resume has had its changes checked before it
    started (check_change); when something changed and there are steps left to train, the
    changes are appended to config_history.jsonl as {"step": resumed_step, "changes":
    {field: [old, new]}} and config.json is rewritten; a resume with nothing to train leaves
    both alone.

    Args:
        root: the run folder.
        config_dict: the config about to be trained (recorded_config and resolved_precision).
        resumed_step: step of the checkpoint the run resumes from; None for a new run.
        will_train: whether any step is left to train.
        saved: the run's config.json as it was before the run started; None for none.
        changes: what check_change found between `saved` and the config, but the precision
            resolved since.
    """
    path = RunDir(root).config
    config_dict = _recorded(config_dict)
    if saved is None or resumed_step is None:
        files.write_json_atomically(path, config_dict)
        # A start over (no checkpoint was saved) keeps no history of the attempt before it.
        with contextlib.suppress(FileNotFoundError):
            os.remove(RunDir(root).config_history)
        return
    # The precision was not resolved yet when the changes were found: compared here.
    changes = {name: change for name, change in (changes or {}).items()
               if name != PRECISION_FIELD}
    precision = [saved.get(PRECISION_FIELD), config_dict.get(PRECISION_FIELD)]
    if precision[0] != precision[1]:
        changes[PRECISION_FIELD] = precision
    if not changes or not will_train:
        return
    with open(RunDir(root).config_history, "a") as f:
        f.write(json.dumps({"step": resumed_step, "changes": changes}, sort_keys=True) + "\n")
    files.write_json_atomically(path, config_dict)


def check_change(root, saved, config_dict, allow_new_data):
    """The changes from `saved`, the run's config.json (read_config), to `config_dict`, a
    plain dict of the config about to be trained: {field: [old, new]}.

    Raises:
        UserError: a change the run's checkpoint cannot take: another model, or other data
            without `allow_new_data`.
    """
    old, new = _leaves(_recorded(saved.to_dict())), _leaves(_recorded(config_dict))
    changes = {name: [old.get(name), new.get(name)] for name in sorted(old.keys() | new.keys())
               if old.get(name) != new.get(name) and not _under(name, NOT_CHANGES)}
    if "data.source" in changes and _same_source(*changes["data.source"]):
        del changes["data.source"]  # one folder or file, spelt another way
    # A field in none of these lists (a group added later) is refused too: it may shape the model.
    refused = [name for name in changes if _under(name, MODEL_FIELDS)
               or not _under(name, DATA_FIELDS + RESUMABLE_FIELDS)]
    if refused:
        described = "; ".join(f"{name}: {changes[name][0]!r} -> {changes[name][1]!r}"
                              for name in refused)
        raise UserError(f"workdir {root} holds a checkpoint of a different model ({described}); "
                        "use a new --workdir or the config it was trained with")
    new_data = [name for name in changes if _under(name, DATA_FIELDS)]
    if new_data and not allow_new_data:
        described = "; ".join(f"{name}: {changes[name][0]!r} -> {changes[name][1]!r}"
                              for name in new_data)
        raise UserError(f"workdir {root} was trained on other data ({described}); "
                        f"{ALLOW_NEW_DATA}use a new --workdir")
    _check_held_out_kept(root, old, new)
    return changes


def _check_held_out_kept(root, old, new):
    """Refuse, even with --allow_new_data, a change that would hold out pictures D trained on.

    The held-out pictures are the first data.holdout of the seed's shuffle: fewer keep a part
    of them (never trained on), but more, or another seed, would count trained pictures as
    unseen, and both the held-out gap and the score against them would be wrong.
    """
    before, after = old.get("data.holdout") or 0, new.get("data.holdout") or 0
    if after and (after > before or old.get("seed") != new.get("seed")):
        what = f"data.holdout: {before} -> {after}" if after != before else \
            f"seed: {old.get('seed')} -> {new.get('seed')}"
        raise UserError(f"workdir {root} holds out pictures picked by the seed ({what}): some "
                        "it trained on would be counted as unseen, so not even "
                        "--allow_new_data can continue it; keep data.holdout at most "
                        f"{before} and the seed, or use a new --workdir")


def _same_source(a, b):
    """Whether two data.source values name the same data (Source.same_as)."""
    try:
        return sources.parse(a).same_as(b)
    except UserError:  # a kind this process does not know: the same only if spelt the same
        return a == b


def _recorded(config_dict):
    """A copy of `config_dict` without NOT_RECORDED_FIELDS."""
    recorded = copy.deepcopy(config_dict)
    for name in NOT_RECORDED_FIELDS:
        *groups, field = name.split(".")
        group = recorded
        for key in groups:
            group = group.get(key, {})
        group.pop(field, None)
    return recorded


def check_classes(root, names):
    """Refuse a resume whose data has another number of classes than the run was trained on:
    the checkpoint's embeddings have one row per class. Other names are fine (record_classes).

    Raises:
        UserError: the number of classes differs.
    """
    old = read_classes(root)
    if old is not None and len(old) != len(names):
        raise UserError(f"workdir {root} was trained on {len(old)} classes, the data has "
                        f"{len(names)}; use a new --workdir or the data it was trained on")


def data_change(root, identity, allow_new_data, conditional, holdout):
    """What changed in a folder source since the run recorded it (RunDir.data_files), or None.

    Args:
        identity: the Source's identity() now (a folder's files); None for other sources.
        holdout: the run's data.holdout.

    Raises:
        UserError: the files changed without `allow_new_data`; the class folders of a
            conditional run changed at all: its models number the classes by that list; or
            files were added or removed in a run that holds pictures out, which picks them by
            their place in the folder's list, so the held-out pictures would be others.
    """
    saved = _read_json(RunDir(root).data_files)
    if identity is None or saved is None or saved.get("fingerprint") == identity["fingerprint"]:
        return None
    old_classes, new_classes = saved.get("classes"), identity["classes"]
    if conditional and old_classes != new_classes:
        added = [n for n in new_classes or () if n not in (old_classes or ())]
        removed = [n for n in old_classes or () if n not in (new_classes or ())]
        what = ", ".join([f"added {', '.join(added)}"] * bool(added) +
                         [f"removed {', '.join(removed)}"] * bool(removed)) or "renamed"
        raise UserError(f"workdir {root} was trained on the classes {old_classes}, the folder "
                        f"now has {new_classes} ({what}); a conditional model numbers its "
                        "classes by that list, so not even --allow_new_data can continue it: "
                        "restore the class folders or use a new --workdir")
    described, added_or_removed = _files_change(saved, identity)
    if holdout and added_or_removed:
        raise UserError(f"workdir {root} holds data.holdout={holdout} pictures out, picked by "
                        f"their place in the folder's list, and the folder changed ({described}): "
                        "pictures held out so far would be trained on, so not even "
                        "--allow_new_data can continue it: restore the files, or go on in a "
                        f"new --workdir with --config.training.init_from={root}")
    if not allow_new_data:
        raise UserError(f"workdir {root} was trained on other files of the folder ({described}); "
                        f"{ALLOW_NEW_DATA}use a new --workdir")
    return described


def _files_change(saved, identity):
    """(what differs between two data files records, in words; whether files were added or
    removed)."""
    old_files, new_files = dict(map(tuple, saved["files"])), dict(map(tuple, identity["files"]))
    added = sorted(new_files.keys() - old_files.keys())
    removed = sorted(old_files.keys() - new_files.keys())
    resized = sorted(k for k in old_files.keys() & new_files.keys()
                     if old_files[k] != new_files[k])
    parts = [f"{len(names)} {verb} ({', '.join(names[:3])}{', ...' * (len(names) > 3)})"
             for names, verb in ((added, "added"), (removed, "removed"), (resized, "changed"))
             if names]
    return f"{len(old_files)} -> {len(new_files)} files: {'; '.join(parts)}", \
        bool(added or removed)


def check_same_files(root, identity, where):
    """Refuse data at a new place (`where`, e.g. --data_path=DIR) that holds other files than
    the run recorded in RunDir.data_files; fine when the run recorded none.

    Raises:
        UserError: one line naming what differs.
    """
    saved = _read_json(RunDir(root).data_files)
    if identity is None or saved is None or saved.get("fingerprint") == identity["fingerprint"]:
        return
    described = _files_change(saved, identity)[0]
    raise UserError(f"{where} holds other files than the run {root} trained on ({described}); "
                    "point it at the run's own data")


def record_data_files(root, identity, change, resumed_step, will_train):
    """Keep RunDir.data_files the folder the run trains on; `change`, what data_change found
    (None for a new run or the same files), is appended to the config history as the field
    "data.files" when steps are left."""
    if identity is None or (resumed_step is not None and not will_train):
        return
    if change:
        with open(RunDir(root).config_history, "a") as f:
            f.write(json.dumps({"step": resumed_step, "changes": {"data.files": change}},
                               sort_keys=True) + "\n")
    saved = _read_json(RunDir(root).data_files)
    if saved is None or saved.get("fingerprint") != identity["fingerprint"]:
        files.write_json_atomically(RunDir(root).data_files, identity)


def _read_json(path):
    """A data files record; None when it is missing or unreadable (written again then)."""
    try:
        with open(path) as f:
            saved = json.load(f)
    except (OSError, ValueError):
        return None
    return saved if isinstance(saved, dict) and {"fingerprint", "files"} <= saved.keys() \
        else None


def record_classes(root, names):
    """Write the run's class names (after check_classes), replacing other names."""
    if read_classes(root) != list(names):
        files.write_json_atomically(RunDir(root).classes, {"names": list(names)})


def read_classes(root):
    """The class names of a conditional run (a list), None for a run without classes.json.

    Raises:
        UserError: classes.json exists but cannot be read.
    """
    path = RunDir(root).classes
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            names = json.load(f)["names"]
        if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
            raise ValueError("'names' is not a list of strings")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UserError(f"cannot read {path} ({e}); restore it, or write it again as "
                        '{"names": [one name per class]}') from None
    return names


def classes_of_run(root, config):
    """The class names a run's models condition on; None for an unconditional run.

    Raises:
        UserError: a conditional run without a readable classes.json.
    """
    if not config.model.conditional:
        return None
    names = read_classes(root)
    if names is None:
        raise UserError(f"{RunDir(root).classes} not found: the run is conditional "
                        "and its models need the number of classes; train it again, or write "
                        '{"names": [one name per class]} there')
    return names


def read_config(workdir):
    """The run's config.json as a ConfigDict, as training had it; None if there is none.

    config.json holds every field of the version that wrote it. A field added since is given
    the value its absence meant (ADDED_FIELDS), so an older run resumes, samples and is scored
    with the settings it was trained with.

    Raises:
        UserError: config.json exists but cannot be read as a config.
    """
    path = RunDir(workdir).config
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            config = json.load(f)
        if not isinstance(config, dict):
            raise ValueError(f"holds a {type(config).__name__}, not a JSON object")
        return ml_collections.ConfigDict(_with_added_fields(config))
    except (OSError, ValueError) as e:  # ConfigDict refuses a field name with a dot
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise UserError(f"cannot read {path} ({reason}); restore it, or delete it and run "
                        "dcgan.main on this workdir with the config it was trained with") \
            from None


def _with_added_fields(config):
    """`config`, a dict of config.json, with the ADDED_FIELDS it lacks."""
    for name, value in ADDED_FIELDS.items():
        *groups, field = name.split(".")
        group = config
        for key in groups:
            group = group.get(key) if isinstance(group, dict) else None
        if isinstance(group, dict):  # else not a config of ours: config_check says so
            group.setdefault(field, value)
    return config


def read_trained_config(root):
    """The config.json of a run that sample and evaluate read, checked; UserError if absent."""
    from dcgan import config_check

    config = read_config(root)
    path = RunDir(root).config
    if config is None:
        what = file_in_place_of_folder(root) or f"{path} not found"
        raise UserError(f"{what}; point --workdir at a run folder written by "
                        "`python -m dcgan.main`")
    config_check.check_config(config, origin=path, source_rule=sources.rule())
    return config
