"""Start a run from another run's networks (`training.init_from`), and how the copy trains on.

A new run with `training.init_from=PATH` copies the generator, the discriminator and the EMA
generator of another run's checkpoint, and nothing else: its step starts at 0, its optimizers,
augmentation probability, data and seed are its own. PATH picks the checkpoint:

- a run folder: its newest whole checkpoint;
- RUN/checkpoints/best: the one of lowest Frechet distance, where the run kept one;
- a checkpoint prefix, e.g. RUN/checkpoints/ckpt-3000.

The copy happens once, at the start of the run: a resume continues from the run's own
checkpoints and never reads PATH again, so the source may be deleted after the start. What was
taken (the checkpoint, its step, a SHA-256 of the weights) is kept in config.json under
`initialized_from` and as the first line of config_history.jsonl.

The networks must have the same shapes (SHAPE_FIELDS); a setting without weights of its own
(dropout, init, EMA decay) may differ. The class layers of a conditional run (the class
embedding, the projection, the class scale and shift) are copied only from a source with the
same classes (the same names in the same order); otherwise they start fresh, and the
generator's first layer reads the noise with the source's weights and the class with zeros, so
it first draws what the source drew.

The checks that need no TensorFlow (`check_source`) run before anything is written, and so does
reading the source's checkpoint back whole (`Source.read_whole`, also in a --dry_run); the copy
(`copy_networks`) runs once the run's networks are built. `trained_discriminator_variables`
leaves out the discriminator layers a fine-tuning run freezes (FreezeD, Mo et al. 2020).
"""

import dataclasses
import hashlib
import json
import logging
import os
import random
import re

import numpy as np

from dcgan import config_check, files
from dcgan.data import classes
from dcgan.errors import UserError, reason
from dcgan.run import workdir

log = logging.getLogger("dcgan")

# The settings that shape the networks' weights, compared in this order; all that differ
# are named. model.minibatch_stddev counts only as on (>= 0) or off (-1).
SHAPE_FIELDS = ("data.image_size", "data.channels", "model.noise_dim", "model.gen_filters",
                "model.disc_filters", "model.kernel_size", "model.upsample",
                "model.spectral_norm", "model.minibatch_stddev", "model.skip_excitation")
# The key in config.json (beside the config's fields) that records what was copied.
RECORD_KEY = config_check.INITIALIZED_FROM
PARTS = ("generator", "discriminator", "ema_generator")


@dataclasses.dataclass(frozen=True)
class Source:
    """The run a new run copies its networks from, as found before TensorFlow loads.

    Attributes:
        spec: training.init_from as given.
        run: the source run's folder.
        folder: the checkpoints folder the checkpoint is taken from (checkpoints/ or
            checkpoints/best).
        prefix: the checkpoint asked for by name, or None for the newest whole one in `folder`.
        config: the source run's config.json (a dict).
        whole: the checkpoint to copy, read back whole (read_whole); None before that.
    """

    spec: str
    run: str
    folder: str
    prefix: str | None
    config: dict
    whole: str | None = None

    def newest_step(self):
        """The step of the checkpoint that will be copied, read from its file name only."""
        if self.whole or self.prefix:
            return _step_of(self.whole or self.prefix)
        steps = [_step_of(p[:-len(".index")])
                 for p in workdir.RunDir.checkpoint_indexes(self.folder)]
        return max(s for s in steps if s is not None)

    def read_whole(self):
        """This source with the checkpoint to copy picked and read back whole, once; needs
        TensorFlow. Done before the new run's folder is made, so that a torn source leaves
        nothing behind.

        Raises:
            UserError: the checkpoint asked for, or every one of the folder, is torn.
        """
        from dcgan.run import checkpoints

        if self.prefix:
            try:
                checkpoints.verify(self.prefix)
            except Exception as e:  # noqa: BLE001 - torn files raise anything (checkpoints)
                raise UserError(f"training.init_from={self.spec}: checkpoint {self.prefix} "
                                f"cannot be read ({reason(e)}); give another checkpoint of the "
                                "run") from None
            return dataclasses.replace(self, whole=self.prefix)
        try:
            prefix = checkpoints.newest_whole(self.folder)  # falls back past torn ones
        except UserError:  # every checkpoint torn; said of the source, not of this run
            raise UserError(f"training.init_from={self.spec}: no checkpoint in {self.folder} "
                            "reads back whole; start from another run") from None
        if prefix is None:
            raise UserError(f"training.init_from={self.spec}: {self.folder} holds no "
                            "checkpoint any more; give a run that has one")
        return dataclasses.replace(self, whole=prefix)

    def describe(self, conditional):
        """What a --dry_run says the new run (conditional or not) will copy."""
        which = os.path.basename(self.prefix) if self.prefix else \
            "best checkpoint" if os.path.basename(self.folder) == "best" else "newest checkpoint"
        theirs = workdir.classes_of_run(self.run, self.config)
        if conditional and not theirs:
            layers = "; its class layers start fresh (the source is unconditional)"
        elif conditional:
            layers = (f"; its class layers are copied if its classes are the source's "
                      f"({classes.describe(theirs)}), and start fresh otherwise")
        elif theirs:
            layers = "; the source's class layers are left out (this run is unconditional)"
        else:
            layers = ""
        return (f"training.init_from: copies the generator, discriminator and EMA generator of "
                f"{self.run} ({which}, step {self.newest_step()}); this run starts at step 0 "
                f"with its own optimizers, augmentation, data and seed{layers}")


