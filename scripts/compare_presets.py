"""Two presets, the same training budget: which one makes better samples?

Trains preset A and preset B for the same number of steps on the same data, for each seed,
through the real `dcgan.main` (a run already trained is resumed, so a finished one costs
nothing), scores each with `dcgan.evaluate`, prints the metrics side by side with their mean
over seeds and the ratio B / A, writes them to JSON and puts the final sample grids of both
presets (first seed) side by side in one PNG.

    python scripts/compare_presets.py --a=configs/mnist_tutorial.py \\
        --b=configs/fashion_mnist.py --source=idx:/usr/share/datasets/fashion-mnist \\
        --steps=1171 --seeds=0,1 --num_samples=10000 \\
        --features=runs/classifiers/fashion_mnist.keras --workdir=runs/compare

Run folders are WORKDIR/LABEL/seedS, where LABEL is the preset's file name unless
--a_label/--b_label say otherwise; --a_override/--b_override pass extra config fields
(`--b_override=training.precision=mixed_bfloat16`) to one preset only.
"""

import os
import statistics
import sys

from absl import flags

from dcgan import cli, files
from dcgan.errors import UserError
from dcgan.measure import comparison
from dcgan.run import workdir

FLAGS = flags.FLAGS
# Fields each run gets from this script's flags: an override of one is refused.
SCRIPT_FIELDS = {"seed": "--seeds", "training.num_steps": "--steps",
                 "training.num_grid_images": "--grid_images"}


def define_flags():
    """The command line; only when run as a script, so tests can import the helpers."""
    flags.DEFINE_string("a", None, "Preset file of the reference, e.g. configs/mnist_tutorial.py.")
    flags.DEFINE_string("b", None, "Preset file compared with it, e.g. configs/fashion_mnist.py.")
    flags.DEFINE_string("a_label", None, "Name of preset A in the table (default: its file name).")
    flags.DEFINE_string("b_label", None, "Name of preset B in the table (default: its file name).")
    flags.DEFINE_multi_string("a_override", [], "FIELD=VALUE config override for preset A only.")
    flags.DEFINE_multi_string("b_override", [], "FIELD=VALUE config override for preset B only.")
    flags.DEFINE_string("source", "", "data.source for both presets (default: each preset's own).")
    flags.DEFINE_integer("steps", None, "Training steps of every run.")
    flags.DEFINE_list("seeds", ["0"], "Seeds (config.seed) to train each preset with.")
    flags.DEFINE_integer("num_samples", 10_000, "Generated images scored per run (and as many "
                         "held-out real images, if the test split has them).")
    flags.DEFINE_string("features", None, "Classifier from `python -m dcgan.classifier` (or "
                        "'random', 'inception', 'inception:PATH') whose features score the "
                        "samples.")
    flags.DEFINE_string("workdir", "runs/compare", "Folder of the runs and the results.")
    flags.DEFINE_integer("grid_images", 64, "Images in each run's sample grid.")
    flags.DEFINE_integer("grid_scale", 2, "Pixel repetition of the side-by-side grid picture.")
    flags.DEFINE_string("grid_out", None, "Side-by-side grids PNG (default WORKDIR/grids.png).")
    flags.DEFINE_string("json", None, "Results JSON (default WORKDIR/compare.json).")


# evaluate.json metric -> table heading; features without classes ("random") give no
# classifier score, so a table shows those of COLUMNS that every run has.
COLUMNS = {"fid": "FID", "kid": "KID", "classifier_score": "clf score",
           "precision": "precision", "recall": "recall"}


def columns_of(results):
    return [name for name in COLUMNS if all(name in r["metrics"] for r in results)]


def score_run(run_dir, steps, num_samples, features):
    """The run's eval.json, evaluating again unless it already scored this very checkpoint."""
    previous = comparison.read_eval(run_dir)
    if not (previous and previous.get("step") == steps
            and previous.get("num_samples") == num_samples
            and previous.get("features") == features):
        comparison.run(comparison.evaluate_command(run_dir, num_samples, features), "evaluation")
        previous = comparison.read_eval(run_dir)
    if previous is None or previous.get("step") != steps:
        raise comparison.Failed(f"{workdir.RunDir(run_dir).eval_results} does not score "
                                f"step {steps}")
    return previous


