"""Every rule a config must follow, checked at once before a command runs or writes anything.

The allowed values live here, and the library modules that branch on them import them from
here. This module imports no TensorFlow, so `--dry_run` and the entry points' early checks stay
fast. What only running can tell (data found on disk, batch_size over the replicas) is checked
where it is found.
"""

import difflib
import hashlib
import math
import os

from dcgan.errors import UserError

SUPPORTED_IMAGE_SIZES = (28, 32, 64, 128)
SUPPORTED_CHANNELS = (1, 3)
UPSAMPLE_MODES = ("transpose", "resize")
INITS = ("glorot_uniform", "dcgan")
PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
ON_NAN_MODES = ("stop", "rollback")
LR_SCHEDULES = ("constant", "linear_decay")
DISTRIBUTE_STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
# training.augment: comma-separated names of dcgan/augment.py's differentiable augmentations.
AUGMENT_POLICIES = ("translation", "cutout", "color")
# Feature extractors named rather than found on disk (dcgan/quality/features.py): InceptionV3,
# with Keras' ImageNet weights or, as "inception:PATH", a local copy of them; and the
# fixed random network that needs no weights at all.
INCEPTION = "inception"
RANDOM = "random"
INCEPTION_WEIGHTS = "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"
# The MD5 that keras.applications.inception_v3 checks that file against when downloading it.
INCEPTION_WEIGHTS_MD5 = "9a0d58056eeedaa3f26cb7ebd46da564"
FEATURE_SPECS = (f"a classifier from `python -m dcgan.classifier`, '{RANDOM}', '{INCEPTION}' "
                 f"or '{INCEPTION}:PATH' (a local {INCEPTION_WEIGHTS})")
# The kernel distance's unbiased estimate needs 4 feature rows; fewer gives no score at all.
MIN_SCORING_SAMPLES = 4
# Real targets become 1 - s: from s = 0.5 on, a real image's target would be no more "real"
# than a coin flip, and the discriminator would learn nothing from the real half.
MAX_LABEL_SMOOTHING = 0.5
# NumPy and Keras seed their generators with an unsigned 32-bit integer.
SEED_LIMIT = 2**32
# What workdir adds to a run's config.json beside the config's own fields: the precision
# resolved when training starts (it needs TensorFlow); data.source as it was typed, beside the
# resolved one; and the run a run's networks were copied from at its start (training.init_from).
PRECISION_FIELD = "resolved_precision"
AS_TYPED_FIELD = "data.source_as_typed"
INITIALIZED_FROM = "initialized_from"
RECORDED_EXTRAS = (PRECISION_FIELD, INITIALIZED_FROM, AS_TYPED_FIELD)


def inception_weights(spec):
    """The local weights file of an 'inception:PATH' spec ('' for 'inception'), or None when
    `spec` names no InceptionV3 features."""
    if spec == INCEPTION:
        return ""
    if spec.startswith(INCEPTION + ":"):
        return os.path.expanduser(spec[len(INCEPTION) + 1:])
    return None


def missing_features(spec):
    """Why the feature extractor `spec` (see FEATURE_SPECS) cannot load, found before
    TensorFlow starts; None if it is there."""
    weights = inception_weights(spec)
    if weights:
        return inception_weights_problem(weights)
    if weights == "" and spec != INCEPTION:
        return (f"features {spec!r} name no weights file; give '{INCEPTION}:PATH' with the "
                f"path of a local {INCEPTION_WEIGHTS}, or '{INCEPTION}'")
    if spec in (INCEPTION, RANDOM) or os.path.isfile(spec):
        return None
    return (f"feature classifier {spec} not found; train one with `python -m dcgan.classifier "
            f"--config=<the run's config> --output={spec}`, or use '{RANDOM}' (no download), "
            f"'{INCEPTION}' or '{INCEPTION}:PATH'")


