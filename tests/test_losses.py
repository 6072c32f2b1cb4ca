"""GAN losses against closed forms computed independently in float64 numpy."""

import math

import numpy as np
import pytest
import tensorflow as tf

from dcgan import equilibrium
from dcgan.training import losses

# Includes logits where sigmoid rounds to exactly 0 or 1 in float32 and exp overflows, so
# log(sigmoid(x)) or log(1 - sigmoid(x)) computed naively would be -inf.
LOGITS = np.array([-1e4, -200.0, -30.0, -3.0, -0.5, 0.0, 0.25, 2.0, 40.0, 200.0, 1e4])


def log_sigmoid(x):
    """log(sigmoid(x)) = -log(1 + exp(-x)), exact for any x in float64."""
    return -np.logaddexp(0.0, -np.asarray(x, np.float64))


def bce(q, x):
    """-[q log sigmoid(x) + (1 - q) log(1 - sigmoid(x))], using 1 - sigmoid(x) = sigmoid(-x)."""
    return -(q * log_sigmoid(x) + (1.0 - q) * log_sigmoid(-x))


def entropy(q):
    q = np.asarray(q, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = -(q * np.log(q) + (1 - q) * np.log(1 - q))
    return np.where((q == 0) | (q == 1), 0.0, terms)


def kl(q, x):
    """KL(q || p) for p = sigmoid(x), from log p and log(1 - p) so large |x| stays finite."""
    q = np.asarray(q, np.float64)
    log_p, log_not_p = log_sigmoid(x), log_sigmoid(-np.asarray(x, np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(q > 0, q * (np.log(q) - log_p), 0.0)
        b = np.where(q < 1, (1 - q) * (np.log(1 - q) - log_not_p), 0.0)
    return a + b


def column(values, dtype=tf.float32):
    return tf.constant(np.asarray(values)[:, None], dtype)


def test_equilibrium_constants():
    assert equilibrium.D_LOSS == pytest.approx(2 * math.log(2), rel=1e-15)
    assert equilibrium.G_LOSS == pytest.approx(math.log(2), rel=1e-15)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_losses_at_logit_zero_are_the_equilibrium_values(label_smoothing):
    zeros = tf.zeros((5, 1))
    d_loss = losses.discriminator_loss(zeros, zeros, label_smoothing).numpy()
    np.testing.assert_allclose(d_loss, equilibrium.D_LOSS, rtol=1e-6)
    np.testing.assert_allclose(losses.generator_loss(zeros).numpy(), equilibrium.G_LOSS)


def test_generator_loss_matches_closed_form_even_for_huge_logits():
    got = losses.generator_loss(column(LOGITS)).numpy()
    assert got.shape == (len(LOGITS),) and got.dtype == np.float32
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, bce(1.0, LOGITS), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1, 0.3])
def test_discriminator_loss_matches_closed_form(label_smoothing):
    real, fake = LOGITS, LOGITS[::-1] * 0.5
    got = losses.discriminator_loss(column(real), column(fake), label_smoothing).numpy()
    expected = bce(1.0 - label_smoothing, real) + bce(0.0, fake)
    assert got.shape == (len(LOGITS),) and np.all(np.isfinite(got))
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-5)


def test_label_smoothing_changes_only_the_real_term():
    real = column([3.0, -2.0, 0.5])
    smoothed_minus_hard = [
        losses.discriminator_loss(real, column(fake), 0.1)
        - losses.discriminator_loss(real, column(fake), 0.0)
        for fake in ([-8.0, 0.0, 4.0], [100.0, -100.0, 1.0])
    ]
    # The difference depends on the real logits alone: the fake targets stay at exactly 0.
    np.testing.assert_allclose(
        smoothed_minus_hard[0].numpy(), smoothed_minus_hard[1].numpy(), atol=1e-5
    )
    expected = bce(0.9, real.numpy()[:, 0]) - bce(1.0, real.numpy()[:, 0])
    np.testing.assert_allclose(smoothed_minus_hard[0].numpy(), expected, atol=1e-5)
    # A discriminator sure that a fake is fake pays nothing, smoothing or not (Keras'
    # two-sided smoothing would charge it 0.05 * 50 here).
    confident = losses.discriminator_loss(column([50.0]), column([-50.0]), 0.1).numpy()
    np.testing.assert_allclose(confident, bce(0.9, 50.0), rtol=1e-6)


def test_per_example_shapes_and_dtypes():
    logits = np.array([-1.0, 0.0, 2.5, 7.0], np.float32)
    flat = losses.generator_loss(tf.constant(logits))
    col = losses.generator_loss(column(logits))
    half = losses.generator_loss(column(logits, tf.bfloat16))
    assert flat.shape == col.shape == half.shape == (4,)
    assert flat.dtype == col.dtype == half.dtype == tf.float32
    np.testing.assert_array_equal(flat.numpy(), col.numpy())
    # bfloat16 represents these logits exactly, so the result is the float32 one.
    np.testing.assert_array_equal(half.numpy(), col.numpy())
    d = losses.discriminator_loss(column(logits, tf.float16), column(logits, tf.bfloat16), 0.1)
    assert d.shape == (4,) and d.dtype == tf.float32


def test_losses_work_in_a_tf_function_and_average_over_a_global_batch():
    @tf.function
    def step(real, fake):
        per_example = losses.discriminator_loss(real, fake, 0.1)
        return tf.nn.compute_average_loss(per_example, global_batch_size=8)

    real, fake = column([1.0, 2.0, -1.0, 0.0]), column([-1.0, 0.0, 3.0, -2.0])
    expected = np.sum(bce(0.9, real.numpy()) + bce(0.0, fake.numpy())) / 8
    np.testing.assert_allclose(step(real, fake).numpy(), expected, rtol=1e-6)


