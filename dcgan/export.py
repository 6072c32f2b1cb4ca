"""A trained generator outside the training loop: restore it, run it, save it for serving.

The sample command and the exported SavedModel run the same traced function (noise in, uint8
images out), so an exported model reproduces the command's images bit for bit.
"""

import logging
import os

import tensorflow as tf

from dcgan.errors import UserError

SAVED_MODEL_DIR = "saved_model"
KERAS_FILE = "generator.keras"


def to_uint8(images):
    """[-1, 1] floats to uint8 pixels: round half to even and clip, like visualize.to_uint8."""
    scaled = tf.round((tf.cast(images, tf.float32) + 1.0) * 127.5)
    return tf.cast(tf.clip_by_value(scaled, 0.0, 255.0), tf.uint8)


class Sampler(tf.Module):
    """The generator behind one traced function: noise (B, noise_dim) -> uint8 (B, H, W, C)."""

    def __init__(self, generator):
        super().__init__(name="sampler")
        self.generator = generator
        self.noise_dim = int(generator.input_shape[-1])
        spec = tf.TensorSpec([None, self.noise_dim], tf.float32, name="noise")

        @tf.function(input_signature=[spec])
        def serve(noise):
            # training=False: batch norm uses its moving statistics, so each image depends on
            # its own noise vector only, not on the rest of the batch.
            return {"images": to_uint8(self.generator(noise, training=False))}

        self.serve = serve

    def __call__(self, noise):
        return self.serve(tf.convert_to_tensor(noise, tf.float32))["images"].numpy()


def export(sampler, folder):
    """Write FOLDER/saved_model (signature serving_default) and FOLDER/generator.keras.

    Returns:
        The two paths written.
    """
    saved_model = os.path.join(folder, SAVED_MODEL_DIR)
    keras_file = os.path.join(folder, KERAS_FILE)
    # The saver logs a note per captured variable at INFO; users need the one summary line.
    tf.get_logger().setLevel(logging.WARNING)
    try:
        os.makedirs(folder, exist_ok=True)
        tf.saved_model.save(sampler, saved_model, signatures={"serving_default": sampler.serve})
        sampler.generator.save(keras_file)
    except (OSError, tf.errors.OpError) as e:
        reason = getattr(e, "strerror", None) or getattr(e, "message", None) or str(e)
        raise UserError(f"cannot write --export={folder} ({reason.splitlines()[0]}); "
                        "choose another folder") from None
    return saved_model, keras_file
