"""Class-conditional Fashion-MNIST: configs/fashion_mnist.py with the class as an input.

`python -m dcgan.sample --workdir=W --labels=Sneaker` draws sneakers.
"""

from configs import fashion_mnist


def get_config():
    config = fashion_mnist.get_config()
    config.model.conditional = True
    # Five rows of every class, one column each.
    config.training.num_grid_images = 50
    return config
