"""Train a 64 px starter run on a desktop icon theme, to fine-tune your own pictures from.

    python scripts/make_starter.py --workdir=runs/starter64 --minutes=60

draws the theme's icons at 64x64 into a folder (scripts/make_icon_set.py; by default
WORKDIR-icons, one sub-folder per icon context), then trains configs/folder64.py on them for
--minutes of training time, unconditional, scoring it on 500 icons held out every 2,000 steps
and keeping the best checkpoint, and prints the command that fine-tunes from that:

    python -m dcgan.main --config=configs/folder64.py --workdir=runs/mine \\
        --config.data.source=folder:~/Pictures/mine \\
        --config.training.init_from=runs/starter64/checkpoints/best

The default theme is Papirus (Debian: apt-get install papirus-icon-theme; GPL-3, see
/usr/share/doc/papirus-icon-theme/copyright), thousands of distinct SVG icons; rasterising
them needs rsvg-convert (apt-get install librsvg2-bin). --theme=/usr/share/icons/oxygen
(oxygen-icon-theme, LGPL-3+) gives about 670 pictures at 64 px. The weights are made by this
command, never shipped: they are the icons' derived work, under the theme's licence.

Rerunning the same command resumes the run (the icon folder is reused): --minutes counts the
training time of every invocation together, so a larger value trains on. --steps=N trains N
steps instead, the same starter on any machine (20,500 are an hour of a quiet 2-core CPU).
Arguments after `--` go to dcgan.main as they are, e.g. `-- --config.training.batch_size=32`.
"""

import os
import subprocess
import sys

from absl import flags

from dcgan import cli
from dcgan.data import sources
from dcgan.run.workdir import RunDir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRESET = os.path.join(ROOT, "configs", "folder64.py")
ICON_SET = os.path.join(ROOT, "scripts", "make_icon_set.py")
# Training stops by time, not by a number of steps.
UNLIMITED_STEPS = 100_000_000
# Scored on held-out icons every 2,000 steps, the run keeps its best checkpoint, which is the
# starter: an hour on thousands of icons can collapse late (docs/measurements/transfer64.md).
SCORING = ["--config.data.holdout=500", "--config.training.eval_every_steps=2000",
           "--config.training.eval_features=random"]

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_string("workdir", None, "The starter's run folder; resumed when it exists.")
    flags.DEFINE_string("theme", "/usr/share/icons/Papirus", "The icon theme's folder.")
    flags.DEFINE_string("icons", None, "Folder of the 64 px pictures; made from --theme when "
                        "it is missing or empty, used as it is otherwise (default: WORKDIR-icons).")
    flags.DEFINE_integer("max_per_class", 0, "At most this many icons of each context (0: all).")
    flags.DEFINE_float("minutes", 60.0, "Minutes of training, summed over reruns.")
    flags.DEFINE_integer("steps", 0, "Train this many steps instead of --minutes: the same "
                         "starter on any machine (20,500 is an hour of a quiet 2-core CPU).")
    flags.DEFINE_integer("seed", 0, "The run's seed, and that of the --max_per_class draw.")


def icon_folder(workdir, icons):
    return os.path.abspath(os.path.expanduser(icons or workdir.rstrip(os.sep) + "-icons"))


def has_files(folder):
    return os.path.isdir(folder) and any(files for _, _, files in os.walk(folder))


def training_command(workdir, icons, minutes, steps, seed, extra):
    """dcgan.main's arguments: folder64.py on the icons, stopped after `steps` or, without
    them, by the time budget."""
    budget = ([f"--config.training.num_steps={steps}"] if steps else
              [f"--config.training.max_seconds={minutes * 60:g}",
               f"--config.training.num_steps={UNLIMITED_STEPS}"])
    return [sys.executable, "-m", "dcgan.main", f"--config={PRESET}", f"--workdir={workdir}",
            f"--config.data.source=folder:{icons}", *budget, *SCORING, f"--config.seed={seed}",
            *extra]


def fine_tune_command(workdir, extra):
    """The command that fine-tunes from the starter: with the starter's network settings, or
    its networks would not fit."""
    shape = [arg for arg in extra if arg.startswith("--config.model.")]
    return " ".join(["python -m dcgan.main --config=configs/folder64.py --workdir=runs/mine",
                     "--config.data.source=folder:~/Pictures/mine",
                     f"--config.training.init_from={RunDir(workdir).best_checkpoint}",
                     *shape])


def main(argv):
    extra = argv[1:]
    if not FLAGS.workdir:
        raise cli.UserError("--workdir is required: the starter's run folder, e.g. "
                            "--workdir=runs/starter64")
    if FLAGS.steps < 0:
        raise cli.UserError(f"--steps={FLAGS.steps} must be positive, e.g. --steps=20500, or 0 "
                            "to train for --minutes")
    if FLAGS.minutes <= 0:
        raise cli.UserError(f"--minutes={FLAGS.minutes:g} must be positive, e.g. --minutes=60")
    if any(not arg.startswith("--") for arg in extra):
        raise cli.UserError(f"unexpected argument(s) {' '.join(extra)}; give dcgan.main's flags "
                            "after `--`, e.g. -- --config.training.batch_size=32")
    if any(arg.startswith("--config=") for arg in extra):
        raise cli.UserError("make_starter.py trains configs/folder64.py, the preset of 64 px "
                            "starters; give its fields after `--` as --config.FIELD=VALUE")
    workdir = os.path.abspath(os.path.expanduser(FLAGS.workdir))
    icons = icon_folder(workdir, FLAGS.icons)
    # The package and configs/ from this checkout, wherever the command is run from.
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    if os.path.exists(icons) and not os.path.isdir(icons):
        raise cli.UserError(f"--icons={icons} is a file; give a folder of pictures, or leave "
                            "--icons out to draw the theme into WORKDIR-icons")
    # The command's config settings, checked before the icons are drawn: a misspelt field
    # costs a second, not the drawing.
    command = training_command(workdir, icons, FLAGS.minutes, FLAGS.steps, FLAGS.seed, extra)
    try:
        cli.check_config_overrides(PRESET, [arg for arg in command if arg.startswith("--config.")],
                                   sources.rule())
    except cli.UserError as e:  # its hints name dcgan.main's flags, which go after `--` here
        raise cli.UserError(str(e).replace("--dry_run", "-- --dry_run")) from None
    if has_files(icons):
        print(f"using the pictures already in {icons}")
    else:
        made = subprocess.run([sys.executable, ICON_SET, f"--theme={FLAGS.theme}", "--size=64",
                               f"--output={icons}", f"--max_per_class={FLAGS.max_per_class}",
                               f"--seed={FLAGS.seed}"], env=env, check=False)
        if made.returncode:
            return made.returncode  # make_icon_set said why, in one line
    trained = subprocess.run(command, env=env, check=False)
    if trained.returncode or "--dry_run" in extra:
        return trained.returncode
    print(f"starter in {workdir}; fine-tune your pictures from it with:\n  "
          f"{fine_tune_command(workdir, extra)}")
    return 0


if __name__ == "__main__":
    define_flags()
    cli.run_app(main, takes_arguments=True)
