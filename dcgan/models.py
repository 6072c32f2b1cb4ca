"""Generator and discriminator networks for 28 px images and any power of two from 32 to 128.

The 28 px pair is the TensorFlow DCGAN tutorial's (with filters=64, kernel_size=5,
upsample="transpose", init="glorot_uniform"); the power-of-two pairs follow Radford et al.
(2016): a projection to 4x4 followed by stride-2 blocks that halve the width as the image
doubles, batch norm, ReLU in the generator and LeakyReLU(0.2) in the discriminator. Each
doubling of the image adds one block to each network (and doubles the widest layer).

Unconditional builders return plain `keras.Sequential` models (a functional `keras.Model` for
a generator with skip-layer excitation, FastGAN's gates from small maps to large ones), so
`model.save("x.keras")` and `tf.train.Checkpoint(generator=model)` work on them. Under a mixed
dtype policy the layers compute in bfloat16/float16 with float32 variables, while the
generator's tanh output and the discriminator's logits stay float32, so losses and images never
see a 16-bit number.

Class-conditional models (num_classes > 0) take int labels (B,) as a second input: the
generator concatenates a learned embedding of the class to the noise; the discriminator is a
projection discriminator (Miyato & Koyama, 2018), whose logit adds the inner product of a
learned class embedding with its penultimate features, so it still outputs one logit per
image and the losses stay as they are.
"""

import functools

import keras
from keras import ops

# Radford et al.: "all weights were initialized from a zero-centered Normal distribution with
# standard deviation 0.02"; batch norm scales start around 1 with the same spread.
_DCGAN_STDDEV = 0.02


@keras.saving.register_keras_serializable(package="dcgan")
class SpectralNorm(keras.layers.Wrapper):
    """Spectral normalization (Miyato et al., 2018) of a `Conv2D` or `Dense` layer.

    The wrapped layer runs with its kernel divided by an estimate of the kernel's largest
    singular value, sigma, from power iteration on the kernel reshaped to (fan_in, units).
    The iteration's vector `u` persists across steps, so one iteration per training step is
    enough; `u` only moves when `training=True`, and inference uses the same formula without
    changing any state.

    Why not `keras.layers.SpectralNormalization`: it writes the normalized kernel back into the
    kernel variable on every training call, and under a mixed policy it computes that kernel in
    the 16-bit compute dtype, so the float32 master weights get rounded to bfloat16/float16 at
    every step and small optimizer updates vanish. Here the kernel variable is never written:
    the normalized kernel exists only in the forward pass (as in the paper), gradients flow
    through the division by sigma (with `u` and `v` held constant), and sigma is always
    computed in float32.

    This wrapper's own dtype policy is float32 with autocasting off, so it reads the float32
    variables as they are; the wrapped layer's policy decides the dtype of the convolution or
    matmul and of the output.
    """

    def __init__(self, layer, power_iterations=1, epsilon=1e-12, **kwargs):
        if not isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            raise TypeError(f"SpectralNorm wraps Conv2D or Dense, not {type(layer).__name__}")
        if getattr(layer, "data_format", "channels_last") != "channels_last":
            raise ValueError("SpectralNorm supports channels_last convolutions only")
        if power_iterations < 1:
            raise ValueError(f"power_iterations must be >= 1, got {power_iterations}")
        kwargs.pop("dtype", None)
        kwargs.pop("autocast", None)
        super().__init__(layer, dtype="float32", autocast=False, **kwargs)
        self.power_iterations = power_iterations
        self.epsilon = epsilon

    def build(self, input_shape):
        super().build(input_shape)
        units = self.layer.kernel.shape[-1]
        # Every replica computes the same u from the same mirrored kernel, so keeping the first
        # replica's copy is exact and lets the update run inside a distributed step.
        self.u = self.add_weight(
            name="u",
            shape=(1, units),
            initializer=keras.initializers.RandomNormal(0.0, 1.0),
            trainable=False,
            dtype="float32",
            aggregation="only_first_replica",
        )

    def _l2_normalize(self, x):
        return x * ops.rsqrt(ops.maximum(ops.sum(ops.square(x)), self.epsilon))

    def spectral_norm(self, training=False):
        """Estimated largest singular value of the kernel (float32 scalar).

        One step of power iteration from the stored `u`; the new `u` is stored when
        `training` is true. `u` and `v` are constants for the gradient, as in the paper.
        """
        kernel = ops.convert_to_tensor(self.layer.kernel)
        matrix = ops.reshape(kernel, (-1, kernel.shape[-1]))
        u = ops.convert_to_tensor(self.u)
        v = None
        for _ in range(self.power_iterations):
            v = self._l2_normalize(ops.matmul(u, ops.transpose(matrix)))
            u = self._l2_normalize(ops.matmul(v, matrix))
        u = ops.stop_gradient(u)
        v = ops.stop_gradient(v)
        if training:
            self.u.assign(u)
        return ops.maximum(ops.sum(ops.matmul(v, matrix) * u), self.epsilon)

    def normalized_kernel(self):
        """The kernel the layer effectively applies: kernel / sigma (float32, no update)."""
        return ops.convert_to_tensor(self.layer.kernel) / self.spectral_norm(training=False)

    def call(self, inputs, training=None):
        compute_dtype = self.layer.compute_dtype
        sigma = self.spectral_norm(training=bool(training))
        inputs = ops.cast(inputs, compute_dtype)
        kernel = ops.cast(ops.convert_to_tensor(self.layer.kernel), compute_dtype)
        if isinstance(self.layer, keras.layers.Dense):
            outputs = ops.matmul(inputs, kernel)
        else:
            outputs = self.layer.convolution_op(inputs, kernel)
        # Both ops are linear in the kernel, so scaling the output equals using kernel / sigma.
        # (Dividing the kernel itself trips a graph-rewrite error of TensorFlow's oneDNN CPU
        # build when conv, bias and LeakyReLU get fused.)
        outputs = outputs * ops.cast(1.0 / sigma, compute_dtype)
        if self.layer.use_bias:
            # channels_last: the bias goes on the last axis for Dense and Conv2D alike.
            outputs = outputs + ops.cast(self.layer.bias, compute_dtype)
        if self.layer.activation is not None:
            outputs = self.layer.activation(outputs)
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update(power_iterations=self.power_iterations, epsilon=self.epsilon)
        return config


