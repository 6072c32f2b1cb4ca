"""What a training step costs: multiply-adds per image, to compare presets by compute."""

import math

import keras

from dcgan import models


def forward_macs(model):
    """Multiply-accumulates of one image through the model's convolutions and dense layers."""
    total = 0
    for layer in model.layers:
        inner = getattr(layer, "layer", layer)  # a SpectralNorm wrapper computes its layer's
        if isinstance(inner, keras.layers.Conv2DTranspose):
            height, width = layer.input.shape[1:3]  # one kernel product per input pixel
        elif isinstance(inner, keras.layers.Conv2D):
            height, width = layer.output.shape[1:3]  # one kernel product per output pixel
        elif isinstance(inner, keras.layers.Dense):
            height = width = 1
        else:
            continue
        total += height * width * math.prod(inner.kernel.shape)
    return total


def step_macs(config):
    """Estimated multiply-accumulates per image of one training step of a run's models.

    The generator runs forward and backward (3 forward passes' worth); the discriminator
    runs forward on a real and a fake image, backward for its own loss on both (4), and
    passes the generator's gradient back to the fake image (1): 3 G + 7 D.
    """
    generator = models.generator_from_config(config)
    discriminator = models.discriminator_from_config(config)
    return 3 * forward_macs(generator) + 7 * forward_macs(discriminator)
