"""scripts/benchmark.py --variant: a preset's step timed beside the same step with fields set."""

import json
import os

import pytest

from tests import helpers

BENCHMARK = os.path.join(helpers.ROOT, "scripts", "benchmark.py")


@pytest.mark.slow
def test_a_variant_is_timed_in_the_same_rounds_as_its_preset(tmp_path):
    out = tmp_path / "bench.json"
    result = helpers.run_script(BENCHMARK, "--preset=cifar10", "--batch_size=4",
                                "--precision=float32", "--variant=model.skip_excitation=True",
                                "--variant=model.gen_filters=8", "--rounds=1",
                                "--steps_per_round=2", f"--json={out}")
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["variant"] == ["model.skip_excitation=True", "model.gen_filters=8"]
    assert report["dcgan_images_per_sec"] > 0 and report["dcgan+variant_images_per_sec"] > 0
    assert report["variant_cost"] > 0 and "augment_cost" not in report
    assert "with model.skip_excitation=True, model.gen_filters=8:" in result.stdout


@pytest.mark.parametrize("variant, words", [
    ("model.no_such_field=1", ["--variant", "no field model.no_such_field"]),
    ("model.skip_excitation=maybe", ["--variant", "'maybe' is not true or false"]),
    ("model.gen_filters=0", ["--variant", "model.gen_filters=0 is not valid"]),
])
def test_a_bad_variant_is_one_line_before_anything_is_timed(variant, words):
    result = helpers.run_script(BENCHMARK, "--preset=folder64", f"--variant={variant}")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and all(word in lines[0] for word in words), lines
