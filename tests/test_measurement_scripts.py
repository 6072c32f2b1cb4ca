"""scripts/validate_features.py (does an extractor rank degraded images right?) and
scripts/benchmark.py's augmentation timing for presets the tutorial cannot race."""

import json
import os

import numpy as np
import pytest

from tests import helpers

VALIDATE = os.path.join(helpers.ROOT, "scripts", "validate_features.py")
BENCHMARK = os.path.join(helpers.ROOT, "scripts", "benchmark.py")


def total_variation(images):
    x = images.astype(np.float64)
    return np.abs(np.diff(x, axis=1)).sum() + np.abs(np.diff(x, axis=2)).sum()


def test_degradations_do_what_their_names_say():
    script = helpers.load_script(VALIDATE)
    images = helpers.random_digits(40, size=32, channels=3)
    rng = np.random.default_rng(0)
    assert script.degraded(images, "real", rng) is images
    noisy = script.degraded(images, "light noise", rng)
    assert noisy.dtype == np.uint8 and noisy.shape == images.shape
    assert 0 < np.abs(noisy.astype(int) - images).mean() < 10
    blur = script.degraded(images, "blur", rng)
    heavy = script.degraded(images, "heavy blur", rng)
    assert blur.shape == heavy.shape == images.shape and heavy.dtype == np.uint8
    assert total_variation(heavy) < total_variation(blur) < 0.5 * total_variation(images)
    collapse = script.degraded(images, "collapse", rng)
    assert collapse.shape == images.shape
    assert len(np.unique(collapse.reshape(len(collapse), -1), axis=0)) == script.COLLAPSE_IMAGES


@pytest.mark.slow
def test_validate_features_scores_every_degradation_and_exits_by_the_ranking(tmp_path):
    data, clf = helpers.idx_with_classifier(str(tmp_path))
    out = tmp_path / "ranking.json"
    result = helpers.run_script(VALIDATE, f"--source=idx:{data}", "--image_size=28",
                                "--channels=1", f"--features={clf}", f"--json={out}")
    assert "Traceback" not in result.stderr
    report = json.loads(out.read_text())
    assert report["images_per_half"] == 24
    assert list(report["scores"]) == ["real", "light noise", "blur", "heavy blur", "collapse"]
    for name, scores in report["scores"].items():
        assert set(scores) == {"fid", "kid", "precision", "recall"}
        assert np.isfinite(scores["fid"]) and name in result.stdout
    right = report["ranks_right"]["fid"]
    assert right == (report["broken_rules"]["fid"] == [])
    assert result.returncode == (0 if right else 1), result.stderr
    assert ("FID does NOT rank them right" in result.stdout) != right


def test_the_rules_are_real_lowest_and_collapse_twice_the_blur():
    script = helpers.load_script(VALIDATE)

    def scores(*fids):
        return {name: {"fid": fid} for name, fid in zip(script.DEGRADATIONS, fids, strict=True)}

    # Light noise above the blur is no fault: the rule is about the real half and the collapse.
    assert script.broken_rules(scores(1, 5, 3, 9, 6), "fid") == []
    assert script.broken_rules(scores(1, 2, 3, 9, 5.9), "fid") == [
        "collapse (5.9) is not 2x the blur (3)"]
    broken = script.broken_rules(scores(2, 1.5, 3, 9, 8), "fid")
    assert broken == ["light noise (1.5) does not score above the real half (2)"]


def test_validate_features_without_a_source_is_one_line():
    result = helpers.run_script(VALIDATE)
    helpers.assert_one_line_error(result, "--source")


@pytest.mark.slow
def test_benchmark_times_augmentation_of_an_rgb_preset_without_the_tutorial(tmp_path):
    out = tmp_path / "bench.json"
    result = helpers.run_script(BENCHMARK, "--preset=cifar10", "--batch_size=4",
                                "--precision=float32", "--augment=translation,color,cutout",
                                "--rounds=1", "--steps_per_round=2", f"--json={out}")
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert (report["image_size"], report["channels"]) == (32, 3)
    assert "tutorial_images_per_sec" not in report and "speedup" not in report
    assert report["dcgan_images_per_sec"] > 0 and report["dcgan+augment_images_per_sec"] > 0
    assert report["augment_cost"] > 0
    assert "with augment=translation,color,cutout (p=1)" in result.stdout


def test_benchmark_of_an_rgb_preset_without_augment_names_the_fix():
    result = helpers.run_script(BENCHMARK, "--preset=folder128")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--augment" in lines[0] and "128x128x3" in lines[0], lines


def test_step_runner_leaves_the_callers_config_alone():
    from dcgan.measure import step_timing

    config = helpers.tiny_config(precision="float32", jit_compile=False, batch_size=8)
    before = config.to_dict()
    _, policy = step_timing.step_runner(config, helpers.random_digits(32), 4, "float32",
                                        False, 2)
    assert policy == "float32"
    assert config.to_dict() == before  # the batch of 4 went to a copy
