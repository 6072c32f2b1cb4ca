"""Two presets, the same wall-clock budget: which one makes better samples, and how soon?

1. Times the training step of preset A, preset B and (for a budget in tutorial epochs)
   configs/mnist_tutorial.py in this one process, in alternating rounds as
   scripts/benchmark.py does, so that a busy machine slows them alike.
2. Turns the budget into each preset's number of steps: budget seconds x its steps/s. The
   runs then train by steps, so they can run while the machine does other work (even side by
   side) and still get exactly the budget a quiet machine would give them. The rates are
   kept in the workdir: a preset timed there before keeps its rate (and its runs), and a new
   one gets its ratio to it, timed side by side, times that kept rate.
3. Trains each preset and seed through the real `dcgan.main` (a run already trained is
   resumed, so a finished one costs nothing), keeping --points checkpoints along the way,
   and scores every one of them with `dcgan.evaluate`.
4. Prints, per preset and seed, the FID at the end of the budget and the seconds until FID
   first reached --target_fid (default: preset A's mean FID at the end), and writes FID
   against seconds for both presets in one PNG, the final grids side by side and a JSON.
   Runs with held-out images (data.holdout) also get their held-out gap, D's mean output on
   trained images minus that on held-out ones, against seconds: the discriminator memorising.

    python scripts/time_to_quality.py --a=configs/mnist_tutorial.py \\
        --b=configs/fashion_mnist.py --source=idx:/usr/share/datasets/fashion-mnist \\
        --tutorial_epochs=5 --seeds=0,1 --features=runs/classifiers/fashion_mnist.keras \\
        --workdir=runs/time_to_quality

Seconds are step seconds: the time of the training steps themselves, measured side by side;
start-up, logging, checkpoints and sample grids are left out of both presets alike.
--a_override/--b_override pass FIELD=VALUE config fields to one preset only.
"""

import json
import math
import os
import statistics
import sys

from absl import flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # configs/ and dcgan/ when run from anywhere
from dcgan import cli, files  # noqa: E402
from dcgan.errors import UserError  # noqa: E402
from dcgan.measure import comparison  # noqa: E402
from dcgan.run.workdir import RunDir  # noqa: E402

FLAGS = flags.FLAGS
TUTORIAL = os.path.join(ROOT, "configs", "mnist_tutorial.py")
TUTORIAL_EPOCH_IMAGES = 60_000
# Fields each run gets from this script's flags: an override of one is refused.
SCRIPT_FIELDS = {"seed": "--seeds, --a_seeds", "training.num_steps": "--budget_seconds",
                 "training.num_grid_images": "--grid_images",
                 "training.checkpoint_every_steps": "--points",
                 "training.keep_checkpoints": "--points",
                 "training.sample_every_steps": "one grid, at the end of the budget",
                 "training.log_every_steps": "at each checkpoint, at most 100 steps apart"}


def define_flags():
    """The command line; only when run as a script, so tests can import the helpers."""
    flags.DEFINE_string("a", None, "Preset file of the reference, e.g. configs/mnist_tutorial.py.")
    flags.DEFINE_string("b", None, "Preset file compared with it, e.g. configs/fashion_mnist.py.")
    flags.DEFINE_string("a_label", None, "Name of preset A in the table (default: its file name).")
    flags.DEFINE_string("b_label", None, "Name of preset B in the table (default: its file name).")
    flags.DEFINE_multi_string("a_override", [], "FIELD=VALUE config override for preset A only.")
    flags.DEFINE_multi_string("b_override", [], "FIELD=VALUE config override for preset B only.")
    flags.DEFINE_string("source", "", "data.source for both presets (default: each preset's own).")
    flags.DEFINE_float("budget_seconds", None, "The budget in seconds of training steps.")
    flags.DEFINE_float("tutorial_epochs", 5, "Without --budget_seconds: the budget is the time "
                       "configs/mnist_tutorial.py takes for this many epochs of 60,000 images "
                       "on this machine.")
    flags.DEFINE_integer("points", 8, "Checkpoints scored per run, evenly spaced.")
    flags.DEFINE_float("target_fid", None, "FID whose first arrival is timed (default: preset "
                       "A's mean FID at the end of the budget).")
    flags.DEFINE_list("seeds", ["0"], "Seeds (config.seed) to train each preset with.")
    flags.DEFINE_list("a_seeds", None, "Seeds of preset A only (default: --seeds); the "
                      "reference's own spread may already be known.")
    flags.DEFINE_integer("num_samples", 10_000, "Generated images scored per checkpoint (and as "
                         "many held-out real images, if the test split has them).")
    flags.DEFINE_string("features", None, "Classifier from `python -m dcgan.classifier` (or "
                        "'random', 'inception', 'inception:PATH') whose features score the "
                        "samples.")
    flags.DEFINE_string("workdir", "runs/time_to_quality", "Folder of the runs and the results.")
    flags.DEFINE_integer("rounds", 5, "Alternating timed rounds per preset.")
    flags.DEFINE_integer("steps_per_round", 10, "Training steps per timed round.")
    flags.DEFINE_integer("grid_images", 64, "Images in each run's final sample grid.")