def check_source(config, start):
    """The source a new run copies from, checked without TensorFlow; None when there is none.

    None too when the run folder already holds a checkpoint: a resume never reads the source.

    Args:
        config: a checked config (config_check.check_config).
        start: what start_check.check_before_start found: the run folder (which may not exist
            yet, or be None for a --dry_run without one) and whether it resumes.

    Raises:
        UserError: one line: the source is not a run, has no checkpoint, is the run itself,
            or has networks of other shapes.
    """
    spec = config.training.init_from
    if not spec or start.resuming:
        return None
    root = start.run_dir and start.run_dir.root
    own = workdir.place(root)
    if own and workdir.place(spec) == own:
        raise _own_folder(spec, root)
    source = _locate(spec)
    if own and workdir.place(source.run) == own:
        raise _own_folder(spec, root)
    if source.prefix is None and not workdir.RunDir.checkpoint_indexes(source.folder):
        hint = ("it keeps one once training.eval_every_steps > 0 has scored it; give the run "
                "folder for its newest checkpoint" if os.path.basename(source.folder) == "best"
                else "train it until its first save (training.checkpoint_every_steps)")
        found = "holds no checkpoint" if os.path.isdir(source.folder) else "does not exist"
        raise UserError(f"training.init_from={spec}: {source.folder} {found}; {hint}")
    values = [(field, _field(source.config, field), _field(config, field))
              for field in SHAPE_FIELDS]
    differ = [(field, theirs, ours) for field, theirs, ours in values
              if _differs(field, theirs, ours)]
    if differ:
        found = ", ".join(f"{field} is {theirs!r} there and {ours!r} here"
                          for field, theirs, ours in differ)
        fix = " ".join(f"--config.{field}={theirs!r}" for field, theirs, _ in differ)
        raise UserError(f"training.init_from={spec} has other networks: {found}; set {fix} to "
                        "copy them, or start without training.init_from")
    return source


def _own_folder(spec, root):
    return UserError(f"training.init_from={spec} is this run's own folder (--workdir={root}); "
                     "give another run to start from, or another --workdir")


def _differs(field, theirs, ours):
    if field == "model.minibatch_stddev":
        return (theirs >= 0) != (ours >= 0)
    return theirs != ours


def _locate(spec):
    """The Source that `spec` names: a run folder, its best checkpoint folder, or a checkpoint."""
    path = os.path.abspath(os.path.expanduser(spec))
    prefix = path if os.path.isfile(path + ".index") else None
    where = os.path.dirname(path) if prefix else path
    # The run is the folder itself, or the one whose checkpoints or best checkpoint it is.
    for run in (where, os.path.dirname(where), os.path.dirname(os.path.dirname(where))):
        paths = workdir.RunDir(run)
        if where in (run, paths.checkpoints, paths.best_checkpoint) and \
                os.path.isfile(paths.config):
            folder = paths.checkpoints if where in (run, paths.checkpoints) else where
            return Source(spec, run, folder, prefix, _source_config(spec, run))
    if os.path.isfile(path):
        prefix = re.sub(r"\.(index|data-\d+-of-\d+)$", "", path)
        hint = f"give the checkpoint without its file ending ({prefix})" if prefix != path \
            else "give a run folder written by dcgan.main or a checkpoint in it"
        raise UserError(f"training.init_from={spec} is a file; {hint}")
    if not os.path.exists(where):
        kept = sorted((os.path.basename(p)[:-len(".index")] for p in
                       workdir.RunDir.checkpoint_indexes(os.path.dirname(path))), key=_step_of)
        if kept:
            raise UserError(f"training.init_from={spec}: no such checkpoint; "
                            f"{os.path.dirname(path)} keeps {', '.join(kept)}")
        raise UserError(f"training.init_from={spec}: no such run folder or checkpoint; give a "
                        "run folder written by dcgan.main, its checkpoints/best, or a checkpoint "
                        "such as RUN/checkpoints/ckpt-1000")
    raise UserError(f"training.init_from={spec} is not a run: {workdir.RunDir(where).config} "
                    "not found; give a run folder written by dcgan.main")


