"""One picture of a run: `python -m dcgan.report --workdir=runs/mnist` writes WORKDIR/report.png.

Training writes the report when it finishes; this command draws it at any other time, from a
run still training (the files it reads are appended or replaced atomically) or one that was
stopped. It reads metrics.jsonl and the latest sample grid.
"""

import sys

from absl import flags

from dcgan import cli
from dcgan.errors import UserError


def main(argv):
    del argv  # run_app has refused stray arguments
    if not flags.FLAGS.workdir:
        raise UserError("--workdir is required, e.g. --workdir=runs/mnist")
    from dcgan.run import run_report

    path = run_report.write_report(flags.FLAGS.workdir)
    print(f"report: {path}")
    return 0


def run():
    # Defined here, not at import: the flag would clash with another command's --workdir.
    flags.DEFINE_string("workdir", None, "Run folder of `dcgan.main` (holds metrics.jsonl).")
    cli.run_app(main)


if __name__ == "__main__":
    sys.exit(run())