def test_binary_entropy():
    q = np.array([0.0, 1e-6, 0.1, 0.5, 0.75, 1.0])
    got = losses.binary_entropy(tf.constant(q, tf.float32)).numpy()
    np.testing.assert_allclose(got, entropy(q), rtol=1e-5, atol=1e-7)
    assert got[0] == 0.0 and got[-1] == 0.0
    assert got[3] == pytest.approx(math.log(2), rel=1e-6)


@pytest.mark.parametrize("q", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_cross_entropy_is_entropy_plus_kl(q):
    logits = np.concatenate([LOGITS[2:-2], np.linspace(-6, 6, 13)])
    got_h, got_kl = losses.cross_entropy_decomposition(q, column(logits))
    got_h, got_kl = got_h.numpy(), got_kl.numpy()
    # The identity on distributions, independently of the code under test.
    np.testing.assert_allclose(bce(q, logits), entropy(q) + kl(q, logits), rtol=1e-9, atol=1e-12)

    np.testing.assert_allclose(got_h, entropy(q), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(got_kl, kl(q, logits), rtol=1e-5, atol=2e-6)
    np.testing.assert_allclose(got_h + got_kl, bce(q, logits), rtol=1e-6, atol=1e-6)
    assert np.all(got_kl >= 0.0)
    if q in (0.0, 1.0):
        assert np.all(got_h == 0.0)  # hard labels: the loss is all KL


def test_kl_vanishes_when_prediction_equals_target():
    q = np.array([0.05, 0.3, 0.5, 0.8, 0.97], np.float32)
    logits = np.log(q / (1 - q))
    got_h, got_kl = losses.cross_entropy_decomposition(tf.constant(q), tf.constant(logits))
    np.testing.assert_allclose(got_kl.numpy(), 0.0, atol=1e-6)
    assert np.all(got_kl.numpy() >= 0.0)
    np.testing.assert_allclose(got_h.numpy(), entropy(q), rtol=1e-5)


def test_discriminator_decomposition_sums_to_the_loss():
    real, fake = column(LOGITS), column(LOGITS[::-1])
    got_h, got_kl = losses.discriminator_decomposition(real, fake, 0.2)
    loss = losses.discriminator_loss(real, fake, 0.2).numpy()
    # The entropy is the floor H(0.8) no discriminator can go below.
    np.testing.assert_allclose(got_h.numpy(), entropy(0.8), rtol=1e-6)
    np.testing.assert_allclose(got_h.numpy() + got_kl.numpy(), loss, rtol=1e-6, atol=1e-6)
    assert np.all(loss >= entropy(0.8) - 1e-6)


def test_r1_penalty_is_the_squared_input_gradient_and_trains_the_discriminator():
    """For a linear D(x) = w . x, grad_x D = w for every image, so R1 = ||w||^2 each; and the
    penalty has a gradient in w (2 w), which is what lets it flatten the discriminator."""
    w = tf.Variable(tf.reshape(tf.range(1.0, 5.0), [2, 2, 1]))
    images = tf.random.stateless_normal([3, 2, 2, 1], seed=[0, 1])

    def discriminate(x):
        return tf.reduce_sum(x * w, axis=[1, 2, 3])

    with tf.GradientTape() as tape:
        penalty = losses.r1_penalty(discriminate, images)
        total = tf.reduce_sum(penalty)
    np.testing.assert_allclose(penalty.numpy(), [30.0] * 3, rtol=1e-6)
    np.testing.assert_allclose(tape.gradient(total, w).numpy(), 3 * 2 * w.numpy(), rtol=1e-6)


def test_pair_distance_sees_a_collapse_and_mode_seeking_pushes_the_pair_apart():
    noise = tf.random.stateless_normal([8, 16], seed=[0, 1])
    varied = tf.random.stateless_uniform([8, 4, 4, 1], seed=[0, 2], minval=-1, maxval=1)
    collapsed = tf.tile(varied[:1], [8, 1, 1, 1])
    assert float(losses.pair_distance(collapsed, noise)) == 0.0
    # Images 2i and 2i + 1 are compared: mean |difference| over mean |noise difference|.
    expected = np.abs(varied.numpy()[0::2] - varied.numpy()[1::2]).mean() / \
        np.abs(noise.numpy()[0::2] - noise.numpy()[1::2]).mean()
    np.testing.assert_allclose(float(losses.pair_distance(varied, noise)), expected, rtol=1e-5)
    # An odd last image has no partner and is left out.
    np.testing.assert_allclose(float(losses.pair_distance(varied[:7], noise[:7])),
                               float(losses.pair_distance(varied[:6], noise[:6])), rtol=1e-6)
    # The penalty is large for a near collapse, and its gradient moves a pair apart.
    images = tf.Variable(collapsed + tf.random.stateless_normal([8, 4, 4, 1], [0, 3]) * 1e-3)
    before = float(losses.pair_distance(images, noise))
    with tf.GradientTape() as tape:
        penalty = losses.mode_seeking_penalty(losses.pair_distance(images, noise))
    assert float(penalty) > 100
    images.assign_sub(1e-4 * tape.gradient(penalty, images))
    assert float(losses.pair_distance(images, noise)) > 2 * before
