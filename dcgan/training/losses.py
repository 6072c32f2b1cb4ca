"""GAN losses: binary cross-entropy on logits, one example at a time.

Every function returns float32 losses of shape (B,), one per example, so a distributed step
can scale them by the *global* batch with `tf.nn.compute_average_loss`. Logits may come in any
float dtype (bfloat16/float16 under mixed precision); they are cast to float32 first. Logits of
shape (B,), (B, 1) or (B, ...) are accepted; an example's loss is the mean over its logits.

The story these numbers tell, in nats. For a target probability q and the discriminator's
probability p = sigmoid(logit), binary cross-entropy splits exactly into

    BCE(q, p) = H(q) + KL(q || p)

H(q) is what no discriminator can remove (zero for hard labels), and KL(q || p) is how far the
discriminator's belief is from the target. With one-sided label smoothing s the real term can
never go below H(1 - s), so the discriminator's loss has that floor. When the discriminator
cannot tell real from fake it outputs p = 1/2 everywhere and every term is ln 2, whatever the
targets: the discriminator's loss (a real and a fake term) is then 2 ln 2 ~ 1.386 and the
generator's ln 2 ~ 0.693 (dcgan.equilibrium, the equilibrium of Goodfellow et al., 2014).
"""

import keras
import tensorflow as tf

# reduction="none" keeps one value per example: Keras averages the last axis only, so (B, K)
# logits give (B,) losses. Keras computes it with tf.nn.sigmoid_cross_entropy_with_logits,
# max(x, 0) - x q + log(1 + exp(-|x|)), which stays finite for any logit.
_BCE = keras.losses.BinaryCrossentropy(from_logits=True, reduction="none")


def _flatten(x):
    """(B, ...) float32 -> (B, K): Keras' mean over the last axis is then the per-example mean."""
    x = tf.cast(x, tf.float32)
    if x.shape.rank == 0:
        raise ValueError("logits need a batch axis: shape (B,), (B, 1) or (B, ...)")
    return tf.reshape(x, [tf.shape(x)[0], -1])


def _targets_like(targets, logits):
    """Targets broadcast to the logits' shape and flattened the same way."""
    logits = tf.convert_to_tensor(logits)
    targets = tf.broadcast_to(tf.cast(targets, tf.float32), tf.shape(logits))
    return _flatten(targets)


def _per_example_bce(targets, logits):
    return _BCE(_targets_like(targets, logits), _flatten(logits))


def discriminator_loss(real_logits, fake_logits, label_smoothing=0.0):
    """Per-example discriminator loss: BCE(1 - s, real) + BCE(0, fake), shape (B,).

    The smoothing is one-sided (Salimans et al., 2016): only the real targets move to 1 - s.
    Keras' own `label_smoothing` argument would also lift the fake targets to s / 2, which
    rewards the discriminator for calling fakes partly real and so props up the generator's
    mistakes.

    Args:
        real_logits: discriminator logits on real images, (B,) or (B, 1), any float dtype.
        fake_logits: logits on generated images, same batch size as `real_logits`.
        label_smoothing: s in [0, 0.5) (config_check.MAX_LABEL_SMOOTHING); 0: hard targets.

    Returns:
        float32 (B,).
    """
    real = _per_example_bce(1.0 - label_smoothing, real_logits)
    fake = _per_example_bce(0.0, fake_logits)
    return real + fake


def generator_loss(fake_logits):
    """Per-example non-saturating generator loss: BCE(1, fake) = -log D(G(z)), shape (B,).

    Goodfellow et al.'s minimax form log(1 - D(G(z))) has a vanishing gradient exactly when
    the generator is losing (D(G(z)) near 0); maximizing log D(G(z)) instead keeps it strong.
    """
    return _per_example_bce(1.0, fake_logits)


