"""model.skip_excitation: FastGAN's gates from low- to high-resolution maps in the generator."""

import keras
import numpy as np
import pytest

from configs import default
from dcgan import config_check, models
from dcgan.errors import UserError
from dcgan.run import workdir
from tests import helpers


def gates(generator):
    return [layer for layer in generator.layers if isinstance(layer, keras.layers.Multiply)]


@pytest.mark.parametrize("size, expected", [(32, [16]), (64, [16, 32]), (128, [16, 32, 64])])
def test_each_map_of_16_px_or_more_is_gated_by_one_a_quarter_its_side(size, expected):
    generator = models.build_generator(size, 3, 8, 4, 3, skip_excitation=True)
    assert [gate.output.shape[1] for gate in gates(generator)] == expected
    for gate in gates(generator):
        big, weights = gate.input
        assert weights.shape[1:3] == (1, 1) and weights.shape[-1] == big.shape[-1]
    plain = models.build_generator(size, 3, 8, 4, 3)
    assert not gates(plain)
    noise = np.random.default_rng(0).standard_normal((2, 8)).astype(np.float32)
    images = generator(noise, training=False).numpy()
    assert images.shape == (2, size, size, 3) and np.abs(images).max() <= 1


def test_the_gates_change_what_the_generator_draws():
    generator = models.build_generator(32, 3, 8, 4, 3, skip_excitation=True)
    noise = np.random.default_rng(1).standard_normal((2, 8)).astype(np.float32)
    before = generator(noise, training=False).numpy()
    (gate,) = gates(generator)
    sigmoid_conv = gate.input[1]._keras_history.operation
    # A gate shut to near 0 blanks the 16x16 features: the picture loses their detail.
    sigmoid_conv.kernel.assign(np.full(sigmoid_conv.kernel.shape, -1e3, np.float32))
    after = generator(noise, training=False).numpy()
    assert not np.allclose(before, after)


@pytest.mark.parametrize("class_norm", [False, True])
def test_conditional_generators_take_the_gates_too(class_norm):
    generator = models.build_generator(32, 3, 8, 4, 3, num_classes=3, class_norm=class_norm,
                                       skip_excitation=True)
    assert len(gates(generator)) == 1
    out = generator([np.zeros((2, 8), np.float32), np.array([0, 2], np.int32)], training=False)
    assert out.shape == (2, 32, 32, 3)


def test_a_generator_with_gates_saves_and_loads_as_it_draws(tmp_path):
    config = default.get_config()
    config.data.image_size, config.data.channels = 32, 3
    config.model.gen_filters, config.model.noise_dim, config.model.skip_excitation = 4, 8, True
    generator = models.generator_from_config(config)
    path = str(tmp_path / "g.keras")
    generator.save(path)
    noise = np.random.default_rng(2).standard_normal((3, 8)).astype(np.float32)
    np.testing.assert_array_equal(keras.models.load_model(path)(noise).numpy(),
                                  generator(noise).numpy())


def test_28_px_networks_refuse_it_and_dry_run_shows_it():
    config = default.get_config()
    config.model.skip_excitation = True
    with pytest.raises(UserError, match="model.skip_excitation=True .* data.image_size=32"):
        config_check.check_config(config)
    result = helpers.run_cli("dcgan.main", "--config=configs/folder64.py", "--dry_run",
                             "--config.data.source=synthetic:digits",
                             "--config.model.skip_excitation=True")
    assert result.returncode == 0, result.stderr
    assert "skip_excitation: true" in result.stdout


def test_switching_it_at_a_resume_is_another_model(tmp_path):
    before = default.get_config()
    after = default.get_config()
    after.model.skip_excitation = True
    with pytest.raises(UserError, match="different model .*model.skip_excitation"):
        workdir.check_change(str(tmp_path), before, after.to_dict(), allow_new_data=True)


@pytest.mark.slow
def test_a_run_with_gates_resumes_exactly_and_its_checkpoint_samples(tmp_path):
    from dcgan.run import checkpoints

    def config(steps):
        c = helpers.tiny_config(num_steps=steps, checkpoint_every_steps=3)
        c.data.image_size, c.model.skip_excitation, c.model.ema_decay = 32, True, 0.9
        return c

    straight, stopped = str(tmp_path / "straight"), str(tmp_path / "stopped")
    helpers.train_in_new_process((config(6), straight), (config(3), stopped),
                                 (config(6), stopped))
    a, b = helpers.training_state(straight), helpers.training_state(stopped)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    saved = workdir.read_trained_config(stopped)
    path, step = checkpoints.select(stopped, "latest", None)
    generator, _ = checkpoints.restore_generator(saved, path, use_ema=True)
    assert step == 6 and len(gates(generator)) == 1
    assert generator(np.zeros((1, 8), np.float32)).shape == (1, 32, 32, 1)
