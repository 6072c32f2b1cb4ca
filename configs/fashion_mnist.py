"""Fashion-MNIST 28x28 from local IDX files (Debian's dataset-fashion-mnist);
use data.source=tfds:fashion_mnist where the network allows."""

from configs import mnist


def get_config():
    config = mnist.get_config()
    config.data.source = "idx:/usr/share/datasets/fashion-mnist"
    # The IDX files hold numbers only; these are Fashion-MNIST's names for 0..9.
    config.data.class_names = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                               "Shirt", "Sneaker", "Bag", "Ankle boot")
    return config
