"""report.png: one picture of a run, drawn from metrics.jsonl and the latest sample grid.

Training draws it when it finishes, `dcgan.report` at any other time, from a run still training
(the files read are appended or replaced atomically) or one that was stopped.
"""

import os

from dcgan import equilibrium, visualize
from dcgan.errors import UserError, file_in_place_of_folder
from dcgan.run import run_record, workdir


def latest_sample(root):
    paths = list(workdir.RunDir(root).sample_grids().values())
    return paths[-1] if paths else None


def write_report(root, path=None):
    """Draws the report of the run in `root`; returns the path written.

    Args:
        root: the run folder.
        path: where to write; the run folder's report.png by default.

    Raises:
        UserError: `root` is not a folder, is no run folder, or holds no metrics yet.
    """
    if not os.path.isdir(root):
        what = file_in_place_of_folder(root) or f"workdir {root} does not exist"
        raise UserError(f"{what}; pass the --workdir of a training run")
    records = run_record.read_metrics(root)
    run = workdir.RunDir(root)
    if not records and not any(os.path.exists(p) for p in (run.config, run.log, run.metrics,
                                                             run.lock_file, run.checkpoints)):
        raise UserError(f"{root} is not a run folder (no {os.path.basename(run.config)}, "
                        f"{os.path.basename(run.metrics)} or {os.path.basename(run.log)}); "
                        "pass the --workdir of a training run")
    if not records:
        raise UserError(
            f"no metrics in {workdir.RunDir(root).metrics} yet; a run writes its "
            "first line after training.log_every_steps steps, try again then")
    return visualize.plot_report(records, path or workdir.RunDir(root).report,
                                 equilibrium.D_LOSS, equilibrium.G_LOSS, latest_sample(root),
                                 gap_target(root))


def gap_target(root):
    """The run's training.ada_gap_target, 0 when it has none or its config cannot be read:
    the report is drawn from the metrics, whatever state the rest of the folder is in."""
    try:
        return float(workdir.read_config(root).training.ada_gap_target)
    except (UserError, AttributeError, TypeError, ValueError):  # none, or not a config of ours
        return 0.0
