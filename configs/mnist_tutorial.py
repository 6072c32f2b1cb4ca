"""The TensorFlow DCGAN tutorial, exactly: MNIST 28x28, noise 100, batch 256,
Adam 1e-4, 50 epochs of 60,000 images."""

from configs import default


def get_config():
    config = default.get_config()
    config.data.source = "tfds:mnist"
    config.training.batch_size = 256
    config.training.num_steps = 50 * (60_000 // 256)
    config.training.precision = "float32"
    return config