def inception_weights_problem(path):
    """Why `path` is not the InceptionV3 ImageNet weights file Keras publishes, or None.

    Reads the whole file (about 92 MB) to hash it: a truncated or other file would otherwise
    load into the network, or fail deep inside Keras, and give scores that mean nothing.
    """
    if not os.path.isfile(path):
        what = "is a folder, not the weights file" if os.path.isdir(path) else "not found"
        return f"inception weights {path} {what}; give the path of a local {INCEPTION_WEIGHTS}"
    if not path.lower().endswith((".h5", ".hdf5")):
        return (f"inception weights {path}: Keras reads weights from files named *.h5 only; "
                f"keep the name {INCEPTION_WEIGHTS}")
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError as e:
        return f"inception weights {path} cannot be read ({e.strerror or e})"
    found = digest.hexdigest()
    if found != INCEPTION_WEIGHTS_MD5:
        return (f"inception weights {path} have MD5 {found}, not {INCEPTION_WEIGHTS_MD5} of "
                f"Keras' {INCEPTION_WEIGHTS}; copy that file whole (the ImageNet weights "
                "with the classifier top), or use --features=random")
    return None


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value)


def _listed(choices):
    words = [str(choice) for choice in choices]
    return f"{', '.join(words[:-1])} or {words[-1]}"


def _one_of(choices):
    kind = type(choices[0])
    return (lambda v: isinstance(v, kind) and not isinstance(v, bool) and v in choices,
            _listed(choices))


def _positive_int():
    return lambda v: _is_int(v) and v > 0, "a positive integer"


def _fraction(low, high, what="a number"):
    return lambda v: _is_number(v) and low <= v < high, f"{what} in [{low}, {high})"


def _bool():
    return lambda v: isinstance(v, bool), "True or False"


def _augment_policies(value):
    if not isinstance(value, str):
        return False
    names = [name.strip() for name in value.split(",")]
    return value.strip() == "" or all(name in AUGMENT_POLICIES for name in names)


def _kind_and_where(value):
    return isinstance(value, str) and all(value.partition(":")[::2])


