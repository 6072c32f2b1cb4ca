"""Train a DCGAN: `python -m dcgan.main --config=configs/mnist.py --workdir=runs/mnist`."""

import functools
import logging

from absl import flags
from ml_collections import config_flags

from dcgan import cli

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file(
    "config", None, "Preset file in configs/; override fields as --config.training.batch_size=64.",
    lock_config=True)
flags.DEFINE_string("workdir", None, "Run folder: checkpoints, samples, logs; resumed if present.")
flags.DEFINE_bool("dry_run", False, "Check and print the resolved config; exit without training.")
flags.DEFINE_bool("allow_new_data", False, "Let a resumed run continue on another data.source or "
                  "seed; the change is kept in the workdir's config_history.jsonl.")


def main(argv):
    del argv  # run_app has refused stray arguments
    from dcgan.data import sources

    config = cli.require_config(FLAGS, "config", sources.rule())
    from dcgan.run import start_check, workdir

    # What the data's listing can tell, refused before TensorFlow loads and before the run
    # folder, its log or its config exist; a dry run checks as much. What they found (the
    # source and its listing, the run folder, the changes on resume) goes on to the run.
    start = start_check.check_before_start(config, FLAGS.workdir, FLAGS.allow_new_data)
    from dcgan.training import init_from

    init_source = init_from.check_source(config, start)  # the run to copy networks of
    if init_source:  # reads its checkpoint (loading TensorFlow): a torn one leaves no run folder
        init_source = init_source.read_whole()
    if FLAGS.dry_run:
        print(config)
        if init_source:
            print(init_source.describe(config.model.conditional))
        return 0
    if not FLAGS.workdir:
        raise cli.UserError("--workdir is required: the folder for checkpoints, samples and logs")
    run_dir = start.run_dir
    # A second run on the same workdir is refused at once, before it writes a line there (in a
    # cluster the chief takes the lock later, in train_and_evaluate). Held until exit.
    run_lock = None if config.runtime.distribute == "multi_worker" else workdir.lock(
        FLAGS.workdir)
    # TensorFlow loads here, after the cheap checks.
    from dcgan.training import distribute, recovery, train

    # In a cluster the workdir is the chief's: the other workers log to stderr only.
    if distribute.writes_run_files(config.runtime.distribute):
        cli.log_to_file(run_dir.log)
    logging.getLogger("dcgan").info("config:\n%s", config)

    try:
        train.train_and_evaluate(config, FLAGS.workdir, allow_new_data=FLAGS.allow_new_data,
                                 start=start, lock=run_lock, init_source=init_source)
    except recovery.Interrupted as stop:
        logging.getLogger("dcgan").warning("%s", stop)
        return stop.exit_code
    done = (f"done: samples in {run_dir.samples}, progress GIF {run_dir.progress_gif}, "
            f"report {run_dir.report}")
    print(done)
    return 0


# The console script's entry point; run_app exits with the command's status.
run = functools.partial(cli.run_app, main)

if __name__ == "__main__":
    run()
