"""Score a trained generator: `python -m dcgan.evaluate --workdir=runs/fmnist --num_samples=10000`.

Generates M samples from a checkpoint of the run (the latest, `--step=N`, or
`--checkpoint=best`), compares their features with those of M held-out real images (the data
set's test split), prints a table and writes WORKDIR/eval.json. `--real_baseline` also
scores M real training images the same way: the values a perfect generator would reach with
M samples, since every metric is biased at finite M.
"""

import logging
import os
import re
import sys

from absl import flags

from dcgan import cli, config_check, workdir

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Run folder written by dcgan.main.")
flags.DEFINE_integer("step", None, "Score checkpoints/ckpt-STEP instead of the latest.")
flags.DEFINE_enum("checkpoint", "latest", ["latest", "best"],
                  "latest: the newest checkpoint; best: the lowest Frechet distance seen in "
                  "training (training.eval_every_steps > 0).")
flags.DEFINE_integer("num_samples", None, "Generated and real images compared (default: the "
                     "run's training.eval_num_samples).")
flags.DEFINE_string("features", None, "A classifier from `python -m dcgan.classifier`, or "
                    "'inception' (default: the run's training.eval_features).")
flags.DEFINE_bool("real_baseline", False, "Also score real training images against the "
                  "held-out ones: the floor a perfect generator would reach.")
flags.DEFINE_integer("batch_size", 250, "Images per generator and feature-extractor call.")

log = logging.getLogger("dcgan")
EVAL_FILE = "eval.json"


def find_checkpoint(root, step, which):
    """(checkpoint path, step) the flags select; UserError when there is none."""
    from dcgan.errors import UserError

    ckpt_dir = os.path.join(root, "checkpoints")
    if step is not None and which == "best":
        raise UserError("--step and --checkpoint=best select different checkpoints; give one")
    if step is not None:
        path = os.path.join(ckpt_dir, f"ckpt-{step}")
        if not os.path.exists(path + ".index"):
            have = sorted(int(m.group(1)) for name in _listdir(ckpt_dir)
                          if (m := re.fullmatch(r"ckpt-(\d+)\.index", name)))
            raise UserError(f"no checkpoint of step {step} in {ckpt_dir}; steps kept: "
                            f"{', '.join(map(str, have)) or 'none'}")
        return path, step
    import tensorflow as tf

    folder = os.path.join(ckpt_dir, "best") if which == "best" else ckpt_dir
    path = tf.train.latest_checkpoint(folder)
    if path is None:
        hint = ("it is kept when training with training.eval_every_steps > 0"
                if which == "best" else "train first with `python -m dcgan.main`")
        raise UserError(f"no {which} checkpoint in {folder}; {hint}")
    return path, int(path.rsplit("-", 1)[1])


def _listdir(folder):
    return os.listdir(folder) if os.path.isdir(folder) else []


def restore_generator(config_dict, path):
    """The run's generator with the weights of `path`; the EMA copy when the run kept one."""
    import tensorflow as tf

    from dcgan import models
    from dcgan.errors import UserError

    names = {name.split("/", 1)[0] for name, _ in tf.train.list_variables(path)}
    key = "ema_generator" if "ema_generator" in names else "generator"
    generator = models.generator_from_config(config_dict)
    try:
        status = tf.train.Checkpoint(**{key: generator}).restore(path).expect_partial()
        status.assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as e:
        raise UserError(f"cannot restore the generator from {path} "
                        f"({str(e).splitlines()[0]}); is config.json from this run?") from None
    return generator, key


def format_table(scores, baseline=None):
    """The metrics as aligned text, with the real baseline as a second column."""
    header = f"{'metric':<18}{'generator':>14}"
    if baseline is not None:
        header += f"{'real baseline':>16}"
    lines = [header, "-" * len(header)]
    for name, value in scores.items():
        line = f"{name:<18}{value:>14.5g}"
        if baseline is not None:
            line += f"{baseline[name]:>16.5g}"
        lines.append(line)
    return "\n".join(lines)


def main(argv):
    if len(argv) > 1:
        raise cli.UserError(
            f"unexpected arguments {' '.join(argv[1:])}; flags look like --name=value")
    root = FLAGS.workdir
    if not root:
        raise cli.UserError("--workdir is required: the run folder to score")
    config = workdir.read_config(root)
    if config is None:
        raise cli.UserError(f"{os.path.join(root, workdir.CONFIG_FILE)} not found; point "
                            "--workdir at a run folder written by `python -m dcgan.main`")
    config_check.check_config(config, origin=os.path.join(root, workdir.CONFIG_FILE))
    training = config["training"]
    num_samples = FLAGS.num_samples or training["eval_num_samples"]
    spec = FLAGS.features if FLAGS.features is not None else training["eval_features"]
    if num_samples < config_check.MIN_SCORING_SAMPLES or FLAGS.batch_size < 1:
        raise cli.UserError(f"--num_samples must be at least {config_check.MIN_SCORING_SAMPLES} "
                            "and --batch_size positive")
    if spec and spec != "inception" and not os.path.isfile(spec):
        raise cli.UserError(f"feature classifier {spec} not found; train one with `python -m "
                            f"dcgan.classifier --config=<the run's config> --output={spec}`")

    from dcgan import features  # TensorFlow loads here, after the cheap checks

    data, seed = config["data"], config["seed"]
    path, step = find_checkpoint(root, FLAGS.step, FLAGS.checkpoint)
    extractor = features.load_extractor(spec, data["image_size"], data["channels"])
    generator, key = restore_generator(config, path)
    log.info("scoring %s (%s, step %d) with %d samples; features: %s", path, key, step,
             num_samples, extractor.description)
    real = features.held_out_images(data["source"], data["image_size"], data["channels"],
                                    num_samples, seed)
    scorer = features.Scorer(extractor, real, num_samples, config["model"]["noise_dim"], seed,
                             FLAGS.batch_size, show_progress=True)
    scores = scorer.score(generator)
    result = {"checkpoint": path, "step": step, "weights": key, "num_samples": num_samples,
              "num_real": scorer.num_real, "features": extractor.name, "metrics": scores}
    if extractor.name != features.INCEPTION:
        info = features.classifier_info(extractor.name)
        if "test_accuracy" in info:
            result["classifier_test_accuracy"] = info["test_accuracy"]
    baseline = None
    if FLAGS.real_baseline:
        # A draw of training images other than the held-out ones, as many as the samples.
        train = features.held_out_images(data["source"], data["image_size"],
                                         data["channels"], num_samples, seed + 1, split="train")
        baseline = scorer.score_images(train, "real training images")
        result["real_baseline"] = baseline
    out = os.path.join(root, EVAL_FILE)
    workdir.write_json_atomically(out, result)
    print(f"{path} ({key}, step {step}): {num_samples} samples vs {scorer.num_real} held-out "
          f"images; features: {extractor.description}")
    print(format_table(scores, baseline))
    print(f"wrote {out}")
    return 0


def run():
    cli.run_app(main)


if __name__ == "__main__":
    sys.exit(run())
