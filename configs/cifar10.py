"""CIFAR-10 32x32 RGB, DCGAN settings of Radford et al."""

from configs import default


def get_config():
    config = default.get_config()
    config.data.source = "tfds:cifar10"
    config.data.image_size = 32
    config.data.channels = 3
    config.model.kernel_size = 4
    config.model.init = "dcgan"
    config.model.dropout = 0.0
    config.optim.g_learning_rate = 2e-4
    config.optim.d_learning_rate = 2e-4
    config.optim.beta1 = 0.5
    config.training.batch_size = 128
    config.training.num_steps = 50_000
    return config
