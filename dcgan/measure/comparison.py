"""Presets trained and scored side by side, for scripts/compare_presets.py and
scripts/time_to_quality.py.

Training and scoring run as real `dcgan.main` / `dcgan.evaluate` processes, exactly as a user
would run them, so a comparison measures what users get.
"""

import json
import os
import re
import subprocess
import sys

from dcgan import config_check
from dcgan.data import sources
from dcgan.errors import UserError, first_line, unwritable_workdir
from dcgan.run import start_check, workdir
from dcgan.run.workdir import RunDir


class Failed(Exception):
    """A training or evaluation command failed; the message says which and why."""


def preset_label(path, label):
    return label or os.path.splitext(os.path.basename(path or ""))[0]


def train_command(preset, run_dir, seed, steps, source, grid_images, overrides):
    command = [sys.executable, "-m", "dcgan.main", f"--config={preset}", f"--workdir={run_dir}",
               f"--config.seed={seed}", f"--config.training.num_steps={steps}",
               f"--config.training.num_grid_images={grid_images}"]
    if source:
        command.append(f"--config.data.source={source}")
    return command + [f"--config.{override}" for override in overrides]


def evaluate_command(run_dir, num_samples, features):
    return [sys.executable, "-m", "dcgan.evaluate", f"--workdir={run_dir}",
            f"--num_samples={num_samples}", f"--features={features}"]


def run_folder(root, label, seed):
    """Where a comparison keeps the run of one preset and seed."""
    return os.path.join(root, label, f"seed{seed}")


def checked_presets(presets, seeds, *, source, root, script_fields):
    """Each arm's preset with `source` (if given) and its overrides, refused here, before any
    timing or training, for what dcgan.main would refuse in its run folders: a bad field, a
    hold-out or batch larger than the folder, a run begun on other files, with another model or
    other data.

    Args:
        presets: {label: (preset file, [FIELD=VALUE overrides])} for arms a and b, in order.
        seeds: {label: [seeds]}.
        script_fields: {field: how the script sets it, e.g. "--seeds"}: an override of one of
            them would be overridden in turn, so it is refused.

    Returns:
        {label: the config a run of that arm starts from}.

    Raises:
        UserError: naming the problem and the fix, written with the script's own
            --a_override=/--b_override= rather than dcgan.main's --config.
    """
    configs = {}
    for (label, (path, overrides)), arm in zip(presets.items(), "ab", strict=True):
        override_flag = f"--{arm}_override="
        for override in overrides:
            field = override.partition("=")[0]
            if field in script_fields:
                raise UserError(f"{override_flag}{override}: {field} is set by this script "
                                f"({script_fields[field]})")
        # Both go to dcgan.main in this order (train_command): an override of data.source wins.
        loaded = [f"data.source={source}"] * bool(source) + list(overrides)
        try:
            config = load_preset(path, loaded)
            config_check.check_config(config, origin=path, source_rule=sources.rule())
            for seed in seeds[label]:
                config.seed = seed
                start_check.check_before_start(config, run_folder(root, label, seed),
                                               allow_new_data=False)
        except UserError as e:
            # A comparison continues its runs only on the data they began with.
            fix = str(e).replace(workdir.ALLOW_NEW_DATA, "").replace("--config.", override_flag)
            if source:  # the folder came from --source, not from the preset
                fix = fix.replace(f"data.source {source}", f"--source={source}")
            raise UserError(fix) from None
        configs[label] = config
    return configs


def make_workdir(root):
    """The comparison's folder `root` (--workdir) made, or UserError saying why it cannot be."""
    if os.path.exists(root) and not os.path.isdir(root):
        raise UserError(f"--workdir={root} is a file; choose a folder")
    try:
        os.makedirs(root, exist_ok=True)
    except OSError as e:
        raise unwritable_workdir(root, e) from None


def run(command, what):
    print("$ " + " ".join(command), flush=True)
    # Output goes straight to the terminal: a long training shows its progress as it goes.
    result = subprocess.run(command, stdout=sys.stderr)
    if result.returncode:
        raise Failed(f"{what} failed (exit {result.returncode}): {' '.join(command)}")