def measure_rates(configs, rounds, steps_per_round):
    """Training steps per second of each config, timed in alternating rounds in this process."""
    import numpy as np

    from dcgan.measure import step_timing

    rng = np.random.default_rng(0)
    contenders = {}
    for name, config in configs.items():
        size, channels = config.data.image_size, config.data.channels
        images = rng.integers(0, 256, size=(2048, size, size, channels), dtype=np.uint8)
        contenders[name], _ = step_timing.step_runner(
            config, images, config.training.batch_size, config.training.precision,
            config.training.jit_compile, config.training.steps_per_call)
    rates, _ = step_timing.time_alternating(contenders, rounds, steps_per_round)
    return rates


def timed_rates(configs):
    """measure_rates, kept in WORKDIR/steps_per_sec.json: a rerun continues the same runs with
    the same budget instead of timing again (delete the file to time again), and a rerun with
    a new preset times it against one timed before (merged_rates)."""
    path = os.path.join(FLAGS.workdir, "steps_per_sec.json")
    try:
        with open(path) as f:
            kept = json.load(f)
    except (OSError, ValueError):
        kept = {}
    if all(name in kept for name in configs):
        print(f"steps/s as timed before, from {path}", flush=True)
        return kept
    print(f"timing the training steps of {', '.join(configs)} side by side ...", flush=True)
    kept = merged_rates(kept, measure_rates(configs, FLAGS.rounds, FLAGS.steps_per_round))
    files.write_json_atomically(path, kept, sort_keys=False)
    return kept


def merged_rates(kept, measured):
    """The rates kept from before with the newly measured ones added.

    A preset timed before keeps its rate, so its finished runs keep their budget. A new one
    gets its ratio to the first of those measured beside it, times that one's kept rate: one
    reference, trained once, against a series of variants timed on different days.
    """
    merged = dict(kept)
    known = [name for name in measured if name in kept]
    scale = kept[known[0]] / measured[known[0]] if known else 1.0
    for name, rate in measured.items():
        merged.setdefault(name, rate * scale)
    return merged


def scored_checkpoints(run_dir, num_samples, features):
    """{step: evaluate's metrics} of every checkpoint of the run, scoring only new ones."""
    from dcgan.run import checkpoints

    cache_path = os.path.join(run_dir, "time_to_quality.json")
    try:
        with open(cache_path) as f:
            cache = json.load(f)
    except (OSError, ValueError):
        cache = {}
    key = f"{num_samples}:{features}"
    scores = cache.get(key, {})
    for path in checkpoints.candidates(RunDir(run_dir).checkpoints):
        step = checkpoints.step_of(path)
        if str(step) in scores:
            continue
        comparison.run(comparison.evaluate_command(run_dir, num_samples, features)
                            + [f"--step={step}"], "evaluation")
        scored = comparison.read_eval(run_dir)
        if scored is None or scored.get("step") != step:
            raise comparison.Failed(f"{run_dir}/eval.json does not score step {step}")
        scores[str(step)] = scored["metrics"]
        cache[key] = scores
        with open(cache_path, "w") as f:
            json.dump(cache, f, indent=2)
    return {int(step): metrics for step, metrics in scores.items()}


def seconds_to_reach(curve, target):
    """The first seconds at which FID was at or below `target`, or None."""
    for seconds, fid in curve:
        if fid <= target:
            return seconds
    return None


