"""The fixed random network's features ("random"): the same everywhere, any picture size,
and a ranking of damaged pictures that puts a collapse well above a blur."""

import json
import os

import numpy as np
import pytest

from dcgan.quality import features, random_features
from dcgan.run.workdir import RunDir
from tests import helpers

VALIDATE = os.path.join(helpers.ROOT, "scripts", "validate_features.py")
# The network's identity: if this changes, scores made before no longer compare with new ones,
# so a change must be deliberate (and said in the README).
WEIGHTS_SHA256 = "908202eb28ad6e36510933d955b6f114718098304098d53338a32e4e242f7432"


def shapes(n, size=32, seed=0):
    """`n` RGB pictures drawn like icons: one to three discs, boxes and triangles, each shaded
    from one colour to another and outlined in a dark line, on a pale ground."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    images = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        picture = np.broadcast_to(rng.integers(200, 256, 3), (size, size, 3)).astype(float)
        for _ in range(rng.integers(1, 4)):
            cx, cy = rng.uniform(0.25, 0.75, 2)
            r = rng.uniform(0.12, 0.3)
            kind = rng.integers(3)
            if kind == 0:
                distance = np.sqrt((x - cx) ** 2 + (y - cy) ** 2) - r
            elif kind == 1:
                distance = np.maximum(np.abs(x - cx), np.abs(y - cy)) - r
            else:
                distance = np.maximum(y - cy - r, 2 * np.abs(x - cx) - (y - cy) - r)
            top, bottom = rng.integers(0, 256, (2, 3))
            shade = (y - cy + r)[..., None] / (2 * r)
            fill = top + np.clip(shade, 0, 1) * (bottom - top)
            picture = np.where((distance < 0)[..., None], fill, picture)
            picture[np.abs(distance) < 1.0 / size] = 40  # the outline
        images[i] = np.clip(np.rint(picture), 0, 255)
    return images


def test_the_weights_are_the_recorded_ones():
    kernels = random_features.network_weights()
    assert [k.shape for k in kernels] == [
        (3, 3, 3, 16), (3, 3, 16, 16), (3, 3, 16, 32), (3, 3, 32, 32),
        (3, 3, 32, 64), (3, 3, 64, 64), (3, 3, 64, 128), (3, 3, 128, 128)]
    assert random_features.weights_digest(kernels) == WEIGHTS_SHA256
    # He's scale: the spread of each kernel is sqrt(2 / fan_in), within a few percent.
    for kernel in kernels:
        fan_in = np.prod(kernel.shape[:3])
        assert kernel.std() == pytest.approx(np.sqrt(2 / fan_in), rel=0.05)


def test_the_raw_stream_gives_uniform_numbers():
    draws = random_features.uniform_weights(1, (100_000,))
    assert draws.min() >= -1 and draws.max() < 1
    assert abs(draws.mean()) < 0.01 and draws.var() == pytest.approx(1 / 3, rel=0.02)
    assert np.array_equal(draws, random_features.uniform_weights(1, (100_000,)))
    assert not np.array_equal(draws, random_features.uniform_weights(2, (100_000,)))


@pytest.mark.parametrize("size", [28, 32, 64, 128])
@pytest.mark.parametrize("channels", [1, 3])
def test_any_supported_size_and_channels(size, channels):
    extractor = features.load_extractor(features.RANDOM, size, channels)
    images = shapes(3, size)
    if channels == 1:
        images = images[..., :1]
    feats, logits = extractor(images.astype(np.float32) / 127.5 - 1)
    assert logits is None
    assert feats.shape == (3, random_features.DIMENSION) == (3, 16 + 32 + 64 + 128 + 224)
    assert np.all(np.isfinite(feats)) and feats.std() > 0.1  # of the size of pool features
    assert np.all(feats >= 0)  # means and spreads of ReLU outputs


def test_grey_pictures_score_as_their_rgb_copies():
    extractor = features.load_extractor(features.RANDOM, 32, 1)
    grey = shapes(4)[..., :1].astype(np.float32) / 127.5 - 1
    one, _ = extractor(grey)
    three, _ = extractor(np.repeat(grey, 3, axis=-1))
    np.testing.assert_allclose(one, three, atol=1e-6)


def test_two_loads_give_the_same_features():
    images = shapes(4).astype(np.float32) / 127.5 - 1
    a, _ = features.load_extractor(features.RANDOM, 32, 3)(images)
    b, _ = features.load_extractor(features.RANDOM, 32, 3)(images)
    np.testing.assert_array_equal(a, b)


def test_a_collapse_ranks_far_worse_than_a_blur_and_the_real_halves_lowest():
    script = helpers.load_script(VALIDATE)
    images = shapes(240, size=64)
    reference, scored = images[:120], images[120:]
    extractor = features.load_extractor(features.RANDOM, 64, 3)
    scorer = features.Scorer(extractor, reference, len(scored), noise_dim=1, seed=0)
    rng = np.random.default_rng(0)
    results = {name: scorer.score_images(script.degraded(scored, name, rng))
               for name in script.DEGRADATIONS}
    assert "classifier_score" not in results["real"]  # no classes, no classifier score
    assert script.broken_rules(results, "fid") == []
    assert script.broken_rules(results, "kid") == []
    # Recall sees the collapse for what it is: 8 pictures cover little of the other half.
    assert results["collapse"]["recall"] < 0.5 * results["real"]["recall"]


def test_a_run_on_pictures_is_scored_with_random_features_in_training_and_after(tmp_path,
                                                                                 training):
    helpers.write_folder(str(tmp_path / "pictures"), n=24)
    config = helpers.tiny_config(f"folder:{tmp_path / 'pictures'}", num_steps=2,
                                 eval_every_steps=2, eval_num_samples=8,
                                 eval_features=features.RANDOM)
    config.data.image_size, config.data.channels, config.data.holdout = 32, 3, 8
    workdir = str(tmp_path / "run")
    training.run(config, workdir)
    scored = [record for record in helpers.read_records(workdir) if "fid" in record]
    assert len(scored) == 1 and scored[0]["step"] == 2
    assert {"fid", "kid", "precision", "recall"} <= set(scored[0])
    assert "classifier_score" not in scored[0]
    assert os.path.exists(os.path.join(RunDir(workdir).best_checkpoint, "best.json"))

    result = helpers.run_cli("dcgan.evaluate", f"--workdir={workdir}", "--real_baseline")
    assert result.returncode == 0, result.stderr
    assert "fixed random network" in result.stdout
    with open(RunDir(workdir).eval_results) as f:
        report = json.load(f)
    assert report["features"] == "random"
    assert report["metrics"]["fid"] == pytest.approx(scored[0]["fid"], rel=1e-4)
    assert "classifier_score" not in report["metrics"] | report["real_baseline"]
