"""scripts/keras_ada.py: the keras-io ADA example trained on a folder and scored as runs are."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from dcgan.quality import features
from tests import helpers

SCRIPT = os.path.join(helpers.ROOT, "scripts", "keras_ada.py")


@pytest.fixture(scope="module")
def script():
    return helpers.load_script(SCRIPT)


def test_the_networks_are_the_examples(script):
    generator, discriminator = script.build_generator(16), script.build_discriminator(16)
    noise = np.random.default_rng(0).standard_normal((2, 64)).astype(np.float32)
    pictures = generator(noise, training=False).numpy()
    assert pictures.shape == (2, 64, 64, 3) and 0 <= pictures.min() and pictures.max() <= 1
    assert discriminator(pictures, training=False).shape == (2, 1)
    # Four stride-2 steps each way, every one `width` wide; batch norm without a learnt scale.
    ups = [layer for layer in generator.layers if isinstance(layer, keras.layers.Conv2DTranspose)]
    downs = [layer for layer in discriminator.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [layer.filters for layer in ups] == [16, 16, 16, 3]
    assert [layer.filters for layer in downs] == [16] * 4
    norms = [layer for model in (generator, discriminator) for layer in model.layers
             if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == 8 and not any(norm.scale for norm in norms)


def test_p_follows_ds_accuracy_on_real_pictures_and_only_p_of_them_change(script):
    augmenter = script.AdaptiveAugmenter()
    pictures = tf.random.stateless_uniform([64, 64, 64, 3], seed=[0, 1])
    np.testing.assert_array_equal(augmenter(pictures).numpy(), pictures.numpy())  # p = 0
    augmenter.update(tf.ones([10, 1]))  # right about all: 1 - 0.8 per 1000 steps
    assert float(augmenter.p.numpy()) == pytest.approx(0.2 / 1000)
    augmenter.update(-tf.ones([10, 1]))  # wrong about all: back down, never below 0
    assert float(augmenter.p.numpy()) == 0.0
    augmenter.p.assign(0.5)
    changed = np.any(augmenter(pictures).numpy() != pictures.numpy(), axis=(1, 2, 3))
    assert 16 <= changed.sum() <= 48


def test_bad_flags_are_one_line_before_anything_is_written(tmp_path):
    helpers.write_folder(str(tmp_path / "data"), n=12, size=70)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "eval.json").write_text("{}")
    cases = [([], ["--source is required"]),
             ([f"--source=folder:{tmp_path}/data", f"--workdir={busy}"], ["not a new or empty"]),
             ([f"--source=folder:{tmp_path}/data", f"--workdir={tmp_path}/run", "--holdout=20"],
              ["--holdout=20"]),
             ([f"--source=folder:{tmp_path}/nowhere", f"--workdir={tmp_path}/run"],
              ["nowhere"])]
    for args, words in cases:
        result = helpers.run_script(SCRIPT, *args)
        helpers.assert_one_line_error(result, *words)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_two_steps_on_a_folder_write_a_score_against_the_runs_held_out_pictures(tmp_path):
    helpers.write_folder(str(tmp_path / "data"), n=24, size=70)
    run = tmp_path / "run"
    result = helpers.run_script(SCRIPT, f"--source=folder:{tmp_path}/data", f"--workdir={run}",
                                "--holdout=8", "--max_images=12", "--batch_size=4", "--width=8",
                                "--num_steps=2", "--log_every=1", "--num_samples=8", "--seed=3")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "12 training pictures, 8 held out" in result.stdout
    scored = json.loads((run / "eval.json").read_text())
    assert scored["step"] == 2 and scored["real_images"] == features.HOLDOUT
    assert scored["num_real"] == 8 and scored["features"] == "random"
    assert np.isfinite(scored["metrics"]["fid"]) and 0 <= scored["metrics"]["recall"] <= 1
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [1, 2]
    assert all(0 <= line["augment_p"] <= 1 and line["d_loss"] > 0 for line in lines)
    assert os.listdir(run / "samples") == ["step_000002.png"]
    generator = keras.models.load_model(run / "generator.keras")
    pictures = generator(np.zeros((2, 64), np.float32)).numpy()
    assert pictures.shape == (2, 64, 64, 3) and -1 <= pictures.min() and pictures.max() <= 1
