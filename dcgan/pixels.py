"""Pixels between uint8 [0, 255] and the models' float range [-1, 1] (the generator's tanh).

NumPy arrays stay NumPy arrays; anything else (a tensor, also inside tf.data and tf.function)
goes through TensorFlow.
"""

import numpy as np

_HALF = 127.5


def _is_numpy(images):
    return isinstance(images, np.ndarray | np.generic)


def to_model_range(images):
    """uint8 pixels -> float32 in [-1, 1]."""
    if _is_numpy(images):
        return images.astype(np.float32) / _HALF - 1.0
    import tensorflow as tf

    return tf.cast(images, tf.float32) / _HALF - 1.0


def to_uint8(images):
    """Floats in [-1, 1] -> uint8 pixels, rounded half to even; values outside are clipped
    (an overshooting generator shows saturated pixels, not noise), NaN becomes 0."""
    if _is_numpy(images):
        scaled = np.nan_to_num((images.astype(np.float64) + 1.0) * _HALF, nan=0.0)
        return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    import tensorflow as tf

    scaled = tf.round((tf.cast(images, tf.float32) + 1.0) * _HALF)
    return tf.cast(tf.clip_by_value(scaled, 0.0, 255.0), tf.uint8)