@keras.saving.register_keras_serializable(package="dcgan")
class MinibatchStdDev(keras.layers.Layer):
    """Appends one channel holding how much the batch varies: the mean over features and
    positions of each feature's standard deviation across a group of images (Karras et al.,
    2018).

    A generator that draws the same picture for every noise vector gives batches whose value
    here is near 0 while real batches' is not, so the discriminator can see the collapse and
    the generator is pushed to keep its samples diverse.

    Args:
        group_size: images per group (consecutive in the batch; the last group may be
            smaller); 0 makes the whole batch one group.
        num_classes: > 0 groups the images by class instead: called as
            `layer(inputs, labels)`, each image gets the spread of the images of its own class
            in the batch. A batch of ten classes looks varied even when every class is one
            picture; within a class, a collapse shows.
    """

    def __init__(self, group_size=0, num_classes=0, **kwargs):
        super().__init__(**kwargs)
        self.group_size = int(group_size)
        self.num_classes = int(num_classes)

    def call(self, inputs, labels=None):
        x = ops.cast(inputs, "float32")  # a variance in bfloat16 loses most of its digits
        batch = ops.shape(x)[0]
        if self.num_classes:
            groups, num_groups = ops.cast(labels, "int32"), self.num_classes
        else:
            size = self.group_size or batch
            groups = ops.arange(batch) // size
            num_groups = (batch + size - 1) // size
        count = ops.segment_sum(ops.ones((batch, 1, 1, 1)), groups, num_groups)
        # A class absent from the batch has no images to divide by.
        count = ops.maximum(count, 1.0)
        mean = ops.segment_sum(x, groups, num_groups) / count
        deviation = x - ops.take(mean, groups, axis=0)
        variance = ops.segment_sum(ops.square(deviation), groups, num_groups) / count
        spread = ops.mean(ops.sqrt(variance + 1e-8), axis=(1, 2, 3))
        channel = ops.reshape(ops.take(spread, groups), (-1, 1, 1, 1)) * ops.ones_like(x[..., :1])
        return ops.concatenate([inputs, ops.cast(channel, inputs.dtype)], axis=-1)

    def compute_output_shape(self, inputs_shape, labels_shape=None):
        return (*inputs_shape[:-1], inputs_shape[-1] + 1)

    def get_config(self):
        return {**super().get_config(), "group_size": self.group_size,
                "num_classes": self.num_classes}


