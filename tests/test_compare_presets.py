"""scripts/compare_presets.py and time_to_quality.py: two presets trained and scored alike,
for the same steps or the same seconds, side by side."""

import json
import os

import imageio.v3 as iio
import numpy as np
import pytest

from dcgan import classifier
from dcgan.run.workdir import RunDir
from tests import helpers

SCRIPT = os.path.join(helpers.ROOT, "scripts", "compare_presets.py")
TIME_SCRIPT = os.path.join(helpers.ROOT, "scripts", "time_to_quality.py")

TINY_PRESET = """
from configs import default


def get_config():
    config = default.get_config()
    config.model.noise_dim = 8
    config.model.gen_filters = 4
    config.model.disc_filters = 4
    config.model.kernel_size = {kernel_size}
    config.model.ema_decay = {ema_decay}
    config.training.batch_size = 8
    config.training.num_steps = 1000
    config.training.precision = "float32"
    return config
"""


def compare(*args, script=SCRIPT, timeout=300):
    return helpers.run_script(script, *args, timeout=timeout)


@pytest.fixture(scope="module")
def presets(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    paths = {}
    for name, kernel_size, ema_decay in (("plain", 3, 0.0), ("fancy", 4, 0.5)):
        paths[name] = root / f"{name}.py"
        paths[name].write_text(TINY_PRESET.format(kernel_size=kernel_size, ema_decay=ema_decay))
    # A small labelled data set with a test split: every process loads it in no time.
    images = helpers.random_digits(96)
    labels = np.arange(96) % 10
    np.savez(root / "data.npz", x_train=images[:64], y_train=labels[:64],
             x_test=images[64:], y_test=labels[64:])
    paths["source"] = f"npz:{root / 'data.npz'}"
    splits = [(images[:64], labels[:64]), (images[64:], labels[64:])]
    model, report = classifier.train_classifier(*splits, epochs=1, batch_size=32)
    paths["features"] = root / "clf.keras"
    classifier.save(model, report, str(paths["features"]))
    paths["root"] = root
    return paths


def test_trains_and_scores_both_presets_at_the_same_steps(presets, training):
    root = presets["root"]
    result = compare(f"--a={presets['plain']}", f"--b={presets['fancy']}",
                     f"--source={presets['source']}", "--steps=3", "--seeds=5",
                     "--num_samples=16", "--grid_images=4",
                     f"--features={presets['features']}", f"--workdir={root / 'cmp'}",
                     f"--grid_out={root / 'side.png'}")
    assert result.returncode == 0, result.stderr[-3000:]
    table = result.stdout.splitlines()
    assert any(line.split()[:2] == ["plain", "5"] for line in table), result.stdout
    assert any(line.split()[:2] == ["fancy", "mean"] for line in table), result.stdout
    assert any(line.startswith("fancy / plain") for line in table), result.stdout

    with open(root / "cmp" / "compare.json") as f:
        summary = json.load(f)
    assert summary["presets"] == ["plain", "fancy"] and summary["steps"] == 3
    runs = {r["preset"]: r for r in summary["runs"]}
    assert runs["plain"]["weights"] == "generator"
    assert runs["fancy"]["weights"] == "ema_generator"  # the EMA copy scores by default
    for label, run in runs.items():
        with open(RunDir(run["workdir"]).config) as f:
            config = json.load(f)
        assert (config["seed"], config["data"]["source"]) == (5, presets["source"])
        assert config["training"]["num_steps"] == 3, label
        assert run["metrics"]["fid"] > 0 and 0 <= run["metrics"]["recall"] <= 1
    assert summary["step_macs"]["fancy"] > summary["step_macs"]["plain"] > 0  # 4x4 vs 3x3
    assert summary["ratio_b_over_a"]["fid"] == pytest.approx(
        runs["fancy"]["metrics"]["fid"] / runs["plain"]["metrics"]["fid"])

    # Both final grids (2x2 tiles of 28 px, shown twice as large), next to each other.
    side = iio.imread(root / "side.png")
    one_grid = 2 * (2 * 28 + 2)
    assert side.shape[1] > 2 * one_grid and side.shape[0] > one_grid


def test_mean_over_seeds_and_ratio():
    script = helpers.load_script(SCRIPT)
    metrics = [dict(fid=fid, kid=1.0, classifier_score=2.0, precision=0.5, recall=0.25)
               for fid in (30.0, 50.0, 8.0, 12.0)]
    runs = [("a", 0), ("a", 1), ("b", 0), ("b", 1)]
    results = [{"preset": p, "seed": s, "metrics": m}
               for (p, s), m in zip(runs, metrics, strict=True)]
    means, ratio = script.summarize(results, ["a", "b"])
    assert means["a"]["fid"] == 40.0 and means["b"]["fid"] == 10.0
    assert ratio["fid"] == 0.25 and ratio["kid"] == 1.0
    table = script.format_table(results, means, ratio, ["a", "b"])
    assert "0.25" in table and "40" in table


def test_a_run_already_scored_is_not_scored_again(tmp_path):
    script = helpers.load_script(SCRIPT)
    scored = {"step": 7, "num_samples": 16, "features": "clf.keras", "weights": "generator",
              "metrics": {"fid": 1.5}}
    with open(RunDir(tmp_path).eval_results, "w") as f:
        json.dump(scored, f)
    # No config.json here: an evaluation attempt would fail.
    assert script.score_run(str(tmp_path), 7, 16, "clf.keras") == scored


def test_bad_flags_are_one_line_errors(tmp_path):
    result = compare("--a=configs/mnist_tutorial.py", "--b=configs/nope.py", "--steps=3",
                     "--features=x.keras")
    assert result.returncode == 2
    assert result.stderr.strip() == ("error: --b=configs/nope.py not found; "
                                     "the presets are in configs/")


def test_a_missing_feature_classifier_is_named_with_the_fix(tmp_path):
    result = compare("--a=configs/mnist_tutorial.py", "--b=configs/mnist.py", "--steps=3",
                     f"--features={tmp_path}/none.keras")
    helpers.assert_one_line_error(result, "none.keras not found", "python -m dcgan.classifier")


def test_same_seconds_each_preset_trains_its_own_steps_and_is_scored_along_the_way(presets,
                                                                                   training):
    """time_to_quality: the budget becomes each preset's steps by its timed rate; every kept
    checkpoint is scored; a rerun neither times, trains nor scores again."""
    root = presets["root"]
    args = [f"--a={presets['plain']}", f"--b={presets['fancy']}",
            f"--source={presets['source']}", "--budget_seconds=1", "--points=2", "--seeds=3",
            "--num_samples=16", "--grid_images=4", "--rounds=2", "--steps_per_round=2",
            f"--features={presets['features']}", f"--workdir={root / 'ttq'}",
            "--b_override=data.holdout=8"]
    # Seven processes (the script, two trainings, four scorings): a busy machine needs time.
    result = compare(*args, script=TIME_SCRIPT, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(root / "ttq" / "time_to_quality.json") as f:
        summary = json.load(f)
    assert summary["budget_seconds"] == 1
    for label in ("plain", "fancy"):
        rate, steps = summary["steps_per_sec"][label], summary["steps"][label]
        assert steps == max(1, round(rate)), label
        run = next(r for r in summary["runs"] if r["preset"] == label)
        with open(RunDir(run["workdir"]).config) as f:
            assert json.load(f)["training"]["num_steps"] == steps
        # Scored at every kept checkpoint, the last one at the end of the budget.
        seconds = [point[0] for point in run["curve"]]
        assert len(seconds) >= 2 and seconds == sorted(seconds)
        assert seconds[-1] == pytest.approx(steps / rate)
        assert run["final"]["fid"] > 0
    a_fids = [r["final"]["fid"] for r in summary["runs"] if r["preset"] == "plain"]
    assert summary["target_fid"] == pytest.approx(a_fids[0])  # A's own end: A reaches it
    plain = next(r for r in summary["runs"] if r["preset"] == "plain")
    plain_run = plain["workdir"]
    fancy_run = next(r for r in summary["runs"] if r["preset"] == "fancy")["workdir"]
    assert plain["seconds_to_target"] is not None
    assert plain["seconds_to_target"] <= plain["curve"][-1][0]
    assert iio.imread(root / "ttq" / "fid_vs_seconds.png").shape[1] > 400
    assert os.path.exists(root / "ttq" / "grids.png")
    # Only the preset that held images out has a held-out gap to draw.
    assert iio.imread(summary["gap_plot"]).shape[1] > 400
    logged = [line for line in open(RunDir(fancy_run).metrics)
              if "d_holdout" in line]
    assert logged and not any("d_holdout" in line for line in open(
        RunDir(plain_run).metrics))

    again = compare(*args, script=TIME_SCRIPT, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "steps/s as timed before" in again.stdout
    assert "dcgan.evaluate" not in again.stdout + again.stderr
    with open(root / "ttq" / "time_to_quality.json") as f:
        assert json.load(f)["runs"] == summary["runs"]


def test_a_new_preset_is_timed_against_one_timed_before():
    script = helpers.load_script(TIME_SCRIPT)
    # First run: both as measured. Later, on a machine twice as busy, a variant measured at
    # 0.9x the reference gets 0.9x the reference's kept rate; the kept rates do not move.
    assert script.merged_rates({}, {"ref": 10.0, "b": 8.0}) == {"ref": 10.0, "b": 8.0}
    assert script.merged_rates({"ref": 10.0, "b": 8.0}, {"ref": 5.0, "c": 4.5}) == {
        "ref": 10.0, "b": 8.0, "c": 9.0}


def test_time_to_quality_bad_budget_is_one_line(tmp_path):
    result = compare("--a=configs/mnist_tutorial.py", "--b=configs/fashion_mnist.py",
                     "--budget_seconds=-1", "--features=inception", script=TIME_SCRIPT)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --budget_seconds must be a positive number of seconds"


@pytest.mark.parametrize("flags, words", [
    (["--a_override=data.holdout"], ["data.holdout has no value", "FIELD=VALUE"]),
    (["--a_override=data.holdout=abc"], ["'abc' is not an int", "as data.holdout is"]),
    (["--a_override=data.holdout=2.7"], ["'2.7' is not an int"]),
    (["--a_override=model.conditional=ture"], ["'ture' is not true or false"]),
    (["--a_override=training=5"], ["training is a group of fields"]),
    (["--a_override=seed=5"], ["seed is set by this script", "--seeds"]),
    (["--b_override=training.num_steps=3"], ["training.num_steps is set by this script",
                                             "--budget_seconds"]),
    (["--seeds=²"], ["--seeds=² must be non-negative integers"]),
    (["--seeds=4294967296"], ["a seed must be below 2**32"]),
    (["--seeds=0,0"], ["names a seed twice"]),
    (["--a_label=.."], ["--a_label=.. names the runs' folder"]),
    (["--rounds=0"], ["--rounds and --steps_per_round must be at least 1"]),
    (["--grid_images=0"], ["--grid_images must be at least 1"]),
    (["--budget_seconds=one"], ["--budget_seconds", "see --help"]),
    (["stray"], ["unexpected arguments stray"]),
    (["--b_override=nope.holdout=3"], ["the config has no field nope.holdout"]),
])
def test_time_to_quality_bad_overrides_are_one_line(flags, words):
    result = compare("--a=configs/mnist_tutorial.py", "--b=configs/fashion_mnist.py",
                     "--budget_seconds=1", "--features=random", *flags, script=TIME_SCRIPT)
    assert result.returncode == 2
    helpers.assert_one_line_error(result, *words)


@pytest.mark.parametrize("text, words", [
    ("this is not python(", ["cannot load", "SyntaxError"]),
    ("x = 1\n", ["defines no get_config()"]),
    ("def get_config():\n    return None\n", ["get_config() returned a NoneType"]),
])
def test_a_file_that_is_no_preset_is_one_line(tmp_path, text, words):
    (tmp_path / "bad.py").write_text(text)
    (tmp_path / "notes.md").write_text("# notes")
    for path in (tmp_path / "bad.py", tmp_path / "notes.md"):
        result = compare(f"--a={path}", "--b=configs/mnist.py", "--steps=3",
                         "--features=random", f"--workdir={tmp_path / 'cmp'}")
        helpers.assert_one_line_error(result, *(words if path.suffix == ".py" else
                                                ["not a Python file"]))
    assert not (tmp_path / "cmp").exists()


def test_time_to_quality_without_a_preset_says_which():
    result = compare("--b=configs/fashion_mnist.py", "--budget_seconds=1", "--features=random",
                     script=TIME_SCRIPT)
    assert result.returncode == 2
    assert result.stderr.strip() == ("error: --a is required (a preset file, e.g. "
                                     "configs/mnist.py)")


def test_time_to_quality_refuses_a_hold_out_too_large_before_timing(tmp_path):
    helpers.write_folder(tmp_path / "pictures", n=40)
    result = compare("--a=configs/folder32.py", "--b=configs/folder32.py", "--a_label=x",
                     "--b_label=y", f"--source=folder:{tmp_path / 'pictures'}",
                     "--b_override=data.holdout=50", "--budget_seconds=1", "--features=random",
                     f"--workdir={tmp_path / 'ttq'}", script=TIME_SCRIPT)
    assert result.returncode == 2
    helpers.assert_one_line_error(result, "data.holdout=50 leaves no training images",
                                  "has 40 image file(s)", "--b_override=data.holdout=4")
    assert "timing" not in result.stdout and not (tmp_path / "ttq").exists()


TINY_FOLDER_PRESET = """
from configs import folder32


def get_config():
    config = folder32.get_config()
    config.model.gen_filters = config.model.disc_filters = 4
    config.training.batch_size = 8
    config.training.precision = "float32"
    # Nothing held out (so p follows the sign of D(x)): the refusals of other data differ.
    config.data.holdout = 0
    config.training.ada_gap_target, config.training.ada_target = 0.0, 0.8
    return config
"""


def test_a_run_begun_on_other_files_is_refused_with_a_fix_the_script_has(tmp_path, training):
    from dcgan.measure import comparison

    pictures, preset = tmp_path / "pictures", tmp_path / "tiny.py"
    helpers.write_folder(pictures, n=20)
    preset.write_text(TINY_FOLDER_PRESET)
    config = comparison.load_preset(str(preset), [f"data.source=folder:{pictures}",
                                                  "training.num_steps=2"])
    training.run(config, str(tmp_path / "cmp" / "x" / "seed0"))
    helpers.write_folder(pictures / "more", n=2)
    result = compare(f"--a={preset}", f"--b={preset}", "--a_label=x",
                     "--b_label=y", f"--source=folder:{pictures}", "--steps=2",
                     "--features=random", f"--workdir={tmp_path / 'cmp'}")
    assert result.returncode == 2
    helpers.assert_one_line_error(result, "other files of the folder", "2 added",
                                  "use a new --workdir")
    assert "--allow_new_data" not in result.stderr
    (pictures / "more" / "class0" / "img0.png").unlink()
    (pictures / "more" / "class1" / "img1.png").unlink()
    result = compare(f"--a={preset}", f"--b={preset}", "--a_label=x",
                     "--b_label=y", f"--source=folder:{pictures}", "--steps=2",
                     "--features=random", f"--workdir={tmp_path / 'cmp'}",
                     "--a_override=data.holdout=2")
    helpers.assert_one_line_error(result, "other data (data.holdout: 0 -> 2)",
                                  "use a new --workdir")


def test_a_workdir_that_is_a_file_and_a_missing_source_are_one_line(tmp_path):
    (tmp_path / "notes.txt").write_text("kept")
    helpers.write_folder(tmp_path / "pictures", n=40)
    for script, budget in ((SCRIPT, "--steps=2"), (TIME_SCRIPT, "--budget_seconds=1")):
        for workdir, words in ((tmp_path / "notes.txt", ["notes.txt is a file"]),
                               (tmp_path / "notes.txt" / "cmp", ["notes.txt is a file"])):
            result = compare("--a=configs/folder32.py", "--b=configs/folder64.py", budget,
                             f"--source=folder:{tmp_path / 'pictures'}", "--features=random",
                             f"--workdir={workdir}", script=script)
            assert result.returncode == 2
            helpers.assert_one_line_error(result, *words, "--workdir")
        result = compare("--a=configs/folder32.py", "--b=configs/folder64.py", budget,
                         f"--source=folder:{tmp_path / 'none'}", "--features=random",
                         f"--workdir={tmp_path / 'cmp'}", script=script)
        helpers.assert_one_line_error(result, f"--source=folder:{tmp_path / 'none'}",
                                      "no such directory")
        assert not (tmp_path / "cmp").exists()
    assert (tmp_path / "notes.txt").read_text() == "kept"