def _source_config(spec, run):
    """The source run's config.json; the advice of a broken one is about the source, which
    this run does not change."""
    try:
        config = workdir.read_config(run)
    except UserError as e:
        raise UserError(f"training.init_from={spec}: {str(e).split(';')[0]}; its networks "
                        "cannot be built without it: restore it, or start from another run") \
            from None
    for field in SHAPE_FIELDS:  # what the networks are built from, as config_check allows it
        group, name = field.split(".")
        section = config.get(group)
        value = section.get(name, _MISSING) if hasattr(section, "get") else _MISSING
        test, allowed = config_check.RULES[field]
        if value is _MISSING or not test(value):
            said = "has no " + field if value is _MISSING else f"has {field}={value!r}"
            raise UserError(f"training.init_from={spec}: {workdir.RunDir(run).config} {said} "
                            f"({allowed} expected); its networks cannot be built from it: "
                            "restore it, or start from another run")
    return config


_MISSING = object()


def _step_of(prefix):
    name = os.path.basename(prefix)
    return int(name[len("ckpt-"):]) if name.startswith("ckpt-") and \
        name[len("ckpt-"):].isdigit() else None


def _field(config, dotted):
    group, name = dotted.split(".")
    return config[group][name]


def copy_networks(gan, source, class_names):
    """Load the source's networks into `gan` (a new run's TrainingState); returns the record.

    Only the networks change: the step, optimizers, augmentation p and random states stay
    those of the new run. The EMA generator is the source's, or its generator when it kept no
    average.

    Args:
        gan: the new run's training state, before its first step.
        source: what check_source returned, after Source.read_whole.
        class_names: the new run's class names (None or empty: unconditional); the class
            layers are copied only from a source with the same names in the same order.

    Returns:
        {"checkpoint", "step", "weights_sha256"}, for config.json and its history.

    Raises:
        UserError: the source's networks are not those its config.json describes.
    """
    from dcgan.run import checkpoints

    prefix = source.whole
    theirs = _source_networks(source, prefix)
    source_classes = workdir.classes_of_run(source.run, source.config)
    same_classes = list(source_classes or ()) == list(class_names or ())
    digest = hashlib.sha256()
    fresh = set()
    for name in PARTS:
        target = getattr(gan, name)
        if target is None:
            continue
        found = theirs["generator"] if theirs[name] is None else theirs[name]
        fresh |= _copy_model(found, target, digest, same_classes)
    if fresh:
        log.info("training.init_from: %s start fresh (%s); the rest is copied",
                 ", ".join(sorted(fresh)), _why_fresh(source, source_classes, class_names))
    elif not class_names and source_classes:
        log.info("training.init_from: the source's class layers are left out (this run is "
                 "unconditional); the rest is copied")
    step = checkpoints.step_of(prefix)
    log.info("copied the generator, discriminator and EMA generator of %s (step %s)",
             prefix, step)
    return {"checkpoint": os.path.abspath(prefix), "step": step,
            "weights_sha256": digest.hexdigest()}


def _source_networks(source, prefix):
    """{part: the source's network with the checkpoint's weights, or None if it has none}."""
    import tensorflow as tf

    from dcgan import models

    # Every run has a generator and a discriminator (their trainable weights may be stored
    # under the optimizers: a variable is saved once); an EMA generator, never trained, shows
    # under its own name.
    names = {"generator", "discriminator"}
    if any(name.startswith("ema_generator/") for name, _ in tf.train.list_variables(prefix)):
        names.add("ema_generator")
    classes = workdir.classes_of_run(source.run, source.config)
    count = len(classes) if classes else 0
    # Building networks draws their initial weights' seeds from Python's and NumPy's random
    # states; the new run's own draws must not depend on whether it copied or resumed.
    states = random.getstate(), np.random.get_state()
    try:
        built = {name: (models.discriminator_from_config if name == "discriminator"
                        else models.generator_from_config)(source.config, "float32", count)
                 if name in names else None for name in PARTS}
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
    present = {name: model for name, model in built.items() if model is not None}
    try:
        tf.train.Checkpoint(**present).restore(prefix).expect_partial() \
            .assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as e:
        raise UserError(f"training.init_from={source.spec}: {prefix} does not hold the networks "
                        f"of {workdir.RunDir(source.run).config} ({reason(e)[:120]})") from None
    return built


def _class_layer(layer):
    from dcgan import models

    return isinstance(layer, models.ClassScaleShift) or layer.name in (
        "class_embedding", "class_projection")


def _leaf_layers(model):
    """The layers holding weights, in the order they are built; nested models are opened."""
    found = []
    for layer in model.layers:
        if hasattr(layer, "layers") and not hasattr(layer, "layer"):  # a model, not a wrapper
            found += _leaf_layers(layer)
        elif layer.weights:
            found.append(layer)
    return found


