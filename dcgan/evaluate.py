"""Score a trained generator: `python -m dcgan.evaluate --workdir=runs/fmnist --num_samples=10000`.

Generates M samples from a checkpoint of the run (the latest, `--step=N`, or
`--checkpoint=best`), compares their features with those of M held-out real images, prints a
table and writes WORKDIR/eval.json (a run folder that cannot be written keeps the printed
table only). The held-out images are the data set's test split; a source without one (a
folder of pictures) uses the run's data.holdout images, which training never saw, and with
data.holdout=0 the training images, which the printed line and eval.json's "real_images"
say. A run's data that has moved since training is found with `--data_path=NEW_PLACE`; a
folder there must hold the files the run recorded (data_files.json). `--real_baseline` also
scores M real training images the same way: the values a perfect
generator would reach with M samples, since every metric is biased at finite M.

A conditional run is asked for every class in turn. Its metrics are those of the mixed set, and
of each class's samples against the real images of that class (dcgan/quality/per_class:
precision, recall, Frechet distance and spread per class, and their means class_precision,
class_recall, class_fid and class_spread); with a classifier's features the conditional
accuracy is added: the fraction of samples the classifier assigns to the class they were
generated for, overall and per class.
"""

import functools
import logging
import os
import sys

from absl import flags

from dcgan import cli, config_check, errors, files
from dcgan.data import sources
from dcgan.quality import per_class
from dcgan.run import workdir

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Run folder written by dcgan.main.")
flags.DEFINE_integer("step", None, "Score checkpoints/ckpt-STEP instead of the latest.")
flags.DEFINE_enum("checkpoint", "latest", ["latest", "best"],
                  "latest: the newest checkpoint; best: the lowest Frechet distance seen in "
                  "training (training.eval_every_steps > 0).")
flags.DEFINE_integer("num_samples", None, "Generated and real images compared (default: the "
                     "run's training.eval_num_samples).")
flags.DEFINE_string("features", None, "A classifier from `python -m dcgan.classifier`, "
                    "'random' (a fixed random network, no download), 'inception' or "
                    "'inception:PATH' (default: the run's training.eval_features).")
flags.DEFINE_string("inception_weights", None, "A local copy of Keras' "
                    "inception_v3_weights_tf_dim_ordering_tf_kernels.h5 (checked by its MD5) "
                    "for InceptionV3 features: the same as --features=inception:PATH.")
flags.DEFINE_bool("real_baseline", False, "Also score real training images against the "
                  "held-out ones: the floor a perfect generator would reach.")
flags.DEFINE_bool("no_ema", False, "Score the trained generator even if the run kept an EMA one.")
flags.DEFINE_string("data_path", None, "Where the run's data (folder:, idx: or npz:) is now, "
                    "when it has moved since training; a folder must hold the same files "
                    "(the run's data_files.json).")
flags.DEFINE_integer("batch_size", 250, "Images per generator and feature-extractor call.")

log = logging.getLogger("dcgan")


def format_table(scores, baseline=None):
    """The metrics as aligned text, with the real baseline as a second column."""
    width = max(18, *(len(name) + 2 for name in scores))
    header = f"{'metric':<{width}}{'generator':>14}"
    if baseline is not None:
        header += f"{'real baseline':>16}"
    lines = [header, "-" * len(header)]
    for name, value in scores.items():
        line = f"{name:<{width}}{value:>14.5g}"
        # Real images have no class asked of them: no conditional accuracy in that column.
        if baseline is not None and name in baseline:
            line += f"{baseline[name]:>16.5g}"
        lines.append(line)
    return "\n".join(lines)


def format_class_table(classes):
    """Each class's metrics (per_class.score_classes) as aligned text, a line per class."""
    width = max(len("class"), *(len(str(name)) for name in classes)) + 2
    header = (f"{'class':<{width}}{'precision':>10}{'recall':>10}{'fid':>12}{'spread':>10}"
              f"{'real':>7}{'generated':>11}")
    lines = [header, "-" * len(header)]
    for name, m in classes.items():
        lines.append(f"{name:<{width}}{m['precision']:>10.3f}{m['recall']:>10.3f}"
                     f"{m['fid']:>12.5g}{m['spread']:>10.3f}{m['num_real']:>7d}"
                     f"{m['num_generated']:>11d}")
    return "\n".join(lines)


def _checked_flags():
    """(config, number of samples, feature spec, source), each checked before TensorFlow
    loads."""
    root = FLAGS.workdir
    if not root:
        raise cli.UserError("--workdir is required: the run folder to score")
    config = workdir.read_trained_config(root)
    training = config.training
    asked = FLAGS.num_samples is not None  # 0 is a value to refuse, not "the default"
    num_samples = FLAGS.num_samples if asked else training.eval_num_samples
    spec = FLAGS.features if FLAGS.features is not None else training.eval_features
    if FLAGS.inception_weights is not None:
        spec = _with_inception_weights(FLAGS.features, FLAGS.inception_weights)
    if num_samples < config_check.MIN_SCORING_SAMPLES:
        where = f"--num_samples={num_samples}" if asked else \
            f"the run's training.eval_num_samples={num_samples}"
        raise cli.UserError(f"{where} is too few to score; give --num_samples of at least "
                            f"{config_check.MIN_SCORING_SAMPLES}")
    if FLAGS.batch_size < 1:
        raise cli.UserError(f"--batch_size={FLAGS.batch_size} must be positive")
    problem = spec and config_check.missing_features(spec)
    if problem:
        raise cli.UserError(problem)
    return config, num_samples, spec, run_source(root, config, FLAGS.data_path)


