"""Precision policies: what `auto` picks, float16 loss scaling, bfloat16 and XLA runs."""

import numpy as np
import pytest
import tensorflow as tf

from dcgan.training import precision
from dcgan.training import step as training_step
from dcgan.training.state import TrainingState
from tests import helpers


@pytest.mark.parametrize("gpus, cpu_bf16, expected", [
    ([], False, "float32"),
    ([], True, "mixed_bfloat16"),  # AVX512-BF16 / AMX CPUs
    ([(8, 0)], False, "mixed_bfloat16"),  # A100
    ([(9, 0), (8, 6)], False, "mixed_bfloat16"),
    ([(7, 0)], True, "mixed_float16"),  # V100: float16 tensor cores only
    ([(8, 0), (7, 5)], False, "mixed_float16"),  # the oldest GPU decides
    ([(6, 1)], True, "float32"),  # no tensor cores
])
def test_auto_picks_the_fastest_safe_policy(gpus, cpu_bf16, expected):
    assert precision.choose_policy(gpus, cpu_bf16) == expected


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    with_bf16 = tmp_path / "a"
    with_bf16.write_text("flags\t\t: fpu avx512f avx512_bf16 fma\n")
    plain = tmp_path / "b"
    plain.write_text("flags\t\t: fpu avx2 fma\n")
    assert precision.cpu_supports_bfloat16(str(with_bf16))
    assert not precision.cpu_supports_bfloat16(str(plain))
    assert not precision.cpu_supports_bfloat16(str(tmp_path / "missing"))


def one_step(config, policy):
    gan = TrainingState(config, policy)
    dataset = training_step.make_input(helpers.random_digits(16), 8, config.model.noise_dim, 0, 0)
    config.training.batch_size = 8
    settings = training_step.StepSettings.from_training(config.training)
    step = training_step.make_train_fn(gan, tf.distribute.get_strategy(), settings, 1)
    return gan, step, iter(dataset)


def test_float16_overflow_skips_the_step_and_lowers_each_scale():
    """Dynamic loss scaling: an overflowing scale halves, and no weight takes an Inf step."""
    config = helpers.tiny_config()
    gan, step, batches = one_step(config, "mixed_float16")
    for optimizer in (gan.g_optimizer, gan.d_optimizer):
        assert isinstance(optimizer, tf.keras.optimizers.LossScaleOptimizer)
        optimizer.dynamic_scale.assign(2.0**40)  # far beyond float16's 65504: must overflow
    before = [w.numpy() for w in gan.generator.trainable_weights]
    metrics = step(batches)
    assert np.isfinite(float(metrics["g_loss"])) and np.isfinite(float(metrics["d_loss"]))
    for optimizer in (gan.g_optimizer, gan.d_optimizer):
        assert float(optimizer.dynamic_scale) < 2.0**40
    for old, new in zip(before, gan.generator.trainable_weights, strict=True):
        np.testing.assert_array_equal(old, new.numpy())
    # With a sane scale the next steps update the weights again.
    for optimizer in (gan.g_optimizer, gan.d_optimizer):
        optimizer.dynamic_scale.assign(2.0**10)
    step(batches)
    assert any(not np.array_equal(o, n.numpy())
               for o, n in zip(before, gan.generator.trainable_weights, strict=True))


@pytest.mark.parametrize("policy, jit", [("mixed_bfloat16", False), ("float32", True)])
def test_reduced_precision_and_xla_train(tmp_path, policy, jit, training):
    config = helpers.tiny_config(precision=policy, jit_compile=jit)
    record = training.run(config, str(tmp_path))
    assert all(np.isfinite(v) for v in record.values())
    gan = TrainingState(config, policy)
    assert all(v.dtype == tf.float32 for v in gan.generator.trainable_variables)
    assert gan.discriminator(tf.zeros([2, 28, 28, 1])).dtype == tf.float32
