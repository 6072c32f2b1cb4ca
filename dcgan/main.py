"""Train a DCGAN: `python -m dcgan.main --config=configs/mnist.py --workdir=runs/mnist`."""

import logging
import os
import sys

from absl import flags
from ml_collections import config_flags

from dcgan import cli

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file(
    "config", None, "Preset file in configs/; override fields as --config.training.batch_size=64.",
    lock_config=True)
flags.DEFINE_string("workdir", None, "Run folder: checkpoints, samples, logs; resumed if present.")
flags.DEFINE_bool("dry_run", False, "Print the resolved config and exit without training.")


def main(argv):
    if len(argv) > 1:
        raise cli.UserError(
            f"unexpected arguments {' '.join(argv[1:])}; flags look like --name=value")
    config = cli.require_config(FLAGS, "config")
    if FLAGS.dry_run:
        print(config)
        return 0
    if not FLAGS.workdir:
        raise cli.UserError("--workdir is required: the folder for checkpoints, samples and logs")
    cli.log_to_file(FLAGS.workdir, "train.log")
    logging.getLogger("dcgan").info("config:\n%s", config)

    from dcgan import train  # TensorFlow loads here, after the cheap checks

    try:
        train.train_and_evaluate(config, FLAGS.workdir)
    except train.Interrupted as stop:
        logging.getLogger("dcgan").warning("%s", stop)
        return stop.exit_code
    print(f"done: samples in {os.path.join(FLAGS.workdir, 'samples')}, "
          f"progress GIF {os.path.join(FLAGS.workdir, 'progress.gif')}")
    return 0


def run():
    cli.run_app(main)


if __name__ == "__main__":
    sys.exit(run())
