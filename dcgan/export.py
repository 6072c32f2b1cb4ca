"""A trained generator outside the training loop: restore it, run it, save it for serving.

The sample command and the exported SavedModel run the same traced function (noise in, uint8
images out), so an exported model reproduces the command's images bit for bit.
"""

import logging
import os

import tensorflow as tf

from dcgan import models
from dcgan.errors import UserError

SAVED_MODEL_DIR = "saved_model"
KERAS_FILE = "generator.keras"


def load_generator(config_dict, checkpoint_path, use_ema):
    """Rebuild the run's generator in float32 and load its weights from a checkpoint.

    Only the generator is read: the discriminator and optimizer slots stay in the file, and
    `expect_partial` says so, which keeps TensorFlow from warning about them at exit.

    Args:
        config_dict: the run's config.json.
        checkpoint_path: a checkpoint prefix such as WORKDIR/checkpoints/ckpt-1500.
        use_ema: read the exponential-moving-average generator instead of the trained one.
    """
    # The variables are float32 whatever precision the run trained in, and float32 sampling
    # gives the same images on every machine.
    generator = models.generator_from_config(config_dict, dtype="float32")
    key = "ema_generator" if use_ema else "generator"
    try:
        tf.train.Checkpoint(**{key: generator}).restore(checkpoint_path).expect_partial() \
            .assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as e:
        raise UserError(f"{checkpoint_path} holds no {key.replace('_', ' ')} matching "
                        f"config.json ({str(e).splitlines()[0][:120]})") from None
    return generator


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
