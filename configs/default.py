"""Defaults every preset starts from; a preset overrides only what differs."""

import ml_collections


def get_config():
    config = ml_collections.ConfigDict()
    config.seed = 0

    config.data = data = ml_collections.ConfigDict()
    # tfds:NAME[:SPLIT], idx:DIR, folder:DIR, npz:FILE or synthetic:digits.
    data.source = "synthetic:digits"
    data.image_size = 28
    data.channels = 1
    # Train on the first N images of the source after a shuffle by the seed (0: all of them).
    data.max_images = 0
    # N images of the source (shuffled by the seed) never trained on; D's mean output on them
    # is logged as d_holdout beside d_real, so a discriminator memorising the set shows (0: off).
    data.holdout = 0
    # folder: sources only: a folder where the decoded images are cached as .npy, read back
    # memory-mapped by later runs and resumes; rebuilt when the folder changes ("": no cache).
    data.cache_dir = ""
    # Names of the classes 0..K-1 for sources whose files hold only numbers (idx:, npz:);
    # tfds: and folder: sources name their own. () names them "0".."K-1".
    data.class_names = ()
    # Show each training picture mirrored left to right half of the time, a fresh draw at every
    # step (for pictures whose mirror image is as real as they are: not text, not digits).
    data.mirror = False

    config.model = model = ml_collections.ConfigDict()
    model.noise_dim = 100
    model.gen_filters = 64  # width of the generator's last hidden layer; earlier ones are 2x, 4x
    model.disc_filters = 64  # width of the discriminator's first layer; later ones are 2x, 4x
    model.kernel_size = 5
    model.upsample = "transpose"  # transpose | resize (nearest resize, then conv: no checkerboard)
    model.init = "glorot_uniform"  # glorot_uniform (Keras) | dcgan (N(0, 0.02), Radford et al.)
    model.dropout = 0.3  # discriminator dropout
    model.spectral_norm = False  # spectral normalization in the discriminator
    # Show the discriminator how much a group of N images varies: N, 0 = the whole batch,
    # -1 = off.
    model.minibatch_stddev = -1
    model.ema_decay = 0.0  # exponential moving average of the generator; 0 disables
    # Class-conditional: the generator takes a class with the noise, the discriminator is a
    # projection discriminator (Miyato & Koyama, 2018); needs a source with labels.
    model.conditional = False
    # Conditional runs: the minibatch standard deviation within each class of the batch
    # rather than over the whole batch, and a class-dependent scale and shift after each of
    # the generator's batch norms.
    model.stddev_by_class = False
    model.class_norm = False
    # FastGAN's skip-layer excitation (Liu et al., 2021): each generator map of 16x16 or more
    # has its channels gated by the map a quarter its side (power-of-two image sizes only).
    model.skip_excitation = False

    config.optim = optim = ml_collections.ConfigDict()
    optim.g_learning_rate = 1e-4
    optim.d_learning_rate = 1e-4
    optim.beta1 = 0.9
    optim.beta2 = 0.999
    # linear_decay: both rates fall linearly to zero at training.num_steps, from
    # decay_start * num_steps on; a GAN's last steps then refine instead of circling.
    optim.schedule = "constant"
    optim.decay_start = 0.0

    config.training = training = ml_collections.ConfigDict()
    training.batch_size = 256
    training.num_steps = 10_000
    # Stop by time as well: seconds of training summed over every resume (0: no limit).
    training.max_seconds = 0.0
    training.label_smoothing = 0.0  # one-sided: real targets become 1 - label_smoothing
    # R1 penalty on real images, gamma / 2 x ||grad_x D(x)||^2 added to D's loss (0: off),
    # computed every r1_every steps only (lazy) and weighted to match.
    training.r1_gamma = 0.0
    training.r1_every = 16
    # Mode seeking (Mao et al., 2019): the generator's noise comes in pairs asked for the same
    # class, and this weight times 1 / (how far apart the pair's images are per unit of noise
    # distance) joins its loss, so two noises drawing one picture cost it (0: off; needs an
    # even batch).
    training.mode_seeking = 0.0
    training.log_every_steps = 100
    training.sample_every_steps = 500
    training.checkpoint_every_steps = 1000
    training.keep_checkpoints = 3
    training.num_grid_images = 16
    training.precision = "auto"  # auto | float32 | mixed_bfloat16 | mixed_float16
    training.jit_compile = False
    training.steps_per_call = 1  # training steps run inside one tf.function call
    training.on_nan = "stop"  # stop | rollback
    training.eval_every_steps = 0  # 0 disables in-training quality metrics
    training.eval_num_samples = 2000
    training.eval_features = ""  # path of a classifier from `python -m dcgan.classifier`
    # Differentiable augmentation of every image D sees, real and generated (small data sets):
    # comma-separated translation, cutout, color; "" is off.
    training.augment = ""
    training.augment_p = 1.0  # probability each policy is applied to an image (1: DiffAugment)
    # > 0: adapt augment_p (ADA) so E[sign(D(x_real))] stays near this target (0.6 is usual);
    # p then starts at 0 (augment_p must stay 1, unused). 0: augment_p stays fixed.
    training.ada_target = 0.0
    # > 0 (with data.holdout > 0): adapt augment_p by the held-out gap instead, D's mean output
    # on trained images minus that on held-out ones, measured every training.log_every_steps:
    # p rises while the gap is above this target, so it stays near 0 until D memorises.
    training.ada_gap_target = 0.0
    training.ada_kimg = 500.0  # thousands of images for the adaptive p to go from 0 to 1
    # Where an adaptive p (ada_target, ada_gap_target) starts: 0, or higher for a small folder
    # that D will memorise at once, e.g. when fine-tuning from training.init_from.
    training.ada_start_p = 0.0
    # Start from another run's networks (dcgan/training/init_from.py): a run folder (its
    # newest checkpoint), RUN/checkpoints/best, or RUN/checkpoints/ckpt-N. Its generator,
    # discriminator and EMA generator are copied at step 0; "" starts from random weights.
    training.init_from = ""
    # With init_from: the first N convolution blocks of the discriminator keep the copied
    # weights (FreezeD), and optim's learning rates are multiplied by init_lr_scale.
    training.freeze_d_layers = 0
    training.init_lr_scale = 1.0

    config.runtime = runtime = ml_collections.ConfigDict()
    runtime.distribute = "default"  # default | mirrored | multi_worker | tpu
    runtime.virtual_cpu_devices = 0  # split the CPU into N logical devices (tests, dry runs)
    runtime.sync_batch_norm = False
    return config