def read_eval(run_dir):
    try:
        with open(RunDir(run_dir).eval_results) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def side_by_side(grid_paths, titles, out, scale):
    """The grids next to each other, each under its title, on a white background."""
    import imageio.v3 as iio
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    grids = []
    for path in grid_paths:
        grid = iio.imread(path)
        if grid.ndim == 3:  # grey PNGs read back as (H, W); colour keeps its channels
            grid = grid[..., :3]
        grids.append(np.kron(grid, np.ones((scale, scale) + (1,) * (grid.ndim - 2), np.uint8)))
    mode = "RGB" if any(g.ndim == 3 for g in grids) else "L"
    font = ImageFont.load_default(size=14 if scale < 2 else 18)
    title_height, gap = 28, 24
    width = sum(g.shape[1] for g in grids) + gap * (len(grids) + 1)
    height = max(g.shape[0] for g in grids) + title_height + gap
    canvas = Image.new(mode, (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    left = gap
    for grid, title in zip(grids, titles, strict=True):
        tile = Image.fromarray(grid).convert(mode)
        draw.text((left, 6), title, fill="black", font=font)
        canvas.paste(tile, (left, title_height))
        left += grid.shape[1] + gap
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    canvas.save(out, optimize=True)


def load_preset(path, overrides):
    """The preset with its FIELD=VALUE overrides, each value read as dcgan.main reads it.

    Raises:
        UserError: the file is no preset, or an override names no field of it or has a value
            of another type than the field's.
    """
    import importlib.util

    import ml_collections

    try:
        spec = importlib.util.spec_from_file_location("preset", path)
        if spec is None or spec.loader is None:
            raise UserError(f"cannot load {path}: not a Python file; the presets are in configs/")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if not callable(getattr(module, "get_config", None)):
            raise UserError(f"cannot load {path}: it defines no get_config(); see "
                            "configs/default.py")
        config = module.get_config()
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 - a preset file can raise anything while it loads
        raise UserError(f"cannot load {path}: {type(e).__name__}: {first_line(e)}") from None
    if not isinstance(config, ml_collections.ConfigDict):
        raise UserError(f"{path}: get_config() returned a {type(config).__name__}, not a "
                        "ConfigDict; see configs/default.py")
    for override in overrides:
        field, equals, text = override.partition("=")
        if not equals:
            raise UserError(f"override {override} has no value; write FIELD=VALUE, e.g. "
                            "data.holdout=100")
        *parents, name = field.split(".")
        group = config
        for parent in parents:
            group = group.get(parent) if isinstance(group, ml_collections.ConfigDict) else None
        if not isinstance(group, ml_collections.ConfigDict) or name not in group:
            raise UserError(f"override {override}: the config has no field {field}")
        if isinstance(group[name], ml_collections.ConfigDict):
            raise UserError(f"override {override}: {field} is a group of fields; set one of "
                            f"them, e.g. {field}.{next(iter(group[name]))}=...")
        group[name] = _override_value(override, field, group[name], text)
    return config


# What absl's boolean flags, which dcgan.main's --config.FIELD overrides are, take.
_TRUE, _FALSE = ("true", "t", "1"), ("false", "f", "0")


def _override_value(override, field, old, text):
    """`text` read as the type of the field's value `old`, or UserError."""
    import ast

    if isinstance(old, str):
        return text
    if isinstance(old, bool):
        if text.lower() in _TRUE + _FALSE:
            return text.lower() in _TRUE
        raise UserError(f"override {override}: {text!r} is not true or false, as {field} is")
    try:
        value = ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        value = None
    if isinstance(old, float) and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(old, int) and isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(old, tuple) and isinstance(value, tuple | list):
        return tuple(value)
    kind = type(old).__name__
    raise UserError(f"override {override}: {text!r} is not {'an' if kind[0] in 'aeiou' else 'a'} "
                    f"{kind}, as {field} is")


def flag_problems(flag_values):
    """What is wrong with the flags both comparison scripts take (--a, --b, their labels,
    --features, --seeds, --num_samples), and the two presets' labels."""
    problems = []
    for name in ("a", "b"):
        path = flag_values[name].value
        if not path:
            problems.append(f"--{name} is required (a preset file, e.g. configs/mnist.py)")
        elif not os.path.isfile(path):
            problems.append(f"--{name}={path} not found; the presets are in configs/")
    features = flag_values.features
    missing = features and config_check.missing_features(features)
    if not features:
        problems.append(f"--features is required: {config_check.FEATURE_SPECS}")
    elif missing:
        problems.append(f"--features: {missing}")
    problems += seed_problems("seeds", flag_values.seeds)
    if flag_values.grid_images < 1:
        problems.append("--grid_images must be at least 1")
    if flag_values.num_samples < config_check.MIN_SCORING_SAMPLES:
        problems.append(f"--num_samples must be at least {config_check.MIN_SCORING_SAMPLES}")
    labels = [preset_label(flag_values.a, flag_values.a_label),
              preset_label(flag_values.b, flag_values.b_label)]
    for name, label in zip(("a_label", "b_label"), labels, strict=True):
        if not re.fullmatch(r"[\w.-]+", label) or label in (".", ".."):
            problems.append(f"--{name}={label} names the runs' folder: use letters, digits, "
                            "'.', '-' and '_'")
    if not problems and labels[0] == labels[1]:
        problems.append(f"both presets are called {labels[0]!r}; tell them apart with "
                        "--a_label/--b_label")
    return problems, labels


def seed_problems(name, seeds):
    """What is wrong with --NAME, a list of seeds: each once, an integer in [0, 2**32)."""
    if not seeds or not all(re.fullmatch(r"[0-9]+", s.strip()) for s in seeds):
        return [f"--{name}={','.join(seeds)} must be non-negative integers"]
    values = [int(s) for s in seeds]
    if max(values) >= 2**32:
        return [f"--{name}={','.join(seeds)}: a seed must be below 2**32"]
    if len(set(values)) < len(values):
        return [f"--{name}={','.join(seeds)} names a seed twice; each run once"]
    return []