def _split(model):
    """(the weights of the layers that do not depend on classes, the class layers)."""
    layers = _leaf_layers(model)
    return ([v for layer in layers if not _class_layer(layer) for v in layer.weights],
            [layer for layer in layers if _class_layer(layer)])


def _copy_model(source, target, digest, same_classes):
    """Copy `source`'s weights into `target`, layer by layer, the class layers only for
    `same_classes`; returns the names of the class layers left fresh. The weights copied are
    added to `digest`."""
    (body_from, classes_from), (body_to, classes_to) = (_split(model)
                                                        for model in (source, target))
    for old, new in zip(body_from, body_to, strict=True):
        value = np.asarray(old.numpy())
        if value.shape != tuple(new.shape):
            if value.shape[1:] != tuple(new.shape[1:]):
                raise UserError(f"cannot copy {old.path} {value.shape} into {new.path} "
                                f"{tuple(new.shape)}; start without training.init_from")
            # The generator's first layer reads the noise joined to a class embedding in a
            # conditional run: the noise's rows are copied, the class's start at zero.
            rows = min(value.shape[0], new.shape[0])
            value = np.concatenate([value[:rows], np.zeros(
                (new.shape[0] - rows, *value.shape[1:]), value.dtype)])[:new.shape[0]]
        new.assign(value)
        digest.update(value.tobytes())
    fresh = set()
    ordered_to = sorted(classes_to, key=lambda layer: type(layer).__name__)
    ordered_from = sorted(classes_from, key=lambda layer: type(layer).__name__)
    if same_classes and [tuple(v.shape) for layer in ordered_from for v in layer.weights] == \
            [tuple(v.shape) for layer in ordered_to for v in layer.weights]:
        for old_layer, new_layer in zip(ordered_from, ordered_to, strict=True):
            for old, new in zip(old_layer.weights, new_layer.weights, strict=True):
                new.assign(old)
                digest.update(np.asarray(old.numpy()).tobytes())
    else:
        fresh = {_CLASS_LAYER_NAMES.get(type(layer).__name__, layer.name.replace("_", " "))
                 for layer in ordered_to}
    return fresh


_CLASS_LAYER_NAMES = {"ClassScaleShift": "class scale and shift"}


def _why_fresh(source, source_classes, class_names):
    if not source_classes:
        return "the source is unconditional"
    if len(source_classes) != len(class_names):
        return f"the source has {len(source_classes)} classes, this run {len(class_names)}"
    if list(source_classes) != list(class_names):
        return (f"the source's classes are {classes.describe(source_classes)}, this run's "
                f"{classes.describe(class_names)}")
    return f"model.class_norm is {source.config['model']['class_norm']} in the source"


def log_fine_tuning(config):
    """One line saying what a new run's fine-tuning settings do, when it sets any."""
    t, said = config.training, []
    if t.freeze_d_layers:
        said.append(f"the discriminator's first {t.freeze_d_layers} of "
                    f"{config_check.discriminator_blocks(config.data.image_size)} convolution "
                    "blocks keep the copied weights (training.freeze_d_layers)")
    if t.init_lr_scale != 1:
        said.append(f"both learning rates are multiplied by {t.init_lr_scale:g} "
                    "(training.init_lr_scale)")
    if said:
        log.info("fine-tuning: %s", "; ".join(said))


def trained_discriminator_variables(discriminator, frozen_blocks):
    """The discriminator's trainable variables less those of its first `frozen_blocks`
    convolution blocks (each a convolution and its batch norm), which FreezeD keeps as copied.
    """
    if not frozen_blocks:
        return discriminator.trainable_variables
    frozen, blocks = set(), 0
    for layer in _leaf_layers(discriminator):
        inner = getattr(layer, "layer", layer)  # a spectrally normalised convolution
        if type(inner).__name__ == "Dense":
            break  # the logits, after the last block
        if type(inner).__name__ == "Conv2D":
            blocks += 1
        if 0 < blocks <= frozen_blocks and not _class_layer(layer):
            frozen.update(id(v) for v in layer.trainable_weights)
    return [v for v in discriminator.trainable_variables if id(v) not in frozen]


def recorded(root, taken, resumed):
    """What config.json keeps under RECORD_KEY: `taken` (copy_networks' record) at the start,
    the run's own record on a resume (None for a run not started from another)."""
    if not resumed:
        return taken
    saved = workdir.read_config(root)
    record = saved.get(RECORD_KEY) if saved else None
    return {key: value for key, value in record.items()} if record else None  # plain JSON


def record_start(root, taken):
    """Begin config_history.jsonl of a new run started from another with what it copied."""
    files.write_lines_atomically(workdir.RunDir(root).config_history,
                                 [json.dumps({"step": 0, RECORD_KEY: taken}, sort_keys=True)
                                  + "\n"])
