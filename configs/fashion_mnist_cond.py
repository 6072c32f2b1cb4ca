"""Class-conditional Fashion-MNIST: configs/fashion_mnist.py with the class as an input.

`python -m dcgan.sample --workdir=W --labels=Sneaker` draws sneakers.
"""

from configs import fashion_mnist


def get_config():
    config = fashion_mnist.get_config()
    config.model.conditional = True
    # The conditional runs were measured with the earlier default's batches of 256 and its
    # discriminator of width 128.
    config.model.disc_filters = 128
    config.training.batch_size = 256
    config.training.num_steps = 50 * (60_000 // 256)
    # Five rows of every class, one column each.
    config.training.num_grid_images = 50
    return config
