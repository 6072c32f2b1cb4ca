"""Class-conditional MNIST: configs/mnist.py with the digit as an input.

`python -m dcgan.sample --workdir=W --labels=7` draws sevens.
"""

from configs import mnist


def get_config():
    config = mnist.get_config()
    config.model.conditional = True
    # Variety within a class, as in configs/fashion_mnist_cond.py (measured there): the
    # spread taken within each class of batches of 64.
    config.model.stddev_by_class = True
    config.model.class_norm = True
    config.training.batch_size = 64
    config.training.num_steps = 50 * 60_000 // 64
    # Five rows of every digit, one column each.
    config.training.num_grid_images = 50
    return config
