"""MNIST 28x28 through tensorflow-datasets (needs network the first time)."""

from configs import mnist_tutorial


def get_config():
    return mnist_tutorial.get_config()
