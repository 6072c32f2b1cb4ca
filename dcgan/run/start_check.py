"""What the data can be checked for before TensorFlow loads and before the run folder is touched.

A listing of a folder source tells its number of files and its class folders without decoding
one: enough to refuse a hold-out or a batch larger than the folder, a conditional run whose
files are not all in class folders, a resume on other files, and an unusable cache folder; the
run folder's config.json tells a resume of another model or on other data. All in
a fraction of a second instead of after TensorFlow's start and the decoding. What only
decoding tells (unreadable files) is checked again where it is found.
"""

import glob
import json
import os

from dcgan import config_check
from dcgan.data import image_folder
from dcgan.errors import UserError
from dcgan.run import workdir


def check_before_start(config, root, allow_new_data):
    """Raise the first problem of the config's data that needs no decoding; write nothing.

    Args:
        config: a checked config (config_check.check_config).
        root: the run folder (may not exist yet); None: no run folder (a --dry_run without
            --workdir), only the data is checked.
        allow_new_data: --allow_new_data: a resume may continue on other files.

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
    if _has_checkpoint(root):
        saved = workdir.read_config(root)
        if saved is not None:  # another model, other data: refused before TensorFlow loads
            workdir.check_change(root, saved, json.loads(config.to_json_best_effort()),
                                 allow_new_data)
    scheme, _, path = data.source.partition(":")
    if scheme in ("idx", "npz"):
        if not (os.path.isdir(path) if scheme == "idx" else os.path.isfile(path)):
            kind = "directory" if scheme == "idx" else "file"
            raise UserError(f"data.source {data.source}: no such {kind}")
    if scheme != "folder":
        return
    directory = image_folder.folder_of(data.source)
    listing = image_folder.scan(directory, data.source)
    paths = listing.paths
    if data.cache_dir and not image_folder.cache_is_current(
            data.cache_dir, directory, paths, data.image_size, data.channels):
        problem = image_folder.cache_dir_problem(data.cache_dir)  # it will be written
        if problem:
            raise UserError(problem)
    if root:
        _check_run_folder_outside(root, directory, listing.folders)
    if not paths:
        raise UserError(f"data.source {data.source}: no image files "
                        f"({', '.join(image_folder.IMAGE_EXTENSIONS)}) in {directory} or below")
    _check_counts(data, training, len(paths))
    if config.model.conditional:
        _check_class_folders(data.source, directory, listing)
    if _has_checkpoint(root):
        workdir.data_change(root, image_folder.identity(directory, paths), allow_new_data,
                            config.model.conditional, data.holdout)


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
    if batch_size > trained:
        held = f", {data.holdout} held out" if data.holdout else ""
        more = "use more data"
        if trained < left:  # data.max_images is what limits them
            held += f", data.max_images={data.max_images} trained on"
            more = f"raise data.max_images (up to {left})"
        raise UserError(f"training.batch_size {batch_size} is more than the {trained} training "
                        f"images ({count} image files in {data.source}{held}); lower it, e.g. "
                        f"--config.training.batch_size={max(1, trained // 2)}, or {more}")


def _check_class_folders(source, directory, listing):
    paths = listing.paths
    names, _, strays = image_folder.class_folders(directory, paths)
    if len(strays) == len(paths):
        raise UserError(f"model.conditional=True needs labels: data.source {source} has no "
                        "labels (no class sub-folders); put each class's images in a sub-folder "
                        "of its own (or set model.conditional=False)")
    if strays:
        raise UserError(f"model.conditional=True needs labels: data.source {source}: "
                        f"{len(strays)} image file(s) lie directly in {directory}, outside the "
                        f"class sub-folders ({image_folder.named(strays)}); move them into a "
                        "class folder or out of the tree")
    unused = image_folder.unused_class_folders(directory, listing)
    if unused:
        # Training without them would leave classes out of classes.json unseen.
        them = "it" if len(unused) == 1 else "them"
        raise UserError(f"data.source {source}: every sub-folder is a class of a conditional "
                        f"run, but {'; '.join(unused)}; or move {them} out of {directory}")
    if len(names) < 2:
        raise UserError(f"data.source {source}: all images are in one class folder "
                        f"({names[0]}); a conditional run needs two or more (or set "
                        "model.conditional=False)")


def _has_checkpoint(root):
    """Whether the run folder holds a checkpoint (its index is written last), found without
    TensorFlow."""
    return bool(root) and bool(glob.glob(os.path.join(
        glob.escape(workdir.RunDir(root).checkpoints), "ckpt-*.index")))


def _check_run_folder_outside(root, directory, folders):
    """A run folder inside the picture folder, or inside a folder linked from it, would add its
    own sample grids to the data."""
    run = os.path.realpath(root)
    for folder in folders:
        if image_folder.inside(run, folder):
            through = "" if folder == os.path.realpath(directory) else f" (through {folder})"
            raise UserError(f"--workdir={root} is inside the picture folder {directory}{through}: "
                            "the run's sample grids would become training data; put the run "
                            "folder elsewhere")
