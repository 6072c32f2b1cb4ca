"""Features of a fixed random convolutional network: a yardstick for RGB pictures that needs
no download.

Random networks' embeddings already tell real images from degraded or less varied ones
(Naeem et al., 2020, "Reliable fidelity and diversity metrics for generative models"). One
deep layer alone is a poor yardstick, though: random filters respond to high frequencies
above all, and a 1-px blur moves a deep layer's features further than a collapse onto a few
pictures does. So each block of the network gives its output's mean over the picture, and
each block's vector is scaled to unit length per image: shallow blocks (colour, edges) and
deep ones (larger patterns) weigh alike, and an overall change of contrast in one block does
not outweigh every other block.

The weights are drawn from NumPy's PCG64 bit stream, whose raw output NumPy guarantees for a
seed across versions and machines, and turned into uniform numbers here, so the network and
its features are the same on every machine and in every run: scores made months apart, or
on two computers, compare.
"""

import hashlib

import numpy as np
import tensorflow as tf

SEED = 20200623
# Channels of each block's 3x3 convolution; the blocks are separated by 2x2 average pooling.
BLOCK_CHANNELS = (32, 64, 128, 256)
KERNEL_SIZE = 3
# Pictures are scored in RGB: grey ones are repeated into the three channels.
INPUT_CHANNELS = 3


def uniform_weights(seed, shape):
    """Numbers uniform in [-1, 1) from PCG64's raw 64-bit stream: the top 53 bits of each
    word, exactly as many as a float64 mantissa holds, so no rounding depends on the machine."""
    count = int(np.prod(shape))
    words = np.random.PCG64(seed).random_raw(count)
    unit = (words >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return (2.0 * unit - 1.0).reshape(shape)


def network_weights():
    """The convolution kernels, (3, 3, in, out) float32 each, He-scaled so every block's
    output has about the same spread as its input."""
    kernels, channels_in = [], INPUT_CHANNELS
    for block, channels_out in enumerate(BLOCK_CHANNELS):
        fan_in = KERNEL_SIZE * KERNEL_SIZE * channels_in
        # Uniform on [-b, b] has variance b^2 / 3; b = sqrt(6 / fan_in) gives He's 2 / fan_in.
        bound = np.sqrt(6.0 / fan_in)
        shape = (KERNEL_SIZE, KERNEL_SIZE, channels_in, channels_out)
        kernels.append((bound * uniform_weights(SEED + block, shape)).astype(np.float32))
        channels_in = channels_out
    return kernels


def weights_digest(kernels):
    """SHA-256 of the kernels' bytes: the network's identity."""
    digest = hashlib.sha256()
    for kernel in kernels:
        digest.update(np.ascontiguousarray(kernel, dtype="<f4").tobytes())
    return digest.hexdigest()


class RandomFeatures:
    """Callable: float32 images in [-1, 1], (N, H, W, 1 or 3) -> (N, sum(BLOCK_CHANNELS)).

    Any picture size works; each block halves it, so pictures of 16 px or more reach the last
    block with at least 2x2 pixels.
    """

    def __init__(self):
        self.kernels = [tf.constant(k) for k in network_weights()]
        self.digest = weights_digest(network_weights())
        self.dimension = sum(BLOCK_CHANNELS)

    def __call__(self, images, training=False):
        del training  # nothing trains, and there is no batch normalisation to switch
        x = tf.convert_to_tensor(images, tf.float32)
        if x.shape[-1] == 1:
            x = tf.repeat(x, INPUT_CHANNELS, axis=-1)
        pooled = []
        for block, kernel in enumerate(self.kernels):
            if block:
                x = tf.nn.avg_pool2d(x, 2, 2, "VALID")
            x = tf.nn.relu(tf.nn.conv2d(x, kernel, 1, "SAME"))
            mean = tf.reduce_mean(x, axis=[1, 2])
            # Unit length per image: every depth weighs alike (1e-12: a block that is all zero,
            # as for a uniform picture after ReLU, stays zero instead of dividing by zero).
            pooled.append(mean / (tf.norm(mean, axis=-1, keepdims=True) + 1e-12))
        return tf.concat(pooled, axis=-1)
