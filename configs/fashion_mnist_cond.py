"""Class-conditional Fashion-MNIST: configs/fashion_mnist.py with the class as an input.

`python -m dcgan.sample --workdir=W --labels=Sneaker` draws sneakers.
"""

from configs import fashion_mnist


def get_config():
    config = fashion_mnist.get_config()
    config.model.conditional = True
    # Variety within a class: the discriminator's minibatch standard deviation is taken over
    # the images of each class, where a collapse shows, and every generator batch norm is
    # followed by a class-dependent scale and shift.
    config.model.stddev_by_class = True
    config.model.class_norm = True
    # Five rows of every class, one column each.
    config.training.num_grid_images = 50
    return config
