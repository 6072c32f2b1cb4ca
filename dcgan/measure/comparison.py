"""Presets trained and scored side by side, for scripts/compare_presets.py and
scripts/time_to_quality.py.

Training and scoring run as real `dcgan.main` / `dcgan.evaluate` processes, exactly as a user
would run them, so a comparison measures what users get.
"""

import json
import os
import subprocess
import sys

from dcgan import config_check
from dcgan.errors import UserError, first_line
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


def checked_preset(path, overrides, source, run_dirs, override_flag):
    """The preset with its overrides (and `source`, if given), refused here, before any timing
    or training, for what dcgan.main would refuse in each of these run folders: a bad field,
    a hold-out or batch larger than the folder, a run begun on other files.

    Args:
        override_flag: how this script sets a field of the preset, e.g. "--b_override=": the
            fix a message suggests is written with it instead of dcgan.main's "--config.".

    Raises:
        UserError: naming the problem and the fix.
    """
    try:
        config = load_preset(path, overrides)
        if source:
            config.data.source = source
        config_check.check_config(config, origin=path)
        for run_dir in run_dirs:
            start_check.check_before_start(config, run_dir, allow_new_data=False)
    except UserError as e:
        # A comparison continues its runs only on the data they began with.
        fix = str(e).replace(workdir.ALLOW_NEW_DATA, "").replace("--config.", override_flag)
        raise UserError(fix) from None
    except (ValueError, KeyError) as e:
        raise UserError(first_line(e)) from None
    return config


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
    """The preset with its FIELD=VALUE overrides, each value read as its field's type."""
    import ast
    import importlib.util

    spec = importlib.util.spec_from_file_location("preset", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config()
    for override in overrides:
        field, equals, text = override.partition("=")
        if not equals:
            raise ValueError(f"override {override} has no value; write FIELD=VALUE, e.g. "
                             "data.holdout=100")
        *parents, name = field.split(".")
        group = config
        for parent in parents:
            group = group.get(parent) if hasattr(group, "get") else None
        if not hasattr(group, "get") or name not in group:
            raise ValueError(f"override {override}: the config has no field {field}")
        old = group[name]
        if isinstance(old, str):
            group[name] = text
        elif isinstance(old, bool):
            group[name] = text.lower() in ("1", "true", "yes")
        else:
            try:
                group[name] = type(old)(ast.literal_eval(text))
            except (ValueError, TypeError, SyntaxError):
                raise ValueError(f"override {override}: {text!r} is not a "
                                 f"{type(old).__name__}, as {field} is") from None
    return config


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
    seeds = flag_values.seeds
    if not seeds or not all(s.strip().isdigit() for s in seeds):
        problems.append(f"--seeds={','.join(seeds)} must be non-negative integers")
    if flag_values.num_samples < config_check.MIN_SCORING_SAMPLES:
        problems.append(f"--num_samples must be at least {config_check.MIN_SCORING_SAMPLES}")
    labels = [preset_label(flag_values.a, flag_values.a_label),
              preset_label(flag_values.b, flag_values.b_label)]
    if not problems and labels[0] == labels[1]:
        problems.append(f"both presets are called {labels[0]!r}; tell them apart with "
                        "--a_label/--b_label")
    return problems, labels


def refusal(argv, problems):
    """The one error line for stray arguments or the first flag problem, else None."""
    if len(argv) > 1:
        return f"error: unexpected arguments {' '.join(argv[1:])}"
    return f"error: {problems[0]}" if problems else None
