"""Images of any size and mode -> uint8 (S, S, C): centre square, antialiased resize, channels.

Images are center-cropped to a square, resized with an antialiased bilinear filter when the size
differs, and turned grey (ITU-R 601 luma) or RGB (grey repeated) as `channels` asks; images
with alpha are composited onto white first.
"""

import numpy as np
import tensorflow as tf

# Transparent pixels are composited onto white: the colour under them is often noise.
ALPHA_BACKGROUND = 255.0
_LUMA = (0.2989, 0.5870, 0.1140)
_CHUNK = 4096  # images converted per TensorFlow call, to bound float32 temporaries


def fit_tensor(image, size, channels):
    """Center-crops one uint8 (H, W, C) tensor to a square, resizes it and sets channels.

    Works inside tf.data maps on images of any size; C must be static.
    """
    have = image.shape[-1]
    if have in (2, 4):
        alpha = tf.cast(image[..., have - 1:], tf.float32) / 255.0
        image = tf.cast(image[..., : have - 1], tf.float32) * alpha + \
            ALPHA_BACKGROUND * (1.0 - alpha)
        have -= 1
    height, width = image.shape[-3], image.shape[-2]
    if height is None or width is None:  # decoded files: sizes known only at run time
        height, width = tf.shape(image)[-3], tf.shape(image)[-2]
        side = tf.minimum(height, width)
    else:
        side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    image = tf.cast(image[..., top : top + side, left : left + side, :], tf.float32)
    if have == 3 and channels == 1:
        image = tf.reduce_sum(image * tf.constant(_LUMA), axis=-1, keepdims=True)
    # Resizing to the same size is exact (the filter then weighs only the pixel itself).
    # Antialiasing only matters when shrinking, and its op is 5x slower, so images of
    # known size that grow skip it.
    antialias = not isinstance(side, int) or side > size
    image = tf.image.resize(image, (size, size), method="bilinear", antialias=antialias)
    if have == 1 and channels == 3:
        image = tf.repeat(image, 3, axis=-1)
    return tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)


def fit_array(images, size, channels):
    """fit_tensor for a whole uint8 (N, H, W, C) array, in chunks; a no-op if it fits."""
    if images.shape[1:] == (size, size, channels):
        return images
    if images.shape[1:3] == (size, size) and images.shape[-1] == 1 and channels == 3:
        return np.repeat(images, 3, axis=-1)
    return np.concatenate([
        fit_tensor(tf.constant(images[i : i + _CHUNK]), size, channels).numpy()
        for i in range(0, len(images), _CHUNK)
    ])
