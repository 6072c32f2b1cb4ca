"""One picture of a run: `python -m dcgan.report --workdir=runs/mnist` writes WORKDIR/report.png.

Training writes the report when it finishes; this command draws it at any other time, from a
run still training (the files it reads are appended or replaced atomically) or one that was
stopped. It reads metrics.jsonl and the latest sample grid, and needs no TensorFlow.
`--output=PATH.png` writes the picture elsewhere, e.g. for a run folder that cannot be written.
"""

import os
import sys

from absl import flags

from dcgan import cli, visualize
from dcgan.errors import UserError, reason
from dcgan.run import run_record

REPORT_FILE = "report.png"


def latest_sample(root):
    paths = run_record.sample_paths(root)
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
            f"no metrics in {os.path.join(root, run_record.METRICS_FILE)} yet; a run writes its "
            "first line after training.log_every_steps steps, try again then")
    return visualize.plot_report(records, path or os.path.join(root, REPORT_FILE),
                                 run_record.EQUILIBRIUM_D_LOSS,
                                 run_record.EQUILIBRIUM_G_LOSS, latest_sample(root))


def main(argv):
    if len(argv) > 1:
        raise UserError(f"unexpected arguments {' '.join(argv[1:])}; flags look like --name=value")
    root, output = flags.FLAGS.workdir, flags.FLAGS.output
    if not root:
        raise UserError("--workdir is required, e.g. --workdir=runs/mnist")
    if output is not None and not output.lower().endswith(".png"):
        raise UserError(f"--output={output}: the report is a picture; end it in .png")
    try:
        print(f"report: {write_report(root, output)}")
    except OSError as e:
        target = output or os.path.join(root, REPORT_FILE)
        hint = "choose another --output" if output else \
            f"the run folder {root} is not writable; write it elsewhere with --output=PATH.png"
        raise UserError(f"cannot write {target} ({reason(e)}); {hint}") from None
    return 0


def run():
    # Defined here, not at import: training imports this module and has a --workdir of its own.
    flags.DEFINE_string("workdir", None, "Run folder of `dcgan.main` (holds metrics.jsonl).")
    flags.DEFINE_string("output", None, "Where to write the picture (default "
                        "WORKDIR/report.png), e.g. for a run folder that cannot be written.")
    cli.run_app(main)


if __name__ == "__main__":
    sys.exit(run())