@keras.saving.register_keras_serializable(package="dcgan")
class ClassScaleShift(keras.layers.Layer):
    """Class-conditional batch norm's second half: x * (1 + gamma[y]) + beta[y], per channel.

    Follows a batch norm, so each class gets its own scale and shift of the normalised
    features (de Vries et al., 2017; Miyato & Koyama, 2018). Both tables start at zero, so a
    new model behaves as the unconditional one until the classes pull them apart.
    """

    def __init__(self, num_classes, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)

    def build(self, inputs_shape, labels_shape=None):
        channels = inputs_shape[-1]
        self.gamma = self.add_weight(name="gamma", shape=(self.num_classes, channels),
                                     initializer="zeros")
        self.beta = self.add_weight(name="beta", shape=(self.num_classes, channels),
                                    initializer="zeros")

    def call(self, inputs, labels):
        labels = ops.cast(labels, "int32")
        shape = (-1,) + (1,) * (len(inputs.shape) - 2) + (inputs.shape[-1],)
        gamma = ops.reshape(ops.take(ops.cast(self.gamma, inputs.dtype), labels, axis=0), shape)
        beta = ops.reshape(ops.take(ops.cast(self.beta, inputs.dtype), labels, axis=0), shape)
        return inputs * (1 + gamma) + beta

    def compute_output_shape(self, inputs_shape, labels_shape=None):
        return inputs_shape

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


def _kernel_init(init):
    # A fresh initializer per layer: one unseeded instance shared by several layers would
    # give them all the same values.
    if init == "dcgan":
        return keras.initializers.RandomNormal(0.0, _DCGAN_STDDEV)
    return keras.initializers.GlorotUniform()


def _batch_norm(init, dtype, sync=False, tutorial=False):
    gamma = keras.initializers.RandomNormal(1.0, _DCGAN_STDDEV) if init == "dcgan" else "ones"
    # The tutorial keeps Keras' defaults; the Radford models use the momentum and epsilon of
    # the reference implementations, so the moving statistics used by `training=False`
    # follow the generator closely instead of lagging ~100 steps behind.
    extra = {} if tutorial else {"momentum": 0.9, "epsilon": 1e-5}
    return keras.layers.BatchNormalization(
        gamma_initializer=gamma, synchronized=sync, dtype=dtype, **extra
    )


def _upsample(width, kernel_size, upsample, init, dtype, activation=None):
    """Layers doubling the resolution: a stride-2 transposed conv, or resize then conv."""
    conv_kwargs = dict(
        padding="same",
        use_bias=False,
        activation=activation,
        kernel_initializer=_kernel_init(init),
        # The output layer (tanh) computes in float32 so the images are float32.
        dtype="float32" if activation == "tanh" else dtype,
    )
    if upsample == "transpose":
        return [keras.layers.Conv2DTranspose(width, kernel_size, strides=2, **conv_kwargs)]
    # Nearest-neighbour resize then a stride-1 conv has no uneven kernel overlap, hence no
    # checkerboard artefacts (Odena et al., 2016).
    return [
        keras.layers.UpSampling2D(2, interpolation="nearest", dtype=dtype),
        keras.layers.Conv2D(width, kernel_size, strides=1, **conv_kwargs),
    ]


def _num_doublings(image_size):
    """Stride-2 blocks between 4x4 and the image: 3 for 32 px, 4 for 64 px, 5 for 128 px."""
    doublings = int(image_size).bit_length() - 3
    if image_size < 32 or image_size != 4 * 2**doublings:
        raise ValueError(f"image_size must be 28 or a power of two >= 32, not {image_size}")
    return doublings


