"""CelebA faces 64x64 RGB: the DCGAN of Radford et al. (N(0, 0.02) init,
Adam 2e-4, beta1 0.5, batch 128)."""

from configs import cifar10


def get_config():
    config = cifar10.get_config()
    config.data.source = "tfds:celeb_a"
    config.data.image_size = 64
    config.training.num_steps = 30_000
    return config