def _plot_runs(runs_by_label, marker, ylabel, out, decorate):
    """One line per preset and seed against seconds, a colour per preset (its first seed
    solid, the others paler), `decorate(axes)` adding the rest; saved as a PNG at `out`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    colours = ("tab:red", "tab:blue")
    for (label, runs), colour in zip(runs_by_label.items(), colours, strict=False):
        for i, (seed, points) in enumerate(runs.items()):
            seconds, values = zip(*points, strict=True)
            axes.plot(seconds, values, marker, color=colour, alpha=1.0 if i == 0 else 0.55,
                      label=f"{label}, seed {seed}")
    decorate(axes)
    axes.set_xlabel("seconds of training steps on this machine")
    axes.set_ylabel(ylabel)
    axes.legend(fontsize=8)
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    figure.savefig(out, dpi=110)
    plt.close(figure)


def plot(curves, target, budget, out):
    """FID against seconds, with the target FID and the budget marked."""
    import matplotlib.ticker

    def decorate(axes):
        axes.axhline(target, color="grey", linestyle="--", linewidth=1,
                     label=f"target FID {target:.1f}")
        axes.axvline(budget, color="black", linestyle=":", linewidth=1, label="budget")
        axes.set_yscale("log")
        axes.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        axes.yaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%g"))

    _plot_runs(curves, "o-", "FID (lower is better)", out, decorate)


def held_out_gaps(run_dir, rate):
    """[(seconds, d_trained - d_holdout)] of a run's log; [] when it held nothing out."""
    from dcgan.run import run_record

    return [(record["step"] / rate, record["d_trained"] - record["d_holdout"])
            for record in run_record.read_metrics(run_dir)
            if "d_holdout" in record and "d_trained" in record]


def plot_gaps(gaps, out):
    """The held-out gap of every run against seconds."""

    def decorate(axes):
        axes.axhline(0, color="grey", linestyle="--", linewidth=1)
        axes.set_title("Held-out gap: above 0, the discriminator knows the training images")

    _plot_runs(gaps, "-", "D(trained) - D(held out)", out, decorate)


def check_flags():
    problems, labels = comparison.flag_problems(FLAGS)
    if FLAGS.budget_seconds is not None and FLAGS.budget_seconds <= 0:
        problems.append("--budget_seconds must be a positive number of seconds")
    if FLAGS.budget_seconds is None and FLAGS.tutorial_epochs <= 0:
        problems.append("--tutorial_epochs must be positive")
    if FLAGS.points < 1:
        problems.append("--points must be at least 1")
    if FLAGS.a_seeds is not None:
        problems += comparison.seed_problems("a_seeds", FLAGS.a_seeds)
    if FLAGS.rounds < 1 or FLAGS.steps_per_round < 1:
        problems.append("--rounds and --steps_per_round must be at least 1")
    return problems, labels