def build_generator(
    image_size: int,
    channels: int,
    noise_dim: int,
    filters: int,
    kernel_size: int,
    upsample: str = "transpose",
    init: str = "glorot_uniform",
    dtype=None,
    sync_batch_norm: bool = False,
    num_classes: int = 0,
    class_norm: bool = False,
    skip_excitation: bool = False,
) -> keras.Model:
    """The generator: noise (B, noise_dim) float32 -> images (B, S, S, C) float32 in [-1, 1].

    Args:
        image_size: S, 28 or a power of two from 32 (config_check allows up to 128).
        channels: C, 1 or 3.
        noise_dim: length of the noise vector.
        filters: width of the last hidden layer; earlier layers are 2x, 4x, ... as wide.
        kernel_size: size of every convolution kernel.
        upsample: "transpose" (stride-2 Conv2DTranspose) or "resize" (nearest UpSampling2D
            then a stride-1 Conv2D).
        init: "glorot_uniform" (Keras' default) or "dcgan" (N(0, 0.02) kernels, batch norm
            gamma N(1, 0.02)).
        dtype: Keras dtype policy name ("float32", "mixed_bfloat16", "mixed_float16") or None
            for the global policy. The tanh output is float32 in every case.
        sync_batch_norm: synchronize batch statistics across replicas.
        num_classes: 0 for an unconditional generator; else it takes [noise, labels] with
            int labels (B,) in [0, num_classes).
        class_norm: with num_classes, every batch norm is followed by a class-dependent scale
            and shift (`ClassScaleShift`), beside the class embedding joined to the noise.
        skip_excitation: the channels of every hidden feature map of 16x16 or more are gated
            by the map of a quarter its side (FastGAN's skip-layer excitation, `_excite`);
            power-of-two sizes only.

    The values are those config_check allows; it has checked a run's config before this runs.
    """
    if skip_excitation and image_size == 28:
        raise ValueError("skip_excitation needs a power-of-two image_size, not 28")
    layers = _generator_layers(image_size, channels, noise_dim, filters, kernel_size, upsample,
                               init, dtype, sync_batch_norm, num_classes)
    excite = functools.partial(_excite, init=init, dtype=dtype) if skip_excitation else None
    if not num_classes and excite:
        return keras.Model(layers[0], _apply_layers(layers[0], layers[1:], excite),
                           name="generator")
    if not num_classes:
        return keras.Sequential(layers, name="generator")
    # The body sees the noise and a class embedding of the same length side by side.
    noise = keras.Input(shape=(noise_dim,), name="noise")
    labels = keras.Input(shape=(), dtype="int32", name="labels")
    embedded = keras.layers.Embedding(num_classes, noise_dim, name="class_embedding")(labels)
    joined = keras.layers.Concatenate(name="noise_and_class")([noise, embedded])
    if not class_norm and not excite:
        body = keras.Sequential(layers, name="generator")
        return keras.Model([noise, labels], body(joined), name="generator")
    scale_shift = None
    if class_norm:
        def scale_shift(images):
            return ClassScaleShift(num_classes, dtype=dtype)(images, labels)
    images = _apply_layers(joined, layers[1:], excite, scale_shift)
    return keras.Model([noise, labels], images, name="generator")


