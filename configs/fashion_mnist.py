"""Fashion-MNIST 28x28 from local IDX files (Debian's dataset-fashion-mnist);
use data.source=tfds:fashion_mnist where the network allows."""

from configs import mnist


def get_config():
    config = mnist.get_config()
    config.data.source = "idx:/usr/share/datasets/fashion-mnist"
    return config
