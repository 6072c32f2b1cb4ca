"""MNIST 28x28 through tensorflow-datasets (needs network the first time).

The tutorial's networks and budget (batch 256, 50 epochs) with the settings that measured best
on Fashion-MNIST at 5 epochs (scripts/compare_presets.py; the tutorial's own settings are
configs/mnist_tutorial.py): Adam 5e-4 with beta1 0.5, N(0, 0.02) weights, 4x4 kernels and
an exponential moving average of the generator for samples.
"""

from configs import default


def get_config():
    config = default.get_config()
    config.data.source = "tfds:mnist"
    # A kernel the stride divides: each output pixel of a stride-2 transposed convolution gets
    # the same number of kernel taps, so no checkerboard; also 36% fewer multiply-adds than 5.
    config.model.kernel_size = 4
    config.model.init = "dcgan"
    config.model.ema_decay = 0.999
    # beta1 0.5 (Radford et al.): momentum that remembers less of a moving target. At batch
    # 256, 5e-4 beat 2e-4 (slower) and 1e-3 (noisier).
    config.optim.g_learning_rate = 5e-4
    config.optim.d_learning_rate = 5e-4
    config.optim.beta1 = 0.5
    config.training.batch_size = 256
    config.training.num_steps = 50 * (60_000 // 256)
    return config
