"""Generator and discriminator: architectures, dtypes, init, spectral norm, saving."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from dcgan import models


def _layer_summary(model):
    return [type(layer).__name__ for layer in model.layers]


def test_28px_models_are_the_tensorflow_tutorials():
    generator = models.build_generator(28, 1, noise_dim=100, filters=64, kernel_size=5)
    discriminator = models.build_discriminator(28, 1, filters=64, kernel_size=5, dropout=0.3)

    assert generator.name == "generator" and discriminator.name == "discriminator"
    assert generator.count_params() == 2_330_944
    assert discriminator.count_params() == 212_865
    assert _layer_summary(generator) == [
        "Dense", "BatchNormalization", "LeakyReLU", "Reshape",
        "Conv2DTranspose", "BatchNormalization", "LeakyReLU",
        "Conv2DTranspose", "BatchNormalization", "LeakyReLU",
        "Conv2DTranspose",
    ]  # fmt: skip
    convs = [layer for layer in generator.layers if isinstance(layer, keras.layers.Conv2DTranspose)]
    assert [c.filters for c in convs] == [128, 64, 1]
    assert [c.strides for c in convs] == [(1, 1), (2, 2), (2, 2)]
    assert not any(c.use_bias for c in convs) and not generator.layers[0].use_bias
    assert convs[-1].activation.__name__ == "tanh"

    assert _layer_summary(discriminator) == [
        "Conv2D", "LeakyReLU", "Dropout", "Conv2D", "LeakyReLU", "Dropout", "Flatten", "Dense",
    ]  # fmt: skip
    assert [layer.rate for layer in discriminator.layers if hasattr(layer, "rate")] == [0.3, 0.3]


@pytest.mark.parametrize("image_size", [28, 32, 64, 128])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("upsample", ["transpose", "resize"])
def test_shapes_and_output_range(image_size, channels, upsample):
    generator = models.build_generator(image_size, channels, 8, 4, 3, upsample=upsample)
    discriminator = models.build_discriminator(image_size, channels, 4, 3)
    # Huge noise drives the last layer deep into saturation: only a tanh keeps it in [-1, 1].
    noise = 1e3 * tf.random.stateless_normal((3, 8), seed=(1, 2))
    images = generator(noise, training=True)
    logits = discriminator(images, training=True)

    assert images.shape == (3, image_size, image_size, channels)
    assert images.dtype == tf.float32
    assert np.all(np.abs(images.numpy()) <= 1.0)
    assert logits.shape == (3, 1) and logits.dtype == tf.float32
    assert np.all(np.isfinite(logits.numpy()))


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
@pytest.mark.parametrize("image_size", [28, 64])
def test_mixed_precision_computes_in_16_bit_and_returns_float32(policy, image_size):
    generator = models.build_generator(image_size, 3, 8, 4, 3, upsample="resize", dtype=policy)
    discriminator = models.build_discriminator(
        image_size, 3, 4, 3, spectral_norm=True, dtype=policy
    )
    images = generator(tf.random.normal((2, 8)), training=True)
    logits = discriminator(images, training=True)

    assert images.dtype == tf.float32 and logits.dtype == tf.float32
    half = policy.removeprefix("mixed_")
    assert generator.layers[1].compute_dtype == half
    assert discriminator.layers[1].compute_dtype == half
    for variable in generator.weights + discriminator.weights:
        assert variable.dtype == "float32", variable.path


def test_radford_widths_at_64px():
    generator = models.build_generator(64, 3, noise_dim=100, filters=64, kernel_size=4)
    discriminator = models.build_discriminator(64, 3, filters=64, kernel_size=4, dropout=0.0)

    convs = [layer for layer in generator.layers if isinstance(layer, keras.layers.Conv2DTranspose)]
    assert [c.output.shape[1:] for c in convs] == [
        (8, 8, 256), (16, 16, 128), (32, 32, 64), (64, 64, 3),
    ]  # fmt: skip
    assert generator.get_layer(index=3).output.shape[1:] == (4, 4, 512)
    assert sum(isinstance(layer, keras.layers.ReLU) for layer in generator.layers) == 4

    d_convs = [layer for layer in discriminator.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.output.shape[1:] for c in d_convs] == [
        (32, 32, 64), (16, 16, 128), (8, 8, 256), (4, 4, 512),
    ]  # fmt: skip
    # Batch norm after every conv but the first, no dropout when the rate is 0.
    assert _layer_summary(discriminator)[:5] == [
        "Conv2D", "LeakyReLU", "Conv2D", "BatchNormalization", "LeakyReLU",
    ]  # fmt: skip
    assert "Dropout" not in _layer_summary(discriminator)


def test_128px_adds_a_block_to_each_network():
    generator = models.build_generator(128, 3, noise_dim=8, filters=4, kernel_size=3)
    discriminator = models.build_discriminator(128, 3, filters=4, kernel_size=3)
    convs = [layer for layer in generator.layers if isinstance(layer, keras.layers.Conv2DTranspose)]
    assert [c.output.shape[1:] for c in convs] == [
        (8, 8, 32), (16, 16, 16), (32, 32, 8), (64, 64, 4), (128, 128, 3),
    ]  # fmt: skip
    assert generator.get_layer(index=3).output.shape[1:] == (4, 4, 64)
    d_convs = [layer for layer in discriminator.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.output.shape[1:] for c in d_convs] == [
        (64, 64, 4), (32, 32, 8), (16, 16, 16), (8, 8, 32), (4, 4, 64),
    ]  # fmt: skip


def test_sizes_other_than_28_or_a_power_of_two_are_refused():
    with pytest.raises(ValueError, match="power of two"):
        models.build_generator(48, 3, 8, 4, 3)


def test_resize_upsampling_has_no_strided_transposed_conv():
    generator = models.build_generator(32, 3, 8, 4, 3, upsample="resize")
    kinds = _layer_summary(generator)
    assert kinds.count("UpSampling2D") == 3
    assert "Conv2DTranspose" not in kinds


def test_dcgan_init_draws_from_normal_0_02():
    generator = models.build_generator(32, 3, 100, 32, 4, init="dcgan")
    discriminator = models.build_discriminator(32, 3, 32, 4, init="dcgan")
    kernels = [w.numpy().ravel() for w in generator.weights + discriminator.weights
               if w.path.endswith("kernel")]  # fmt: skip
    kernels = np.concatenate(kernels)
    assert abs(kernels.mean()) < 1e-3
    assert kernels.std() == pytest.approx(0.02, rel=0.02)
    gammas = np.concatenate(
        [w.numpy() for w in generator.weights + discriminator.weights if w.path.endswith("gamma")]
    )
    assert gammas.mean() == pytest.approx(1.0, abs=2e-3)
    assert gammas.std() == pytest.approx(0.02, rel=0.1)

    glorot = models.build_generator(32, 3, 100, 32, 4)
    assert glorot.layers[-1].kernel.numpy().std() > 0.04  # Glorot: sqrt(2 / (48 + 512))


def test_same_global_seed_builds_the_same_weights():
    def weights(seed):
        keras.utils.set_random_seed(seed)
        model = models.build_discriminator(28, 1, 4, 3, spectral_norm=True, init="dcgan")
        return [w.numpy() for w in model.weights]

    first, again, other = weights(7), weights(7), weights(8)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[0], other[0])


def _top_singular_value(kernel):
    kernel = np.asarray(kernel)
    return np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]


@pytest.mark.parametrize("policy", [None, "mixed_bfloat16"])
def test_spectral_norm_bounds_the_top_singular_value(policy):
    keras.utils.set_random_seed(0)
    model = models.build_discriminator(32, 3, 8, 3, spectral_norm=True, dtype=policy)
    layers = [layer for layer in model.layers if isinstance(layer, models.SpectralNorm)]
    assert len(layers) == 4  # three convs and the logits
    assert "BatchNormalization" not in _layer_summary(model)
    for layer in layers:  # far from 1, so normalization has work to do
        layer.layer.kernel.assign(5.0 * layer.layer.kernel)
    raw_kernels = [layer.layer.kernel.numpy() for layer in layers]

    images = tf.random.stateless_uniform((4, 32, 32, 3), seed=(0, 1), minval=-1, maxval=1)
    forward = tf.function(lambda x: model(x, training=True))
    for _ in range(30):  # one power iteration per call
        forward(images)

    for layer, raw in zip(layers, raw_kernels, strict=True):
        assert _top_singular_value(raw) > 2.0
        assert _top_singular_value(layer.normalized_kernel()) == pytest.approx(1.0, abs=0.02)
        # The float32 kernel is left alone (no rounding to the 16-bit compute dtype).
        np.testing.assert_array_equal(layer.layer.kernel.numpy(), raw)

    u = layers[0].u.numpy()
    model(images, training=False)
    np.testing.assert_array_equal(layers[0].u.numpy(), u)


def test_spectral_norm_dense_is_one_lipschitz():
    keras.utils.set_random_seed(1)
    layer = models.SpectralNorm(keras.layers.Dense(5, use_bias=False))
    eye = tf.eye(12)
    for _ in range(30):
        layer(eye, training=True)
    effective = layer(eye).numpy()  # rows of the kernel the layer actually applies
    assert _top_singular_value(effective) == pytest.approx(1.0, abs=0.02)
    assert _top_singular_value(layer.layer.kernel.numpy()) > 1.5


def test_spectral_norm_gradient_reaches_the_kernel():
    model = models.build_discriminator(28, 1, 4, 3, spectral_norm=True)
    images = tf.random.uniform((2, 28, 28, 1), -1, 1)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(images, training=True))
    grads = tape.gradient(loss, model.trainable_variables)
    assert len(model.trainable_variables) == 6  # kernels and biases; `u` is not trained
    assert all(g is not None and np.any(g.numpy() != 0) for g in grads)


def _tiny_models():
    generator = models.build_generator(28, 1, 4, 2, 3, init="dcgan")
    discriminator = models.build_discriminator(28, 1, 2, 3, spectral_norm=True)
    return generator, discriminator


def _outputs(generator, discriminator):
    images = generator(tf.ones((2, 4)) * 0.5, training=False)
    return images.numpy(), discriminator(images, training=False).numpy()


def _train_a_little(generator, discriminator):
    noise = tf.random.normal((4, 4))
    for _ in range(3):  # moves batch-norm statistics and the power-iteration vectors
        discriminator(generator(noise, training=True), training=True)


def test_keras_save_and_load_round_trip(tmp_path):
    generator, discriminator = _tiny_models()
    _train_a_little(generator, discriminator)
    generator.save(tmp_path / "generator.keras")
    discriminator.save(tmp_path / "discriminator.keras")

    loaded_g = keras.models.load_model(tmp_path / "generator.keras")
    loaded_d = keras.models.load_model(tmp_path / "discriminator.keras")
    assert loaded_g.name == "generator" and isinstance(loaded_d.layers[0], models.SpectralNorm)
    for ours, theirs in zip(
        _outputs(generator, discriminator), _outputs(loaded_g, loaded_d), strict=True
    ):
        np.testing.assert_array_equal(ours, theirs)


def test_tf_train_checkpoint_round_trip(tmp_path):
    generator, discriminator = _tiny_models()
    _train_a_little(generator, discriminator)
    path = tf.train.Checkpoint(generator=generator, discriminator=discriminator).save(
        tmp_path / "ckpt"
    )
    expected = _outputs(generator, discriminator)

    fresh_g, fresh_d = _tiny_models()
    assert not np.array_equal(_outputs(fresh_g, fresh_d)[0], expected[0])
    status = tf.train.Checkpoint(generator=fresh_g, discriminator=fresh_d).restore(path)
    status.assert_existing_objects_matched()
    for ours, restored in zip(expected, _outputs(fresh_g, fresh_d), strict=True):
        np.testing.assert_array_equal(ours, restored)
    np.testing.assert_array_equal(fresh_d.layers[0].u.numpy(), discriminator.layers[0].u.numpy())


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
@pytest.mark.parametrize("group_size", [0, 4])
def test_minibatch_stddev_shows_the_discriminator_a_collapsed_batch(policy, group_size):
    layer = models.MinibatchStdDev(group_size, dtype=policy)
    varied = tf.random.stateless_normal((16, 7, 7, 8), seed=(3, 4))
    collapsed = tf.repeat(varied[:1], 16, axis=0)

    varied_out, collapsed_out = layer(varied), layer(collapsed)

    assert varied_out.shape == (16, 7, 7, 9)
    np.testing.assert_allclose(varied_out[..., :8], varied, rtol=1e-2, atol=1e-2)
    assert float(tf.reduce_min(varied_out[..., 8])) > 0.7  # about 1 for unit normal features
    assert float(tf.reduce_max(collapsed_out[..., 8])) < 1e-3


def test_minibatch_stddev_groups_see_only_their_own_images():
    # Images 0-3 vary, images 4-7 are copies of one picture, image 8 is alone in its group.
    images = tf.random.stateless_normal((9, 7, 7, 8), seed=(1, 2)).numpy()
    images[4:8] = images[4]

    spread = models.MinibatchStdDev(4)(images)[:, 0, 0, 8].numpy()

    expected = np.sqrt(images[:4].var(axis=0) + 1e-8).mean()
    np.testing.assert_allclose(spread[:4], expected, rtol=1e-5)
    np.testing.assert_allclose(spread[4:], 1e-4, rtol=1e-3)


def test_minibatch_stddev_by_class_sees_a_class_collapsed_in_a_varied_batch():
    # Two classes, each a copy of one picture: the batch varies, no class does.
    pictures = tf.random.stateless_normal((2, 7, 7, 8), seed=(7, 8))
    images = tf.repeat(pictures, 4, axis=0)
    labels = tf.constant([0, 0, 0, 0, 1, 1, 1, 1])

    whole_batch = models.MinibatchStdDev(0)(images)[:, 0, 0, 8].numpy()
    by_class = models.MinibatchStdDev(0, num_classes=3)(images, labels)[:, 0, 0, 8].numpy()

    assert whole_batch.min() > 0.5
    np.testing.assert_allclose(by_class, 1e-4, rtol=1e-3)


def test_class_scale_shift_starts_as_identity_and_is_per_class():
    layer = models.ClassScaleShift(3)
    features = tf.random.stateless_normal((4, 5, 5, 2), seed=(1, 1))
    labels = tf.constant([0, 1, 2, 1])
    np.testing.assert_array_equal(layer(features, labels), features)

    layer.gamma.assign([[0.0, 0.0], [1.0, -1.0], [0.0, 0.0]])
    layer.beta.assign([[0.0, 0.0], [0.5, 0.5], [0.0, 0.0]])
    out = layer(features, labels).numpy()

    np.testing.assert_allclose(out[1], features[1] * [2.0, 0.0] + 0.5)
    np.testing.assert_allclose(out[[0, 2]], tf.gather(features, [0, 2]))


def test_discriminator_with_minibatch_stddev_saves_and_loads(tmp_path):
    discriminator = models.build_discriminator(28, 1, 4, 4, dropout=0.0, minibatch_stddev=4)
    images = tf.random.stateless_uniform((6, 28, 28, 1), seed=(5, 6), minval=-1, maxval=1)
    path = str(tmp_path / "d.keras")
    discriminator.save(path)

    reloaded = keras.models.load_model(path)

    assert "MinibatchStdDev" in _layer_summary(discriminator)
    assert reloaded.layers[-3].group_size == 4
    np.testing.assert_array_equal(reloaded(images), discriminator(images))
