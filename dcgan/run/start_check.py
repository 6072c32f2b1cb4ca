"""What the data can be checked for before TensorFlow loads and before the run folder is touched.

The data source (dcgan/data/sources) checks its place and, for a folder, its listing: the
number of files and the class folders, without decoding one. Enough to refuse a hold-out or a
batch larger than the folder, a conditional run whose files are not all in class folders or
whose source has no labels, a resume on other files, and an unusable cache folder; the run
folder's config.json tells a resume of another model or on other data. All in a fraction of a
second instead of after TensorFlow's start and the decoding. What only decoding tells
(unreadable files) is checked again where it is found.

What the checks found is handed on to the run (`Start`), so that the run lists its folder,
reads config.json and compares it once.
"""

import collections
import logging

from dcgan import config_check
from dcgan.data import sources
from dcgan.errors import UserError
from dcgan.run import workdir

log = logging.getLogger("dcgan")

Start = collections.namedtuple("Start", "source run_dir resuming config_dict saved changes "
                               "data_change")
Start.__doc__ = """What the checks before a run found, for the run to use rather than find again.

source: the parsed sources.Source (a folder's listing inside); run_dir: the RunDir, or None;
resuming: the run folder holds a checkpoint; config_dict: the config as config.json records it
(workdir.recorded_config); saved: the run's config.json when it holds a checkpoint, else None;
changes: what check_change found against it; data_change: what workdir.data_change found in a
folder's files, or None."""


def check_before_start(config, root, allow_new_data):
    """Raise the first problem of the config's data that needs no decoding; write nothing.

    Args:
        config: a checked config (config_check.check_config).
        root: the run folder (may not exist yet); None: no run folder (a --dry_run without
            --workdir), only the data is checked.
        allow_new_data: --allow_new_data: a resume may continue on other files.

    Returns:
        A Start.

    Raises:
        UserError: one line naming the problem and the fix.
    """
    data, training = config.data, config.training
    if training.eval_every_steps:
        if not training.eval_features:
            raise UserError("training.eval_every_steps is set but training.eval_features is "
                            f"''; set it to {config_check.FEATURE_SPECS}, or set "
                            "training.eval_every_steps=0")
        problem = config_check.missing_features(training.eval_features)
        if problem:
            raise UserError(problem)
    source = sources.parse(data.source)
    run_dir = workdir.RunDir(root) if root else None
    resuming = bool(run_dir and run_dir.checkpoint_indexes(run_dir.checkpoints))
    saved = workdir.read_config(root) if resuming else None
    if saved is not None:
        _keep_where_it_started(config, saved)
    config_dict = workdir.recorded_config(config, source)
    changes = None
    if saved is not None:  # another model, other data: refused before TensorFlow loads
        changes = workdir.check_change(root, saved, config_dict, allow_new_data)
    conditional = config.model.conditional
    source.check_before_start(root, conditional, data.cache_dir, image_size=data.image_size,
                              channels=data.channels)
    count = source.count()
    if count is not None:
        _check_counts(data, training, count)
    if conditional and source.has_labels() is False:
        raise UserError(f"model.conditional=True needs labels: data.source {source} has no "
                        f"labels; {source.no_labels_hint} (or set model.conditional=False)")
    data_change = workdir.data_change(root, source.identity(), allow_new_data, conditional,
                                      data.holdout) if resuming else None
    return Start(source, run_dir, resuming, config_dict, saved, changes, data_change)


def _keep_where_it_started(config, saved):
    """A resume goes on from its own checkpoint: the run it was started from stays the one
    config.json names (its learning rates depend on it), whatever training.init_from says now."""
    started, given = saved.training.init_from, config.training.init_from
    if given and workdir.place(given) != workdir.place(started):
        log.warning("training.init_from=%s is not used: it is read when a run starts, and this "
                    "run resumes from its own checkpoint (it started from %s)", given,
                    started or "random weights")
    config.training.init_from = started


def _check_counts(data, training, count):
    batch_size = training.batch_size
    if data.holdout >= count:
        # One fix that works: the batch too, when the pictures left are fewer than a batch, and
        # the gap rule off when nothing can be held out, as it steers by held-out pictures.
        holdout = max(1, count // 10) if count > 1 else 0
        fix = f"--config.data.holdout={holdout}"
        if batch_size > count - holdout:
            fix += f" --config.training.batch_size={max(1, (count - holdout) // 2)}"
        if not holdout and training.ada_gap_target > 0:
            fix += " --config.training.ada_gap_target=0"
        raise UserError(f"data.holdout={data.holdout} leaves no training images: "
                        f"{data.source} has {count} image file(s); lower it, e.g. {fix}")
    left = count - data.holdout
    trained = min(left, data.max_images) if data.max_images else left
    held = f", {data.holdout} held out" if data.holdout else ""
    more = None
    if trained < left:  # data.max_images is what limits them: name it, not "use more data"
        held += f", data.max_images={data.max_images} trained on"
        more = f"raise data.max_images (up to {left})"
    problem = config_check.batch_size_problem(
        batch_size, training_images=trained,
        where=f"{count} image files in {data.source}{held}", more=more)
    if problem:
        raise UserError(problem)