def run_source(root, config, data_path=None):
    """The run's data source, at `data_path` when it has moved; checked to be there, and a
    moved folder to hold the files the run recorded."""
    source = sources.parse(config["data"]["source"])
    if data_path is not None:
        if not data_path:
            raise cli.UserError("--data_path is empty; give the data's new place, or leave it out")
        source = source.moved_to(data_path)
    place = source.place()
    if place is not None and not os.path.exists(place):
        if data_path is not None:
            raise cli.UserError(f"--data_path={data_path}: no such file or folder")
        raise cli.UserError(f"the run's data {source} is not there; if it has moved, give its "
                            "new place with --data_path=PATH")
    source.check_before_start()
    if data_path is not None:
        workdir.check_same_files(root, source.identity(), f"--data_path={data_path}")
    return source


def _with_inception_weights(features, weights):
    """The features spec of --inception_weights: InceptionV3 with that file, whatever the run's
    training.eval_features, as long as --features asks for nothing else."""
    if not weights:
        raise cli.UserError("--inception_weights is empty; give the path of a local "
                            f"{config_check.INCEPTION_WEIGHTS}")
    if features not in (None, config_check.INCEPTION):
        raise cli.UserError(f"--inception_weights is for InceptionV3 features, but --features="
                            f"{features}; drop one of them")
    return f"{config_check.INCEPTION}:{weights}"


def score_run(root, config, num_samples, spec, source):
    """Every score of the chosen checkpoint of the run in `root`, as eval.json holds them;
    the real images are read from `source` (run_source)."""
    class_names = workdir.classes_of_run(root, config)
    from dcgan.quality import features  # TensorFlow loads here, after the cheap checks
    from dcgan.run import checkpoints

    data, seed = config.data, config.seed
    path, step = checkpoints.select(root, FLAGS.checkpoint, FLAGS.step)
    extractor = features.load_extractor(spec, data.image_size, data.channels)
    generator, key = checkpoints.restore_generator(config, path, use_ema=not FLAGS.no_ema,
                                                   num_classes=len(class_names or ()))
    log.info("scoring %s (%s, step %d) with %d samples; features: %s", path, key, step,
             num_samples, extractor.description)
    # Read once: the reference and the baseline images are two draws of one split.
    split = features.labelled_split(data, seed, bool(class_names),
                                    need_training=FLAGS.real_baseline, source=source)
    real, labels, kind = features.choose_reference(split, num_samples, seed, source)
    scorer = features.Scorer(extractor, real, num_samples, config.model.noise_dim, seed,
                             FLAGS.batch_size, show_progress=True, class_names=class_names,
                             real_labels=labels)
    scores, class_results = scorer.score_with_classes(generator)
    collapsed = per_class.collapse_warning(scores)
    if collapsed:
        log.warning("%s", collapsed)
    result = {"checkpoint": path, "step": step, "weights": key, "num_samples": num_samples,
              "num_real": scorer.num_real, "real_images": kind, "features": extractor.name,
              "metrics": scores, **class_results}
    if extractor.kind == features.CLASSIFIER:
        info = features.classifier_info(extractor.name)
        if "test_accuracy" in info:
            result["classifier_test_accuracy"] = info["test_accuracy"]
    if FLAGS.real_baseline:
        train, train_labels = features.choose_baseline(split, num_samples, seed, source)
        result["real_baseline"] = scorer.score_images(train, "real training images",
                                                      train_labels)
    compared = features.describe_reference(kind, scorer.num_real)
    print(f"{path} ({key}, step {step}): {num_samples} samples vs {compared}; "
          f"features: {extractor.description}")
    return result


def write_result(root, result):
    """WORKDIR/eval.json; a run folder that cannot be written keeps the printed scores only."""
    out = workdir.RunDir(root).eval_results
    try:
        files.write_json_atomically(out, result)
    except OSError as e:
        print(f"note: could not write {out} ({errors.reason(e)}); the scores above were not "
              "saved", file=sys.stderr)
        return
    print(f"wrote {out}")


def main(argv):
    del argv  # run_app has refused stray arguments
    config, num_samples, spec, source = _checked_flags()
    result = score_run(FLAGS.workdir, config, num_samples, spec, source)
    print(format_table(result["metrics"], result.get("real_baseline")))
    if "metrics_per_class" in result:
        print(format_class_table(result["metrics_per_class"]))
    accuracies = result.get("conditional_accuracy_per_class")
    if accuracies:
        print("conditional accuracy per class: " + ", ".join(
            f"{name} {accuracy:.3f}" for name, accuracy in accuracies.items()))
    write_result(FLAGS.workdir, result)
    return 0


# The console script's entry point; run_app exits with the command's status.
run = functools.partial(cli.run_app, main)

if __name__ == "__main__":
    run()
