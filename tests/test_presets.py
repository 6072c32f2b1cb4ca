"""The presets: the tutorial kept as it was, and defaults that cost no more per step."""

from configs import fashion_mnist, fashion_mnist_cond, mnist, mnist_cond, mnist_tutorial
from dcgan.measure.cost import step_macs


def test_the_tutorial_preset_keeps_the_tutorial_settings():
    config = mnist_tutorial.get_config()
    assert config.data.source == "tfds:mnist"
    assert (config.model.gen_filters, config.model.disc_filters, config.model.noise_dim) == (
        64, 64, 100)
    assert (config.model.kernel_size, config.model.upsample, config.model.init) == (
        5, "transpose", "glorot_uniform")
    assert (config.model.dropout, config.model.spectral_norm, config.model.ema_decay) == (
        0.3, False, 0.0)
    assert (config.optim.g_learning_rate, config.optim.d_learning_rate) == (1e-4, 1e-4)
    assert (config.optim.beta1, config.optim.beta2) == (0.9, 0.999)
    assert (config.training.batch_size, config.training.label_smoothing) == (256, 0.0)
    assert config.training.num_steps == 50 * (60_000 // 256)
    assert config.training.precision == "float32"


def test_the_defaults_differ_only_in_training_settings_and_data():
    default, fashion = mnist.get_config(), fashion_mnist.get_config()
    assert default.data.source == "tfds:mnist"
    assert fashion.data.source.startswith("idx:")
    assert fashion.data.class_names[7] == "Sneaker"
    fashion.data.source = default.data.source
    fashion.data.class_names = default.data.class_names
    assert fashion.to_dict() == default.to_dict()
    tutorial = mnist_tutorial.get_config()
    assert default.model.ema_decay > 0  # samples come from the averaged generator
    # The tutorial's 50 epochs of images, in batches of 32.
    for config in (default, tutorial):
        assert round(config.training.num_steps * config.training.batch_size / 60_000) == 50
    assert default.training.batch_size == 32


def test_the_defaults_cost_at_most_a_fifth_more_per_step_than_the_tutorial():
    tutorial = step_macs(mnist_tutorial.get_config())
    default = step_macs(mnist.get_config())
    assert 200e6 < tutorial < 250e6  # multiply-adds per image: 3 G + 7 D forward passes
    assert default <= 1.2 * tutorial


def test_the_conditional_presets_differ_only_in_being_conditional_and_as_measured():
    for plain, conditional in ((fashion_mnist.get_config(), fashion_mnist_cond.get_config()),
                               (mnist.get_config(), mnist_cond.get_config())):
        assert not plain.model.conditional and conditional.model.conditional
        # One grid column per class: a grid of whole rows of the ten classes.
        assert conditional.training.num_grid_images % 10 == 0
        # Measured (README): the default's widths, the two class-variety layers, and batches
        # of 64 for the same 50 epochs of images.
        assert conditional.model.stddev_by_class and conditional.model.class_norm
        assert conditional.model.minibatch_stddev != -1
        assert conditional.training.batch_size == 64
        assert conditional.training.num_steps * 64 == plain.training.num_steps * 32
        conditional.model.conditional = False
        conditional.model.stddev_by_class = conditional.model.class_norm = False
        conditional.training.num_grid_images = plain.training.num_grid_images
        conditional.training.batch_size = plain.training.batch_size
        conditional.training.num_steps = plain.training.num_steps
        assert conditional.to_dict() == plain.to_dict()


def test_the_folder_presets_draw_their_size_in_colour_and_cost_by_it():
    from configs import folder32, folder64
    from dcgan import models

    small, large = folder32.get_config(), folder64.get_config()
    generator = models.generator_from_config(small)
    assert generator.output_shape == (None, 32, 32, 3)
    assert models.discriminator_from_config(small).input_shape == (None, 32, 32, 3)
    # The same settings on a quarter of the pixels: the quick look costs far less a step.
    assert small.to_dict() | {"data": None} == large.to_dict() | {"data": None}
    assert step_macs(folder32.get_config()) < step_macs(large) / 4
    # Augmented, p steered by D on pictures held out of training.
    assert small.training.augment and small.training.ada_gap_target and small.data.holdout
