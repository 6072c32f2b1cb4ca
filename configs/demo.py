"""A few CPU minutes on the embedded synthetic digits: no network, no downloads."""

from configs import default


def get_config():
    config = default.get_config()
    config.data.source = "synthetic:digits"
    config.model.gen_filters = 32
    config.model.disc_filters = 32
    config.model.kernel_size = 4
    config.model.init = "dcgan"
    config.optim.g_learning_rate = 2e-4
    config.optim.d_learning_rate = 2e-4
    config.optim.beta1 = 0.5
    config.training.batch_size = 64
    config.training.num_steps = 1500
    config.training.log_every_steps = 50
    config.training.sample_every_steps = 100
    config.training.checkpoint_every_steps = 500
    return config