def batch_size_problem(batch_size, mode_seeking=0, replicas=1, training_images=None, where="",
                       more=None):
    """Why training.batch_size cannot train, or None: every rule of the batch, in one place.

    Each caller gives what it knows: the config alone, the replicas once the devices are
    known, the number of training images once a listing or the decoding tells it.

    Args:
        batch_size: training.batch_size, a positive integer.
        mode_seeking: training.mode_seeking; above 0 the noises are paired, so the batch, and
            each replica's share of it, must be even.
        replicas: how many devices the batch is split over.
        training_images: how many images are trained on, when known.
        where: what that count is of, for the message ("12 image files in folder:x").
        more: how to train on more images, where it is not "use more data".
    """
    if _is_number(mode_seeking) and mode_seeking > 0 and batch_size % 2:
        return (f"training.mode_seeking={mode_seeking!r} pairs the generator's noises, but "
                f"training.batch_size={batch_size} is odd; use an even batch, e.g. "
                f"{batch_size + 1}")
    if batch_size % replicas:
        return f"training.batch_size={batch_size} must divide evenly over {replicas} replicas"
    if _is_number(mode_seeking) and mode_seeking > 0 and (batch_size // replicas) % 2:
        # A pair of noises must land on one replica to be compared there.
        return (f"training.mode_seeking pairs the noises, but training.batch_size={batch_size} "
                f"gives each of {replicas} replicas an odd {batch_size // replicas}; use a "
                f"multiple of {2 * replicas}")
    if training_images is not None and batch_size > training_images:
        note = f" ({where})" if where else ""
        return (f"training.batch_size {batch_size} is more than the {training_images} training "
                f"images{note}; lower it, e.g. --config.training.batch_size="
                f"{max(1, training_images // 2)}, or {more or 'use more data'}")
    return None


# Field -> (test, what is allowed): the whole schema of a config, group by group.
RULES = {
    "seed": (lambda v: _is_int(v) and 0 <= v < SEED_LIMIT, "an integer in [0, 2**32)"),
    # The kinds of source are the data layer's (dcgan/data/sources): the commands pass their
    # rule to check_config; without it a source need only read KIND:WHERE.
    "data.source": (_kind_and_where, "KIND:WHERE"),
    "data.image_size": _one_of(SUPPORTED_IMAGE_SIZES),
    "data.channels": (_one_of(SUPPORTED_CHANNELS)[0], "1 (greyscale) or 3 (RGB)"),
    "data.max_images": (lambda v: _is_int(v) and v >= 0, "an integer >= 0 (0: all)"),
    "data.holdout": (lambda v: _is_int(v) and v >= 0, "an integer >= 0 (0: none)"),
    "data.cache_dir": (lambda v: isinstance(v, str), "a folder path, or '' for no cache"),
    "data.mirror": _bool(),
    "data.class_names": (lambda v: isinstance(v, (list, tuple)) and all(
        isinstance(name, str) and name for name in v) and len(set(v)) == len(v),
        "a list of distinct, non-empty class names, or () to name them by number"),
    "model.noise_dim": _positive_int(),
    "model.gen_filters": _positive_int(),
    "model.disc_filters": _positive_int(),
    "model.kernel_size": _positive_int(),
    "model.upsample": _one_of(UPSAMPLE_MODES),
    "model.init": _one_of(INITS),
    "model.dropout": _fraction(0, 1, "a rate"),
    "model.spectral_norm": _bool(),
    "model.minibatch_stddev": (lambda v: _is_int(v) and v >= -1,
                               "-1 (off), 0 (whole batch) or a group size"),
    "model.ema_decay": _fraction(0, 1, "a decay (0: off)"),
    "model.conditional": _bool(),
    "model.stddev_by_class": _bool(),
    "model.class_norm": _bool(),
    "model.skip_excitation": _bool(),
    "optim.g_learning_rate": (lambda v: _is_number(v) and v > 0, "a positive number"),
    "optim.d_learning_rate": (lambda v: _is_number(v) and v > 0, "a positive number"),
    "optim.beta1": _fraction(0, 1),
    "optim.beta2": _fraction(0, 1),
    "optim.schedule": _one_of(LR_SCHEDULES),
    "optim.decay_start": _fraction(0, 1, "a fraction of training.num_steps"),
    "training.batch_size": _positive_int(),
    "training.num_steps": _positive_int(),
    "training.max_seconds": (lambda v: _is_number(v) and v >= 0,
                             "a number of seconds >= 0 (0: no limit)"),
    "training.label_smoothing": (_fraction(0, MAX_LABEL_SMOOTHING)[0],
                                 f"a number in [0, {MAX_LABEL_SMOOTHING}), e.g. 0.1"),
    "training.r1_gamma": (lambda v: _is_number(v) and v >= 0, "a number >= 0 (0: off), e.g. 0.1"),
    "training.r1_every": _positive_int(),
    "training.mode_seeking": (lambda v: _is_number(v) and v >= 0,
                              "a number >= 0 (0: off), e.g. 1"),
    "training.log_every_steps": _positive_int(),
    "training.sample_every_steps": _positive_int(),
    "training.checkpoint_every_steps": _positive_int(),
    "training.keep_checkpoints": _positive_int(),
    "training.num_grid_images": _positive_int(),
    "training.precision": _one_of(PRECISIONS),
    "training.jit_compile": _bool(),
    "training.steps_per_call": _positive_int(),
    "training.on_nan": _one_of(ON_NAN_MODES),
    "training.eval_every_steps": (lambda v: _is_int(v) and v >= 0, "an integer >= 0 (0: off)"),
    "training.eval_num_samples": (lambda v: _is_int(v) and v >= MIN_SCORING_SAMPLES,
                                  f"an integer >= {MIN_SCORING_SAMPLES}"),
    "training.eval_features": (lambda v: isinstance(v, str),
                               "'' (off) or " + FEATURE_SPECS),
    "training.augment": (_augment_policies, "'' (off) or a comma-separated list of " +
                         _listed(AUGMENT_POLICIES)),
    "training.augment_p": (lambda v: _is_number(v) and 0 <= v <= 1, "a probability in [0, 1]"),
    "training.ada_target": (_fraction(0, 1)[0],
                            "a number in [0, 1) (0: fixed augment_p; 0.6 adapts it)"),
    "training.ada_gap_target": (_fraction(0, 1)[0],
                                "a number in [0, 1) (0: off; 0.15 adapts p by the held-out gap)"),
    "training.ada_kimg": (lambda v: _is_number(v) and v > 0,
                          "a positive number, e.g. 50 (the folder presets) or 500"),
    "training.ada_start_p": (lambda v: _is_number(v) and 0 <= v <= 1,
                             "a probability in [0, 1] (0: adaptive p starts at none)"),
    "training.init_from": (lambda v: isinstance(v, str),
                           "'' (random weights), a run folder or a checkpoint path"),
    "training.freeze_d_layers": (lambda v: _is_int(v) and v >= 0,
                                 "an integer >= 0 (0: none frozen)"),
    "training.init_lr_scale": (lambda v: _is_number(v) and v > 0,
                               "a positive number (1: optim's learning rates)"),
    "runtime.distribute": _one_of(DISTRIBUTE_STRATEGIES),
    "runtime.virtual_cpu_devices": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "runtime.sync_batch_norm": _bool(),
}
_MISSING = object()


def _adaptive_problems(leaves):
    """What stops the augmentation's probability, fixed or adaptive (ada_target,
    ada_gap_target), doing what the config asks."""
    problems = []
    augment = leaves.get("training.augment")
    no_policy = isinstance(augment, str) and not augment.strip()
    rules = {name: leaves.get(f"training.{name}") for name in ("ada_target", "ada_gap_target")}
    on = {name: value for name, value in rules.items() if _is_number(value) and value > 0}
    for name, value in on.items():
        if no_policy:
            problems.append(f"training.{name}={value!r} adapts the augmentation, but "
                            "training.augment is ''; name policies, e.g. "
                            f"training.augment=translation,color,cutout, or set "
                            f"training.{name}=0 for none")
    fixed_p = leaves.get("training.augment_p")
    if no_policy and not on and _is_number(fixed_p) and 0 <= fixed_p < 1:
        problems.append(f"training.augment_p={fixed_p!r} is the probability of an augmentation, "
                        "but training.augment is '' (none); name policies, e.g. "
                        "training.augment=translation,color,cutout, or leave augment_p out")
    if on and _is_number(fixed_p) and 0 <= fixed_p < 1:  # out of [0, 1] is refused as such
        # 1 is the default, left as it is by a preset that adapts p.
        name, value = next(iter(on.items()))
        problems.append(f"training.augment_p={fixed_p!r} fixes p, but training.{name}={value!r} "
                        f"adapts it from 0; set training.{name}=0 to keep p at {fixed_p!r}, "
                        "or leave augment_p out")
    if len(on) == 2:
        problems.append("training.ada_target and training.ada_gap_target both adapt the "
                        "augmentation; set one of them to 0")
    if "ada_gap_target" in on and leaves.get("data.holdout") == 0:
        problems.append(f"training.ada_gap_target={on['ada_gap_target']!r} steers by D on "
                        "held-out pictures, but data.holdout is 0; hold some out, e.g. "
                        "data.holdout=20, or set training.ada_gap_target=0")
    return problems


def discriminator_blocks(image_size):
    """The discriminator's convolution blocks at `image_size`: 2 at 28 px, then one a doubling
    from 4 px (3 at 32, 4 at 64, 5 at 128), as dcgan/models.py builds them."""
    return 2 if image_size == 28 else int(image_size).bit_length() - 3


def _init_from_problems(leaves):
    """Fine-tuning settings that mean nothing in the run the config describes."""
    problems = []
    start_p = leaves.get("training.ada_start_p")
    adaptive = any(_is_number(leaves.get(f"training.{name}")) and
                   leaves.get(f"training.{name}") > 0 for name in ("ada_target", "ada_gap_target"))
    if _is_number(start_p) and start_p > 0 and not adaptive:
        problems.append(f"training.ada_start_p={start_p!r} starts an adaptive p, but neither "
                        "training.ada_target nor training.ada_gap_target adapts it; set one, or "
                        "training.augment_p for a fixed p")
    if leaves.get("training.init_from"):
        frozen, size = leaves.get("training.freeze_d_layers"), leaves.get("data.image_size")
        if _is_int(frozen) and size in SUPPORTED_IMAGE_SIZES and \
                frozen > discriminator_blocks(size):
            problems.append(f"training.freeze_d_layers={frozen} is more than the "
                            f"{discriminator_blocks(size)} convolution blocks of a {size} px "
                            f"discriminator; use at most {discriminator_blocks(size)}")
        return problems
    for name, neutral in (("freeze_d_layers", 0), ("init_lr_scale", 1.0)):
        value = leaves.get(f"training.{name}")
        if _is_number(value) and value != neutral:
            problems.append(f"training.{name}={value!r} applies to a run started from another, "
                            f"but training.init_from is ''; set it, or leave {name} at "
                            f"{neutral!r}")
    return problems


def _leaves(config, prefix=""):
    """Dotted name -> value of every field below `config` (a ConfigDict or a dict)."""
    found = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if hasattr(value, "items"):
            found.update(_leaves(value, name + "."))
        else:
            found[name] = value
    return found


def unknown_field(config, name):
    """None if `name` is a field or group of `config`; else the fields it may be a misspelling
    of, closest first (perhaps none)."""
    fields = _leaves(config)
    groups = {".".join(field.split(".")[:depth]) for field in fields
              for depth in range(1, field.count(".") + 1)}
    if name in fields or name in groups:
        return None
    group, _, last = name.rpartition(".")
    if group in groups:  # the group is right: the closest field of that group
        own = [field.rpartition(".")[2] for field in fields if field.rpartition(".")[0] == group]
        return [f"{group}.{close}" for close in difflib.get_close_matches(last, own, n=1,
                                                                          cutoff=0.7)]
    # "batch_size" for "training.batch_size": the group left out.
    ends = [field for field in fields if field.endswith("." + name)]
    return ends or difflib.get_close_matches(name, list(fields), n=1, cutoff=0.7)


def check_config(config, origin="the config", source_rule=None):
    """Raise one UserError listing every field of `config` that breaks a rule.

    Args:
        config: a ConfigDict, from a config file or a run's config.json.
        origin: what the config came from, named in the message (e.g. "--config=x.py").
        source_rule: the (test, allowed) rule of data.source, dcgan.data.sources.rule(): the
            kinds of source registered.

    Raises:
        UserError: one line per problem, each naming the field, its value and what is allowed.
    """
    if not hasattr(config, "items"):
        raise UserError(f"{origin} is a {type(config).__name__}, not a ConfigDict; "
                        "get_config() must return one (see configs/default.py)")
    leaves = _leaves(config)
    problems = []
    rules = dict(RULES, **{"data.source": source_rule} if source_rule else {})
    for name, (test, allowed) in rules.items():
        value = leaves.get(name, _MISSING)
        if value is _MISSING:
            problems.append(f"{name} is missing; set it (configs/default.py has every field)")
        elif not test(value):
            problems.append(f"{name}={value!r} is not valid; use {allowed}")
    problems += _adaptive_problems(leaves)
    augment = leaves.get("training.augment")
    if isinstance(augment, str):
        names = [name.strip() for name in augment.split(",") if name.strip()]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            problems.append(f"training.augment={augment!r} names {', '.join(twice)} more than "
                            "once, which would apply it again; name each policy once")
    conditional = leaves.get("model.conditional")
    for name in ("model.stddev_by_class", "model.class_norm"):
        if conditional is False and leaves.get(name) is True:
            problems.append(f"{name}=True needs classes; set model.conditional=True or "
                            f"leave {name} False")
    if conditional is True and leaves.get("model.stddev_by_class") is True and \
            leaves.get("model.minibatch_stddev") == -1:
        problems.append("model.stddev_by_class=True groups the minibatch standard deviation "
                        "by class, but model.minibatch_stddev is -1 (off); set it to 0")
    if leaves.get("model.skip_excitation") is True and leaves.get("data.image_size") == 28:
        problems.append("model.skip_excitation=True gates 16x16 and larger maps by smaller "
                        "ones, which the 28 px networks do not have; use data.image_size=32 or "
                        "more, or leave it False")
    batch_size = leaves.get("training.batch_size")
    if _is_int(batch_size) and batch_size > 0:
        problem = batch_size_problem(batch_size, leaves.get("training.mode_seeking"))
        if problem:
            problems.append(problem)
    max_seconds = leaves.get("training.max_seconds")
    if _is_number(max_seconds) and max_seconds > 0 and \
            leaves.get("runtime.distribute") == "multi_worker":
        # Each worker reads its own clock: they could stop at different steps and hang.
        problems.append("training.max_seconds is not supported with runtime.distribute="
                        "multi_worker; stop by training.num_steps there")
    problems += _init_from_problems(leaves)
    for name in sorted(name for name in leaves.keys() - RULES.keys()
                       if not any(name == extra or name.startswith(extra + ".")
                                  for extra in RECORDED_EXTRAS)):
        problems.append(f"{name} is not a config field; check its spelling against "
                        "configs/default.py")
    if len(problems) == 1:
        raise UserError(f"{origin}: {problems[0]}")
    if problems:
        raise UserError(f"{origin} has {len(problems)} problems:\n" +
                        "\n".join(f"  {problem}" for problem in problems))