def summarize(results, labels):
    """Mean of each metric over seeds per preset, and B's mean over A's."""
    means, names = {}, columns_of(results)
    for label in labels:
        rows = [r["metrics"] for r in results if r["preset"] == label]
        means[label] = {name: statistics.fmean(row[name] for row in rows) for name in names}
    a, b = (means[label] for label in labels)
    ratio = {name: b[name] / a[name] if a[name] else float("nan") for name in names}
    return means, ratio


def format_table(results, means, ratio, labels):
    width = max(12, *(len(label) + 2 for label in labels))
    names = columns_of(results)
    header = f"{'preset':<{width}}{'seed':>6}" + "".join(f"{COLUMNS[k]:>12}" for k in names)
    lines = [header, "-" * len(header)]

    def row(name, seed, values):
        return f"{name:<{width}}{seed:>6}" + "".join(f"{values[k]:>12.4g}" for k in names)

    for r in results:
        lines.append(row(r["preset"], str(r["seed"]), r["metrics"]))
    for label in labels:
        lines.append(row(label, "mean", means[label]))
    lines.append(row(f"{labels[1]} / {labels[0]}", "", ratio))
    return "\n".join(lines)


def check_flags():
    problems, labels = comparison.flag_problems(FLAGS)
    if FLAGS.steps is None or FLAGS.steps < 1:
        problems.append("--steps must be a positive number of training steps")
    if FLAGS.grid_scale < 1:
        problems.append("--grid_scale must be at least 1")
    return problems, labels


def main(argv):
    del argv  # run_app has refused stray arguments
    problems, labels = check_flags()
    if problems:
        raise UserError(problems[0])
    seeds = [int(s) for s in FLAGS.seeds]
    presets = {labels[0]: (FLAGS.a, FLAGS.a_override), labels[1]: (FLAGS.b, FLAGS.b_override)}
    comparison.checked_presets(presets, {label: seeds for label in labels}, source=FLAGS.source,
                               root=FLAGS.workdir, script_fields=SCRIPT_FIELDS)
    comparison.make_workdir(FLAGS.workdir)
    results = []
    try:
        for label, (preset, overrides) in presets.items():
            for seed in seeds:
                run_dir = comparison.run_folder(FLAGS.workdir, label, seed)
                comparison.run(comparison.train_command(preset, run_dir, seed, FLAGS.steps,
                                                        FLAGS.source, FLAGS.grid_images,
                                                        overrides), "training")
                scored = score_run(run_dir, FLAGS.steps, FLAGS.num_samples, FLAGS.features)
                results.append({"preset": label, "config": preset, "overrides": overrides,
                                "seed": seed, "workdir": run_dir, "weights": scored["weights"],
                                "num_real": scored["num_real"],
                                "metrics": {k: v for k, v in scored["metrics"].items()
                                            if k in COLUMNS}})
    except comparison.Failed as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    means, ratio = summarize(results, labels)
    print(f"\n{FLAGS.steps} steps, {FLAGS.num_samples} samples per run, "
          f"features {FLAGS.features}")
    print(format_table(results, means, ratio, labels))
    from dcgan.measure import cost  # TensorFlow loads here, once the runs are done

    macs = {}
    for label in labels:
        first = next(r for r in results if r["preset"] == label)
        macs[label] = cost.step_macs(workdir.read_config(first["workdir"]))
    print(f"compute per training step and image: {labels[0]} {macs[labels[0]] / 1e6:.1f}M, "
          f"{labels[1]} {macs[labels[1]] / 1e6:.1f}M multiply-adds "
          f"({macs[labels[1]] / macs[labels[0]]:.2f}x)")

    grid_out = FLAGS.grid_out or os.path.join(FLAGS.workdir, "grids.png")
    grid_paths = [workdir.RunDir(comparison.run_folder(FLAGS.workdir, label, seeds[0]))
                  .sample_grid(FLAGS.steps) for label in labels]
    titles = [f"{label}: FID {means[label]['fid']:.1f}" for label in labels]
    comparison.side_by_side(grid_paths, titles, grid_out, FLAGS.grid_scale)
    json_out = FLAGS.json or os.path.join(FLAGS.workdir, "compare.json")
    summary = {"steps": FLAGS.steps, "seeds": seeds, "num_samples": FLAGS.num_samples,
               "features": FLAGS.features, "source": FLAGS.source, "presets": labels,
               "runs": results, "mean": means, "ratio_b_over_a": ratio, "step_macs": macs,
               "grids": grid_out}
    files.write_json_atomically(json_out, summary)
    print(f"wrote {json_out} and {grid_out}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    define_flags()
    cli.run_app(main)
