"""Features of a fixed random convolutional network: a yardstick for RGB pictures that needs
no download.

Random networks' embeddings already tell real images from degraded or less varied ones
(Naeem et al., 2020, "Reliable fidelity and diversity metrics for generative models"). One
deep layer alone is a poor yardstick, though: random filters respond to high frequencies
above all, and a 1-px blur moves a deep layer's features further than a collapse onto a few
pictures does. So every block of the network speaks, each summarised over the picture:

- four blocks of two 3x3 convolutions with ReLU (16, 32, 64, 128 channels), 2x2 average
  pooling between them, so the last block sees patches of about 50 px. Few channels on
  purpose: the Frechet distance of two finite sets has a bias that grows with the number of
  features, and with a few hundred pictures more features hid light noise under it;
- each block's mean over the picture (what is there, and how much), and for blocks 2-4 its
  standard deviation over the picture (how unevenly: texture and noise). The first block's
  spread is left out: it is pixel-level detail, which a 1-px blur wipes out, and it would
  rank a blur worse than a collapse;
- each of these vectors divided by the square root of its length, so that it weighs by its
  values' typical size and not by its number of channels: no depth dominates. The spreads
  count four times (sixteen in the squared distances), the weight that saw light noise best
  of those measured: they are what light noise changes most.

These choices were measured with scripts/validate_features.py (docs/measurements/features.md):
a collapse onto 8 pictures scores several times a 1-px blur on two icon sets, and light noise, blur
and heavy blur all above the real halves.

The weights are drawn from NumPy's PCG64 bit stream, whose raw output NumPy guarantees for a
seed across versions and machines, and turned into uniform numbers here, so the network and
its features are the same on every machine and in every run: scores made months apart, or
on two computers, compare.
"""

import hashlib

import numpy as np
import tensorflow as tf

SEED = 20200623
# Channels of each block's two 3x3 convolutions; 2x2 average pooling between blocks.
BLOCK_CHANNELS = (16, 32, 64, 128)
CONVS_PER_BLOCK = 2
KERNEL_SIZE = 3
# The blocks whose spread over the picture is a feature (0 is the full-resolution block).
SPREAD_BLOCKS = (1, 2, 3)
SPREAD_WEIGHT = 4.0
# Pictures are scored in RGB: grey ones are repeated into the three channels.
INPUT_CHANNELS = 3
DIMENSION = sum(BLOCK_CHANNELS) + sum(BLOCK_CHANNELS[b] for b in SPREAD_BLOCKS)
# The vectors are scaled so that a feature's typical value is about one, as for a CNN's pool
# features: the kernel distance's cubic kernel (x.y / dim + 1)^3 then is more than linear.
_GROUPS = len(BLOCK_CHANNELS) + len(SPREAD_BLOCKS)


def uniform_weights(seed, shape):
    """Numbers uniform in [-1, 1) from PCG64's raw 64-bit stream: the top 53 bits of each
    word, exactly as many as a float64 mantissa holds, so no rounding depends on the machine."""
    count = int(np.prod(shape))
    words = np.random.PCG64(seed).random_raw(count)
    unit = (words >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return (2.0 * unit - 1.0).reshape(shape)


def network_weights():
    """The convolution kernels in order, (3, 3, in, out) float32 each, He-scaled so that every
    layer's output has about the same spread as its input."""
    kernels, channels_in, stream = [], INPUT_CHANNELS, SEED
    for channels_out in BLOCK_CHANNELS:
        for _ in range(CONVS_PER_BLOCK):
            fan_in = KERNEL_SIZE * KERNEL_SIZE * channels_in
            # Uniform on [-b, b] has variance b^2 / 3: b = sqrt(6 / fan_in) gives He's 2 / fan_in.
            bound = np.sqrt(6.0 / fan_in)
            shape = (KERNEL_SIZE, KERNEL_SIZE, channels_in, channels_out)
            kernels.append((bound * uniform_weights(stream, shape)).astype(np.float32))
            channels_in, stream = channels_out, stream + 1
    return kernels


def weights_digest(kernels):
    """SHA-256 of the kernels' bytes: the network's identity."""
    digest = hashlib.sha256()
    for kernel in kernels:
        digest.update(np.ascontiguousarray(kernel, dtype="<f4").tobytes())
    return digest.hexdigest()


class RandomFeatures:
    """Callable: float32 images in [-1, 1], (N, H, W, 1 or 3) -> (N, DIMENSION).

    Any picture size works; each block halves it, so pictures of 16 px or more reach the last
    block with at least 2x2 pixels.
    """

    def __init__(self):
        kernels = network_weights()
        self.digest = weights_digest(kernels)
        self.kernels = [tf.constant(k) for k in kernels]

    def __call__(self, images, training=False):
        del training  # nothing trains, and there is no batch normalisation to switch
        x = tf.convert_to_tensor(images, tf.float32)
        if x.shape[-1] == 1:
            x = tf.repeat(x, INPUT_CHANNELS, axis=-1)
        groups = []
        for block in range(len(BLOCK_CHANNELS)):
            if block:
                x = tf.nn.avg_pool2d(x, 2, 2, "VALID")
            for kernel in self.kernels[block * CONVS_PER_BLOCK:(block + 1) * CONVS_PER_BLOCK]:
                x = tf.nn.relu(tf.nn.conv2d(x, kernel, 1, "SAME"))
            mean, variance = tf.nn.moments(x, axes=[1, 2])
            groups.append(mean)
            if block in SPREAD_BLOCKS:
                groups.append(SPREAD_WEIGHT * tf.sqrt(variance))
        return tf.concat([g * np.sqrt(DIMENSION / (_GROUPS * g.shape[-1])) for g in groups],
                         axis=-1)
