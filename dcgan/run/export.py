"""A trained generator outside the training loop: restore it, run it, save it for serving.

The sample command and the exported SavedModel run the same traced function (noise in, uint8
images out; a conditional generator also takes int32 labels), so an exported model reproduces
the command's images bit for bit.
"""

import logging
import os

import tensorflow as tf

from dcgan import pixels
from dcgan.errors import UserError, reason

SAVED_MODEL_DIR = "saved_model"
KERAS_FILE = "generator.keras"


class Sampler(tf.Module):
    """The generator behind one traced function: noise (B, noise_dim) -> uint8 (B, H, W, C),
    or (noise, int32 labels (B,)) -> uint8 images for a conditional generator."""

    def __init__(self, generator):
        super().__init__(name="sampler")
        self.generator = generator
        self.conditional = len(generator.inputs) == 2  # [noise, labels]
        self.noise_dim = int(generator.inputs[0].shape[-1])
        spec = tf.TensorSpec([None, self.noise_dim], tf.float32, name="noise")
        # training=False: batch norm uses its moving statistics, so each image depends on
        # its own noise vector (and class) only, not on the rest of the batch.
        if self.conditional:
            labels_spec = tf.TensorSpec([None], tf.int32, name="labels")

            @tf.function(input_signature=[spec, labels_spec])
            def serve(noise, labels):
                return {"images": pixels.to_uint8(self.generator([noise, labels], training=False))}
        else:
            @tf.function(input_signature=[spec])
            def serve(noise):
                return {"images": pixels.to_uint8(self.generator(noise, training=False))}

        self.serve = serve

    def __call__(self, noise, labels=None):
        noise = tf.convert_to_tensor(noise, tf.float32)
        if self.conditional:
            return self.serve(noise, tf.convert_to_tensor(labels, tf.int32))["images"].numpy()
        return self.serve(noise)["images"].numpy()


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
        raise UserError(f"cannot write --export={folder} ({reason(e)}); "
                        "choose another folder") from None
    return saved_model, keras_file