def _apply_layers(inputs, layers, excite=None, scale_shift=None):
    """The generator's layers applied in turn to `inputs` (a symbolic tensor), with a class's
    scale and shift after each batch norm (`scale_shift`) and, with `excite`, each hidden map
    of 16x16 or more gated by the one of a quarter its side."""
    images, hidden = inputs, {}
    for layer in layers:
        images = layer(images)
        if scale_shift is not None and isinstance(layer, keras.layers.BatchNormalization):
            images = scale_shift(images)
        # A hidden map is complete after its ReLU (or, the 4x4 one, its Reshape).
        if excite and len(images.shape) == 4 and isinstance(
                layer, (keras.layers.ReLU, keras.layers.Reshape)):
            side = images.shape[1]
            if side >= 16 and side // 4 in hidden:
                images = excite(hidden[side // 4], images)
            hidden[side] = images
    return images


def _excite(small, big, init, dtype):
    """FastGAN's skip-layer excitation (Liu et al., 2021): `big`'s channels scaled by weights in
    (0, 1) computed from the low-resolution map `small`: average-pooled to 4x4, a 4x4 conv to
    one position, LeakyReLU(0.1), a 1x1 conv to `big`'s channels, a sigmoid. The coarse
    layout of the picture thus decides which fine features are drawn, and G's gradient
    reaches its early layers by a short path."""
    channels = big.shape[-1]

    def conv(size, activation=None):
        return keras.layers.Conv2D(channels, size, padding="valid", use_bias=False,
                                   activation=activation, kernel_initializer=_kernel_init(init),
                                   dtype=dtype)

    pooled = keras.layers.AveragePooling2D(small.shape[1] // 4, dtype=dtype)(small)
    gate = keras.layers.LeakyReLU(negative_slope=0.1, dtype=dtype)(conv(4)(pooled))
    gate = conv(1, activation="sigmoid")(gate)
    return keras.layers.Multiply(dtype=dtype)([big, gate])


def _generator_layers(image_size, channels, noise_dim, filters, kernel_size, upsample, init,
                      dtype, sync_batch_norm, num_classes):
    """The generator's input and layers in order; a conditional one's input is the noise
    joined to a class embedding as long as the noise."""

    def dense(units):
        return keras.layers.Dense(
            units, use_bias=False, kernel_initializer=_kernel_init(init), dtype=dtype
        )

    joined_dim = 2 * noise_dim if num_classes else noise_dim
    out = [keras.Input(shape=(joined_dim,), name="noise")]
    if image_size == 28:
        # The tutorial's generator: 7x7 -> 7x7 (stride 1) -> 14x14 -> 28x28, LeakyReLU(0.3).
        def block():
            return [
                _batch_norm(init, dtype, sync_batch_norm, tutorial=True),
                keras.layers.LeakyReLU(dtype=dtype),
            ]

        out += [dense(7 * 7 * 4 * filters), *block()]
        out += [keras.layers.Reshape((7, 7, 4 * filters), dtype=dtype)]
        out += [
            keras.layers.Conv2DTranspose(
                2 * filters,
                kernel_size,
                strides=1,
                padding="same",
                use_bias=False,
                kernel_initializer=_kernel_init(init),
                dtype=dtype,
            ),
            *block(),
        ]
        out += [*_upsample(filters, kernel_size, upsample, init, dtype), *block()]
    else:
        n = _num_doublings(image_size)

        def block():
            return [_batch_norm(init, dtype, sync_batch_norm), keras.layers.ReLU(dtype=dtype)]

        width = filters * 2 ** (n - 1)
        out += [dense(4 * 4 * width), *block(), keras.layers.Reshape((4, 4, width), dtype=dtype)]
        for _ in range(n - 1):
            width //= 2
            out += [*_upsample(width, kernel_size, upsample, init, dtype), *block()]
    out += _upsample(channels, kernel_size, upsample, init, dtype, activation="tanh")
    return out


def build_discriminator(
    image_size: int,
    channels: int,
    filters: int,
    kernel_size: int,
    dropout: float = 0.3,
    spectral_norm: bool = False,
    init: str = "glorot_uniform",
    dtype=None,
    sync_batch_norm: bool = False,
    minibatch_stddev: int = -1,
    num_classes: int = 0,
    stddev_by_class: bool = False,
) -> keras.Model:
    """The discriminator: images (B, S, S, C) in [-1, 1] -> float32 logits (B, 1).

    Args:
        image_size: S, 28 or a power of two from 32 (config_check allows up to 128).
        channels: C, 1 or 3.
        filters: width of the first conv; each later conv is twice as wide.
        kernel_size: size of every convolution kernel.
        dropout: rate of the Dropout after each LeakyReLU; 0 leaves Dropout out.
        spectral_norm: wrap every Conv2D and the final Dense in `SpectralNorm`; batch norm is
            left out then (it would undo the Lipschitz bound).
        init: "glorot_uniform" or "dcgan" (N(0, 0.02) kernels, batch norm gamma N(1, 0.02)).
        dtype: Keras dtype policy name or None; the logits are float32 in every case.
        sync_batch_norm: synchronize batch statistics across replicas.
        minibatch_stddev: group size of a `MinibatchStdDev` channel appended before the last
            layer (0: the whole batch); -1 leaves it out.
        num_classes: 0 for an unconditional discriminator; else a projection discriminator
            that takes [images, labels].
        stddev_by_class: with num_classes and the channel on, the channel measures the spread
            within each class of the batch instead of over groups of images.

    The values are those config_check allows; it has checked a run's config before this runs.
    """

    def maybe_sn(layer):
        return SpectralNorm(layer, name=f"spectral_norm_{layer.name}") if spectral_norm else layer

    def conv(width, use_bias=True):
        return maybe_sn(
            keras.layers.Conv2D(
                width,
                kernel_size,
                strides=2,
                padding="same",
                use_bias=use_bias,
                kernel_initializer=_kernel_init(init),
                dtype=dtype,
            )
        )

    def activation_dropout(slope):
        layers = [keras.layers.LeakyReLU(negative_slope=slope, dtype=dtype)]
        if dropout > 0:
            layers.append(keras.layers.Dropout(dropout, dtype=dtype))
        return layers

    out = [keras.Input(shape=(image_size, image_size, channels), name="images")]
    if image_size == 28:
        # The tutorial's discriminator: 28 -> 14 -> 7, LeakyReLU(0.3) (Keras' default slope).
        for width in (filters, 2 * filters):
            out += [conv(width), *activation_dropout(0.3)]
    else:
        for i in range(_num_doublings(image_size)):
            # No batch norm on the first layer (Radford et al.) nor under spectral norm; a conv
            # followed by batch norm needs no bias of its own.
            with_bn = i > 0 and not spectral_norm
            out.append(conv(filters * 2**i, use_bias=not with_bn))
            if with_bn:
                out.append(_batch_norm(init, dtype, sync_batch_norm))
            out += activation_dropout(0.2)
    if minibatch_stddev >= 0:
        by_class = num_classes if stddev_by_class else 0
        out.append(MinibatchStdDev(minibatch_stddev, by_class, dtype=dtype))
    out.append(keras.layers.Flatten(dtype=dtype))
    # float32 logits: the loss then never sees a 16-bit value, whatever the policy.
    logits = keras.layers.Dense(1, kernel_initializer=_kernel_init(init), dtype="float32")
    if num_classes:
        return _projection_discriminator(out, maybe_sn(logits), num_classes)
    out.append(maybe_sn(logits))
    return keras.Sequential(out, name="discriminator")


def _projection_discriminator(trunk, logits, num_classes):
    """logit(x, y) = w . h(x) + b + embed(y) . h(x), h the trunk's flattened features."""
    images = trunk[0]
    labels = keras.Input(shape=(), dtype="int32", name="labels")
    features = images
    for layer in trunk[1:]:
        by_class = isinstance(layer, MinibatchStdDev) and layer.num_classes
        features = layer(features, labels) if by_class else layer(features)
    # float32 like the logits: the inner product sums thousands of terms.
    embedded = keras.layers.Embedding(num_classes, features.shape[-1], dtype="float32",
                                      name="class_projection")(labels)
    projection = ops.sum(ops.cast(features, "float32") * embedded, axis=-1, keepdims=True)
    return keras.Model([images, labels], logits(features) + projection, name="discriminator")


def _classes(conditional, num_classes):
    """The number of classes the models condition on: 0 for an unconditional run."""
    if not conditional:
        return 0
    if num_classes < 2:
        raise ValueError(f"a conditional model needs num_classes >= 2, not {num_classes}")
    return num_classes


def generator_from_config(config, dtype=None, num_classes=0):
    """The generator a run's config describes (a preset's, or config.json's as
    dcgan.run.workdir.read_config reads it back); `num_classes` (the run's classes) only
    counts when model.conditional."""
    model = config.model
    return build_generator(
        noise_dim=model.noise_dim, filters=model.gen_filters, upsample=model.upsample,
        class_norm=model.class_norm, skip_excitation=model.skip_excitation,
        **_shared_settings(config, dtype, num_classes))


def discriminator_from_config(config, dtype=None, num_classes=0):
    model = config.model
    return build_discriminator(
        filters=model.disc_filters, dropout=model.dropout, spectral_norm=model.spectral_norm,
        minibatch_stddev=model.minibatch_stddev, stddev_by_class=model.stddev_by_class,
        **_shared_settings(config, dtype, num_classes))


def _shared_settings(config, dtype, num_classes):
    """What both networks take from the config alike."""
    model, data = config.model, config.data
    return dict(image_size=data.image_size, channels=data.channels,
                kernel_size=model.kernel_size, init=model.init, dtype=dtype,
                # Batch norm sees only a replica's slice of the batch unless synchronized.
                sync_batch_norm=config.runtime.sync_batch_norm,
                num_classes=_classes(model.conditional, num_classes))


def model_inputs(first, labels):
    """What a model takes: `first` (noise or images) alone, or with the class labels."""
    return first if labels is None else [first, labels]