def main(argv):
    del argv  # run_app has refused stray arguments
    problems, labels = check_flags()
    if problems:
        raise UserError(problems[0])
    presets = {labels[0]: (FLAGS.a, FLAGS.a_override), labels[1]: (FLAGS.b, FLAGS.b_override)}
    seeds = {labels[0]: [int(s) for s in FLAGS.a_seeds or FLAGS.seeds],
             labels[1]: [int(s) for s in FLAGS.seeds]}
    configs = comparison.checked_presets(presets, seeds, source=FLAGS.source,
                                         root=FLAGS.workdir, script_fields=SCRIPT_FIELDS)
    comparison.make_workdir(FLAGS.workdir)
    to_time = dict(configs)
    if FLAGS.budget_seconds is None:
        to_time["tutorial"] = comparison.load_preset(TUTORIAL, [])
        if os.path.abspath(FLAGS.a) == TUTORIAL and not FLAGS.a_override:
            del to_time["tutorial"]  # preset A is the tutorial: timed once, as A

    rates = timed_rates(to_time)
    if FLAGS.budget_seconds is None:
        tutorial_rate = rates.get("tutorial", rates[labels[0]])
        tutorial_steps = FLAGS.tutorial_epochs * TUTORIAL_EPOCH_IMAGES / 256
        budget = tutorial_steps / tutorial_rate
        budget_text = (f"the tutorial's {FLAGS.tutorial_epochs:g} epochs: "
                       f"{tutorial_steps:.0f} steps at {tutorial_rate:.2f} steps/s")
    else:
        budget = FLAGS.budget_seconds
        budget_text = "--budget_seconds"
    steps = {label: max(1, round(budget * rates[label])) for label in labels}
    print(f"budget {budget:.0f} s ({budget_text})")
    for label in labels:
        print(f"  {label}: {rates[label]:.2f} steps/s -> {steps[label]} steps of "
              f"{configs[label].training.batch_size}")

    results, curves = [], {label: {} for label in labels}
    gaps = {label: {} for label in labels}
    try:
        for label, (path, overrides) in presets.items():
            every = math.ceil(steps[label] / FLAGS.points)
            extra = [f"training.checkpoint_every_steps={every}",
                     f"training.keep_checkpoints={FLAGS.points + 1}",
                     f"training.sample_every_steps={steps[label]}",
                     f"training.log_every_steps={min(every, 100)}"]
            for seed in seeds[label]:
                run_dir = comparison.run_folder(FLAGS.workdir, label, seed)
                comparison.run(comparison.train_command(
                    path, run_dir, seed, steps[label], FLAGS.source, FLAGS.grid_images,
                    list(overrides) + extra), "training")
                scores = scored_checkpoints(run_dir, FLAGS.num_samples, FLAGS.features)
                if steps[label] not in scores:
                    raise comparison.Failed(f"{run_dir} has no checkpoint at the end of "
                                                 f"the budget, step {steps[label]}")
                curve = [(step / rates[label], scores[step]["fid"]) for step in sorted(scores)]
                curves[label][seed] = curve
                gap = held_out_gaps(run_dir, rates[label])
                if gap:
                    gaps[label][seed] = gap
                results.append({"preset": label, "seed": seed, "workdir": run_dir,
                                "steps": steps[label], "final": scores[steps[label]],
                                "curve": curve})
    except comparison.Failed as e:
        print(f"error: {e}", file=sys.stderr)
        return 1

    final_fid = {label: statistics.fmean(r["final"]["fid"] for r in results
                                         if r["preset"] == label) for label in labels}
    target = FLAGS.target_fid if FLAGS.target_fid is not None else final_fid[labels[0]]
    width = max(12, *(len(label) + 2 for label in labels))
    print(f"\nbudget {budget:.0f} s of training steps, {FLAGS.num_samples} samples per "
          f"checkpoint, features {FLAGS.features}; target FID {target:.1f}")
    header = f"{'preset':<{width}}{'seed':>6}{'steps':>8}{'FID at end':>12}{'s to target':>13}"
    print(header + "\n" + "-" * len(header))
    for r in results:
        r["seconds_to_target"] = seconds_to_reach(r["curve"], target)
        reached = r["seconds_to_target"]
        print(f"{r['preset']:<{width}}{r['seed']:>6}{r['steps']:>8}{r['final']['fid']:>12.1f}"
              f"{'-' if reached is None else f'{reached:.0f}':>13}")
    ratio = final_fid[labels[1]] / final_fid[labels[0]]
    print(f"mean FID at the end: {labels[0]} {final_fid[labels[0]]:.1f}, {labels[1]} "
          f"{final_fid[labels[1]]:.1f} ({labels[1]} / {labels[0]} = {ratio:.3f})")

    plot_out = os.path.join(FLAGS.workdir, "fid_vs_seconds.png")
    plot(curves, target, budget, plot_out)
    grid_out = os.path.join(FLAGS.workdir, "grids.png")
    grid_paths = [RunDir(comparison.run_folder(FLAGS.workdir, label, seeds[label][0]))
                  .sample_grid(steps[label]) for label in labels]
    comparison.side_by_side(grid_paths, [f"{label}: FID {final_fid[label]:.1f}"
                                              for label in labels], grid_out, 2)
    summary = {"budget_seconds": budget, "budget": budget_text, "steps_per_sec": rates,
               "steps": steps, "seeds": seeds, "num_samples": FLAGS.num_samples,
               "features": FLAGS.features, "source": FLAGS.source, "presets": labels,
               "target_fid": target, "mean_final_fid": final_fid,
               "ratio_b_over_a": ratio, "runs": results, "plot": plot_out, "grids": grid_out}
    written = [plot_out, grid_out]
    if any(gaps.values()):
        summary["gap_plot"] = os.path.join(FLAGS.workdir, "gap_vs_seconds.png")
        plot_gaps({label: runs for label, runs in gaps.items() if runs}, summary["gap_plot"])
        written.append(summary["gap_plot"])
    json_out = os.path.join(FLAGS.workdir, "time_to_quality.json")
    files.write_json_atomically(json_out, summary)
    print(f"wrote {json_out}, {', '.join(written)}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    define_flags()
    cli.run_app(main)
