"""report.png: one picture of a run, drawn from metrics.jsonl and the latest sample grid.

Training draws it when it finishes, `dcgan.report` at any other time, from a run still training
(the files read are appended or replaced atomically) or one that was stopped.
"""

import os

from dcgan import visualize
from dcgan.errors import UserError
from dcgan.run import run_record

REPORT_FILE = "report.png"


def latest_sample(root):
    paths = run_record.sample_paths(root)
    return paths[-1] if paths else None


def write_report(root, equilibrium_d, equilibrium_g, path=None):
    """Draws the report of the run in `root`; returns the path written.

    Args:
        root: the run folder.
        equilibrium_d, equilibrium_g: D's and G's losses when D outputs 1/2 everywhere
            (dcgan.training.losses), drawn beside the loss curves.
        path: where to write; WORKDIR/report.png by default.

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
                                 equilibrium_d, equilibrium_g, latest_sample(root))