def pair_distance(images, noise):
    """How far apart the generator draws the images of noise pairs (2i, 2i + 1), per unit of
    noise distance: mean |G(z1) - G(z2)| / mean |z1 - z2| (Mao et al., 2019), float32 scalar.

    Near 0 when different noises draw the same picture (a collapse); an odd last image is left
    out.
    """
    pairs = tf.shape(images)[0] // 2 * 2
    images = tf.cast(images[:pairs], tf.float32)
    noise = tf.cast(noise[:pairs], tf.float32)
    image_gap = tf.reduce_mean(tf.abs(images[0::2] - images[1::2]))
    return image_gap / tf.reduce_mean(tf.abs(noise[0::2] - noise[1::2]))


def mode_seeking_penalty(distance, epsilon=1e-5):
    """The generator's mode-seeking term 1 / (pair_distance + epsilon): large when noises
    collapse onto one image, small once they spread (Mao et al., 2019)."""
    return 1.0 / (distance + epsilon)


def binary_entropy(q):
    """Entropy of a Bernoulli(q) in nats, elementwise, float32; H(0) = H(1) = 0."""
    q = tf.cast(q, tf.float32)
    # xlogy(0, 0) is 0, which is the limit of q log q at 0: hard labels have zero entropy.
    return -(tf.math.xlogy(q, q) + tf.math.xlogy(1.0 - q, 1.0 - q))


def cross_entropy_decomposition(targets, logits):
    """Split the per-example BCE into the targets' entropy and a KL divergence.

    BCE(q, sigmoid(x)) = H(q) + KL(q || sigmoid(x)), averaged over each example's logits as the
    loss is. KL is computed as BCE - H(q): the BCE comes from the logits through Keras' stable
    formula (no sigmoid that rounds to 0 or 1, no log of 0), and H(q) is bounded by ln 2, so
    the difference is accurate to float32 rounding of the BCE. Rounding can leave it a hair
    below zero when p == q; it is clipped at 0, so the identity holds to ~1e-7 nats.

    Args:
        targets: target probabilities q, a scalar or broadcastable to `logits`.
        logits: (B,) or (B, ...) logits, any float dtype.

    Returns:
        (entropy, kl), each float32 (B,).
    """
    bce = _per_example_bce(targets, logits)
    entropy = tf.reduce_mean(binary_entropy(_targets_like(targets, logits)), axis=-1)
    kl = tf.maximum(bce - entropy, 0.0)
    return entropy, kl


def discriminator_decomposition(real_logits, fake_logits, label_smoothing=0.0):
    """`discriminator_loss` split as (entropy, kl), each float32 (B,), summed over both terms.

    entropy + kl equals `discriminator_loss(real_logits, fake_logits, label_smoothing)`.
    The entropy is H(1 - s) (the fake targets are hard): the floor of the discriminator's loss.
    """
    real_entropy, real_kl = cross_entropy_decomposition(1.0 - label_smoothing, real_logits)
    fake_entropy, fake_kl = cross_entropy_decomposition(0.0, fake_logits)
    return real_entropy + fake_entropy, real_kl + fake_kl


def r1_penalty(discriminate, real_images):
    """Per-example R1 penalty (Mescheder et al., 2018): ||grad_x D(x)||^2 on real images, (B,).

    It keeps the discriminator flat on the data, so it cannot push the generator with steep,
    changing slopes where the real images are; the loss itself stays binary cross-entropy.
    `discriminate` maps images to logits. Differentiable in D's weights (a gradient of a
    gradient), so it can be added to the discriminator's loss.
    """
    real_images = tf.convert_to_tensor(real_images)
    with tf.GradientTape() as tape:
        tape.watch(real_images)
        # Each logit depends on its own image (up to the minibatch deviation), so the gradient
        # of the sum holds every example's own gradient.
        total = tf.reduce_sum(tf.cast(discriminate(real_images), tf.float32))
    grads = tf.cast(tape.gradient(total, real_images), tf.float32)
    return tf.reduce_sum(tf.square(_flatten(grads)), axis=-1)
