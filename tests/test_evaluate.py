"""Sample quality in training (metrics, best checkpoint) and on demand (dcgan.evaluate)."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from dcgan import config_check
from dcgan.data import input_pipeline
from dcgan.errors import UserError
from dcgan.quality import features
from dcgan.run.workdir import RunDir
from tests import helpers, unwritable

QUALITY = {"fid", "kid", "kid_stderr", "classifier_score", "precision", "recall"}
CLASS_MEANS = {"class_precision", "class_recall", "class_fid", "class_spread"}


@pytest.fixture(scope="module")
def scored_data(tmp_path_factory):
    """Labelled IDX files and a classifier trained on them: {"data": folder, "clf": path}."""
    data, clf = helpers.idx_with_classifier(str(tmp_path_factory.mktemp("eval")))
    return {"data": data, "clf": clf}


@pytest.fixture(scope="module")
def run(scored_data, training):
    """A 4-step run scored every 2 steps by a classifier trained on the same data."""
    workdir = training.finished(helpers.tiny_eval_config(scored_data["data"], scored_data["clf"]))
    return {**scored_data, "workdir": workdir}


def tensorboard_tags(workdir):
    tags = set()
    for name in os.listdir(RunDir(workdir).tensorboard):
        for event in tf.compat.v1.train.summary_iterator(
                os.path.join(RunDir(workdir).tensorboard, name)):
            tags |= {value.tag for value in event.summary.value}
    return tags


def read_best(workdir):
    with open(os.path.join(RunDir(workdir).best_checkpoint, "best.json")) as f:
        return json.load(f)


def test_training_logs_quality_and_keeps_the_best_checkpoint(run):
    records = helpers.read_records(run["workdir"])
    assert [r["step"] for r in records] == [2, 4]
    for record in records:
        assert QUALITY <= set(record) and "g_loss" in record
        assert record["fid"] >= 0 and 1.0 <= record["classifier_score"] <= 10.0
        assert 0.0 <= record["precision"] <= 1.0 and 0.0 <= record["recall"] <= 1.0
    best = read_best(run["workdir"])
    lowest = min(records, key=lambda r: r["fid"])
    assert best == {"step": lowest["step"], "fid": lowest["fid"]}
    kept = tf.train.latest_checkpoint(RunDir(run["workdir"]).best_checkpoint)
    assert kept.endswith(f"ckpt-{best['step']}")
    assert {"quality/fid", "quality/recall"} <= tensorboard_tags(run["workdir"])


def test_a_resumed_run_keeps_an_earlier_better_best(run, tmp_path, training):
    workdir = helpers.copy_run(run["workdir"], tmp_path / "run")
    best_dir = RunDir(workdir).best_checkpoint
    earlier = {"step": read_best(workdir)["step"], "fid": 1e-9}  # no later score beats it
    with open(os.path.join(best_dir, "best.json"), "w") as f:
        json.dump(earlier, f)
    training.run(helpers.tiny_eval_config(run["data"], run["clf"], num_steps=6), workdir)
    assert [r["step"] for r in helpers.read_records(workdir)] == [2, 4, 6]
    assert read_best(workdir) == earlier
    assert tf.train.latest_checkpoint(best_dir).endswith(f"ckpt-{earlier['step']}")


def test_evaluate_scores_the_best_checkpoint_like_training_did(run):
    result = helpers.run_cli("dcgan.evaluate", f"--workdir={run['workdir']}",
                             "--checkpoint=best", "--real_baseline")
    assert result.returncode == 0, result.stderr
    assert "real baseline" in result.stdout and "classifier_score" in result.stdout
    with open(RunDir(run["workdir"]).eval_results) as f:
        report = json.load(f)
    best = read_best(run["workdir"])
    assert report["step"] == best["step"] and report["num_samples"] == 16
    assert set(report["metrics"]) == QUALITY == set(report["real_baseline"])
    assert "classifier_test_accuracy" in report
    # Same latents, same held-out images, same features: the score training recorded.
    assert report["metrics"]["fid"] == pytest.approx(best["fid"], rel=1e-4)
    # Real images look more like real images than a 4-step generator's samples do.
    assert report["real_baseline"]["fid"] < report["metrics"]["fid"]


def test_evaluate_of_a_read_only_run_prints_every_score(run, tmp_path):
    workdir = helpers.copy_run(run["workdir"], tmp_path / "run")
    before = helpers.files_under(workdir)
    with unwritable.read_only(workdir):
        result = helpers.run_cli("dcgan.evaluate", f"--workdir={workdir}")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    printed = {line.split()[0] for line in result.stdout.splitlines() if line.strip()}
    assert QUALITY <= printed, result.stdout
    notes = [line for line in result.stderr.splitlines() if "could not write" in line]
    eval_json = os.path.basename(RunDir(workdir).eval_results)
    assert len(notes) == 1 and eval_json in notes[0], result.stderr
    assert helpers.files_under(workdir) == before


def test_training_without_features_is_refused_before_training(scored_data, tmp_path):
    from dcgan.training import train

    for spec, words in (("", "eval_features"), (str(tmp_path / "no.keras"), "not found")):
        with pytest.raises(UserError, match=words):
            train.train_and_evaluate(helpers.tiny_eval_config(scored_data["data"], spec),
                                     str(tmp_path))
        assert not os.listdir(tmp_path)  # refused before the run folder is written


@pytest.mark.parametrize("args, words", [
    (["--features={tmp}/missing.keras"], ["missing.keras", "not found", "dcgan.classifier"]),
    (["--features={tmp}/junk.keras"], ["junk.keras", "not a readable Keras model file"]),
    (["--step=3"], ["no checkpoint of step 3", "2, 4"]),
    (["--features=inception"], ["InceptionV3", "inception_v3_weights"]),
    (["--num_samples=0"], ["--num_samples=0 is too few", "at least"]),
    (["--inception_weights={tmp}/junk.h5"], ["junk.h5 have MD5", "copy that file whole",
                                             config_check.INCEPTION_WEIGHTS_MD5]),
    (["--inception_weights={tmp}/junk.h5", "--features=random"],
     ["--inception_weights is for InceptionV3", "--features=random"]),
    (["--features=inception:"], ["name no weights file", "inception:PATH"]),
])
def test_evaluate_errors_are_one_line(run, tmp_path, monkeypatch, args, words):
    # No network: the inception weights are neither cached nor downloadable.
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    (tmp_path / "junk.keras").write_text("not a model")
    (tmp_path / "junk.h5").write_text("not InceptionV3's weights")
    args = [a.format(tmp=tmp_path) for a in args]
    result = helpers.run_cli("dcgan.evaluate", f"--workdir={run['workdir']}", *args)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert all(word in errors[0] for word in words), errors[0]


def scorable_classes(data, num_samples, seed):
    """{class: real images} of the classes the per-class metrics can score: the labels of the
    real images the samples are compared with, and samples cycling through the 10 classes."""
    _, labels, _ = features.reference_images(data, num_samples, seed, with_labels=True)
    real = np.bincount(labels, minlength=10)
    generated = np.bincount(features.sample_labels(num_samples, 10), minlength=10)
    return {str(k): int(real[k]) for k in range(10) if min(real[k], generated[k]) >= 2}


def test_conditional_run_scores_the_class_asked_for_and_each_class(run, tmp_path, training):
    config = helpers.tiny_eval_config(run["data"], run["clf"], num_steps=2)
    config.model.conditional = True
    workdir = str(tmp_path / "cond")
    training.run(config, workdir)
    record = helpers.read_records(workdir)[-1]
    assert QUALITY <= set(record) and 0.0 <= record["conditional_accuracy"] <= 1.0
    assert scorable_classes(config.data, 16, config.seed)  # else there is no class mean
    assert CLASS_MEANS <= set(record) and 0.0 <= record["class_recall"] <= 1.0
    assert "quality/class_recall" in tensorboard_tags(workdir)

    result = helpers.run_cli("dcgan.evaluate", f"--workdir={workdir}", "--num_samples=20")
    assert result.returncode == 0, result.stderr
    assert "conditional accuracy per class: 0 " in result.stdout
    with open(RunDir(workdir).eval_results) as f:
        scores = json.load(f)
    per_class = scores["conditional_accuracy_per_class"]
    assert list(per_class) == [str(k) for k in range(10)]  # IDX labels: named by number
    # 20 samples, two of each class: the overall accuracy is the mean of the classes'.
    assert scores["metrics"]["conditional_accuracy"] == pytest.approx(
        sum(per_class.values()) / 10)

    # Each class against the real images of that class among the 20 the mixed set is compared
    # with (the test split has 2 or 3 of each class; a class left with 1 is not scored).
    expected = scorable_classes(config.data, 20, config.seed)
    classes = scores["metrics_per_class"]
    assert {name: c["num_real"] for name, c in classes.items()} == expected
    for c in classes.values():
        assert c["num_generated"] == 2 and c["k"] == 1
        assert 0.0 <= c["recall"] <= 1.0 and c["fid"] >= 0.0 and c["spread"] >= 0.0
    for metric in ("precision", "recall", "fid", "spread"):
        assert scores["metrics"][f"class_{metric}"] == pytest.approx(
            np.mean([c[metric] for c in classes.values()]))
    lines = result.stdout.splitlines()
    assert CLASS_MEANS <= {line.split()[0] for line in lines if line.strip()}
    header = next(i for i, line in enumerate(lines) if line.split()[:3] == [
        "class", "precision", "recall"])
    rows = lines[header + 2:header + 2 + len(classes)]
    assert [row.split()[0] for row in rows] == list(classes)
    assert [float(row.split()[2]) for row in rows] == pytest.approx(
        [c["recall"] for c in classes.values()], abs=5e-4)
    skipped = [line for line in result.stderr.splitlines() if "no per-class metrics" in line]
    assert len(skipped) == (len(expected) < 10), result.stderr
    if skipped:
        assert f"{10 - len(expected)} of 10 classes" in skipped[0]


@pytest.fixture(scope="module")
def folder_run(run, tmp_path_factory, training):
    """A 2-step run on a folder of pictures (no test split) that holds 8 of its 24 out."""
    root = tmp_path_factory.mktemp("folder")
    helpers.write_folder(str(root / "pictures"), n=24)
    config = helpers.tiny_config(f"folder:{root / 'pictures'}", num_steps=2,
                                 eval_num_samples=8, eval_features=run["clf"])
    config.data.holdout = 8
    workdir = str(root / "run")
    training.run(config, workdir)
    return {"workdir": workdir, "config": config}


def test_a_folder_run_is_scored_against_the_images_it_held_out(folder_run):
    data, seed = folder_run["config"].data, folder_run["config"].seed
    images = input_pipeline.load_images(data.source, data.image_size, data.channels)
    _, _, held_out, _ = input_pipeline.select_images(images, seed, 0, data.holdout)
    compared, labels, kind = features.reference_images(data, 100, seed)
    np.testing.assert_array_equal(compared, held_out)
    assert labels is None

    result = helpers.run_cli("dcgan.evaluate", f"--workdir={folder_run['workdir']}")
    assert result.returncode == 0, result.stderr
    assert "8 samples vs 8 held-out images (data.holdout" in result.stdout
    with open(RunDir(folder_run["workdir"]).eval_results) as f:
        report = json.load(f)
    assert report["real_images"] == kind == features.HOLDOUT and report["num_real"] == 8


def test_a_folder_run_without_holdout_says_it_scores_training_images(folder_run, tmp_path):
    workdir = helpers.copy_run(folder_run["workdir"], tmp_path / "run")
    config_file = RunDir(workdir).config
    with open(config_file) as f:
        recorded = json.load(f)
    recorded["data"]["holdout"] = 0  # as if it had been trained on every picture
    with open(config_file, "w") as f:
        json.dump(recorded, f)
    result = helpers.run_cli("dcgan.evaluate", f"--workdir={workdir}")
    assert result.returncode == 0, result.stderr
    assert "8 samples vs 8 training images" in result.stdout
    assert "held-out" not in result.stdout
    with open(RunDir(workdir).eval_results) as f:
        assert json.load(f)["real_images"] == features.TRAINING
