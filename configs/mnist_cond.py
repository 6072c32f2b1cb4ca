"""Class-conditional MNIST: configs/mnist.py with the digit as an input.

`python -m dcgan.sample --workdir=W --labels=7` draws sevens.
"""

from configs import mnist


def get_config():
    config = mnist.get_config()
    config.model.conditional = True
    # The conditional runs were measured with the earlier default's batches of 256 and its
    # discriminator of width 128.
    config.model.disc_filters = 128
    config.training.batch_size = 256
    config.training.num_steps = 50 * (60_000 // 256)
    # Five rows of every digit, one column each.
    config.training.num_grid_images = 50
    return config
