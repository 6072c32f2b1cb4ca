"""One picture of a run: `python -m dcgan.report --workdir=runs/mnist` writes WORKDIR/report.png.

Training writes the report when it finishes; this command draws it at any other time, from a
run still training (the files it reads are appended or replaced atomically) or one that was
stopped. It reads metrics.jsonl and the latest sample grid, and needs no TensorFlow.
"""

import os
import sys

from absl import flags

from dcgan import cli, visualize
from dcgan.errors import UserError
from dcgan.run import run_record, workdir


def latest_sample(root):
    paths = list(workdir.RunDir(root).sample_grids().values())
    return paths[-1] if paths else None


def write_report(root, path=None):
    """Draws the report of the run in `root`; returns the path written.

    Raises:
        UserError: `root` is not a folder, or holds no metrics yet.
    """
    if not os.path.isdir(root):
        raise UserError(f"workdir {root} does not exist; pass the --workdir of a training run")
    records = run_record.read_metrics(root)
    if not records:
        raise UserError(
            f"no metrics in {workdir.RunDir(root).metrics} yet; a run writes its "
            "first line after training.log_every_steps steps, try again then")
    return visualize.plot_report(records, path or workdir.RunDir(root).report,
                                 run_record.EQUILIBRIUM_D_LOSS,
                                 run_record.EQUILIBRIUM_G_LOSS, latest_sample(root))


def main(argv):
    del argv  # run_app has refused stray arguments
    if not flags.FLAGS.workdir:
        raise UserError("--workdir is required, e.g. --workdir=runs/mnist")
    print(f"report: {write_report(flags.FLAGS.workdir)}")
    return 0


def run():
    # Defined here, not at import: training imports this module and has a --workdir of its own.
    flags.DEFINE_string("workdir", None, "Run folder of `dcgan.main` (holds metrics.jsonl).")
    cli.run_app(main)


if __name__ == "__main__":
    sys.exit(run())
