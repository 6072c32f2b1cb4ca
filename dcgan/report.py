"""One picture of a run: `python -m dcgan.report --workdir=runs/mnist` writes WORKDIR/report.png.

Training writes the report when it finishes; this command draws it at any other time, from a
run still training (the files it reads are appended or replaced atomically) or one that was
stopped. It reads metrics.jsonl and the latest sample grid, and needs no TensorFlow.
`--output=PATH.png` writes the picture elsewhere, e.g. for a run folder that cannot be written.
"""

import sys

from absl import flags

from dcgan import cli
from dcgan.errors import UserError, reason


def main(argv):
    del argv  # run_app has refused stray arguments
    root, output = flags.FLAGS.workdir, flags.FLAGS.output
    if not root:
        raise UserError("--workdir is required, e.g. --workdir=runs/mnist")
    if output is not None and not output.lower().endswith(".png"):
        raise UserError(f"--output={output}: the report is a picture; end it in .png")
    from dcgan.run import run_report, workdir

    try:
        print(f"report: {run_report.write_report(root, output)}")
    except OSError as e:
        target = output or workdir.RunDir(root).report
        hint = "choose another --output" if output else \
            f"the run folder {root} is not writable; write it elsewhere with --output=PATH.png"
        raise UserError(f"cannot write {target} ({reason(e)}); {hint}") from None
    return 0


def run():
    # Defined here, not at import: the flag would clash with another command's --workdir.
    flags.DEFINE_string("workdir", None, "Run folder of `dcgan.main` (holds metrics.jsonl).")
    flags.DEFINE_string("output", None, "Where to write the picture (default "
                        "WORKDIR/report.png), e.g. for a run folder that cannot be written.")
    cli.run_app(main)


if __name__ == "__main__":
    sys.exit(run())
