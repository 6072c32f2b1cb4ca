"""The Keras world's reference for small picture sets, trained and scored beside this project.

A port of the keras-io example "Data-efficient GANs with Adaptive Discriminator Augmentation"
(examples/generative/gan_ada.py) with its published settings: 64 px DCGAN networks of a
constant width (128) and depth (4), batch norm without a learnt scale, a sigmoid output, noise
of 64; batches of 128, Adam 2e-4 with beta1 0.5 for both networks, one simultaneous update of
both from one forward pass; the generator's weights averaged (EMA 0.99); every picture D sees,
real or generated, flipped, translated, rotated and zoomed with a probability p that grows
while D is right about more than 80% of the real pictures (p moves by the error / 1000 per step).
Its KID tracker is left out: the score is this project's.

What differs is only what feeds and stops it: the pictures come from the project's own data
path (decoded, cropped and held out exactly as `dcgan.main` does for the same --source,
--holdout, --max_images and --seed), training stops at --num_steps or --max_seconds, and the
averaged generator is scored as `dcgan.evaluate` scores a run: --num_samples samples against
the held-out pictures, in the features of --features (default: the fixed random network). So

    python scripts/keras_ada.py --source=folder:~/icons/papirus64 --holdout=100 \\
        --max_images=200 --max_seconds=600 --workdir=runs/keras_ada/n200

gives a Frechet distance and recall comparable with those of a `dcgan.main` run on the same
folder with data.holdout=100, data.max_images=200, the same seed and `dcgan.evaluate
--features=random --num_samples=2000`.

The workdir gets samples/step_NNNNNN.png (64 averaged-generator samples of fixed noise, every
--sample_every steps and at the end), metrics.jsonl (losses, D's accuracy on real and
generated pictures, p and images/s every --log_every steps), generator.keras (the averaged
generator, noise (B, 64) -> pictures in [-1, 1], this project's range) and eval.json (the
scores, in dcgan.evaluate's layout, plus the steps and seconds trained).

Seconds are those of the training loop, the first call (tracing) left out, as
training.max_seconds counts them.
"""

import json
import os
import sys
import time

from absl import flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # configs/ and dcgan/ when run from anywhere
from dcgan import cli, config_check  # noqa: E402
from dcgan.errors import UserError  # noqa: E402

FLAGS = flags.FLAGS

# The example's settings.
IMAGE_SIZE = 64
CHANNELS = 3
NOISE_SIZE = 64
DEPTH = 4
LEAKY_SLOPE = 0.2
DROPOUT = 0.4
LEARNING_RATE = 2e-4
BETA1 = 0.5
EMA = 0.99
MAX_TRANSLATION = 0.125  # of the side
MAX_ROTATION = 0.125  # of a full turn: up to 45 degrees either way
MAX_ZOOM = 0.25  # zooming in only, each axis on its own
TARGET_ACCURACY = 0.8
INTEGRATION_STEPS = 1000
GRID_IMAGES = 64
# The generated pictures' latents for the grids: one draw for every grid of a run.
GRID_NOISE_SEED = 1234
# How the project's config fields are spelt as this script's flags, in the messages of the
# checks shared with dcgan.main.
FLAG_NAMES = {"data.source": "--source", "data.holdout": "--holdout",
              "data.max_images": "--max_images", "training.batch_size": "--batch_size",
              "data.cache_dir": "--cache_dir"}


def define_flags():
    flags.DEFINE_string("source", None, "The pictures, as data.source: folder:DIR (or any "
                        "source dcgan.main reads); made 64x64 RGB as dcgan.main makes them.")
    flags.DEFINE_string("workdir", None, "A new or empty folder for the grids, the log, the "
                        "generator and the scores.")
    flags.DEFINE_integer("holdout", 20, "Pictures held out of training and scored against "
                         "(data.holdout: the same draw as a dcgan.main run of the same seed).")
    flags.DEFINE_integer("max_images", 0, "Train on this many of the rest (data.max_images; 0: "
                         "all).")
    flags.DEFINE_integer("seed", 0, "Seed of the held-out draw, the data order and the networks.")
    flags.DEFINE_float("max_seconds", 600.0, "Stop after this many seconds of training (0: no "
                       "limit).")
    flags.DEFINE_integer("num_steps", 100_000, "Stop after this many steps.")
    flags.DEFINE_integer("width", 128, "Filters of every layer of both networks (the example's "
                         "128; smaller for tests).")
    flags.DEFINE_integer("batch_size", 128, "Pictures per step (the example's 128).")
    flags.DEFINE_integer("log_every", 100, "Steps between lines of metrics.jsonl.")
    flags.DEFINE_integer("sample_every", 0, "Steps between sample grids (0: at the end only).")
    flags.DEFINE_integer("num_samples", 2000, "Generated pictures scored, as dcgan.evaluate's "
                         "--num_samples.")
    flags.DEFINE_string("features", config_check.RANDOM, "Features the score is computed in, as "
                        "dcgan.evaluate's --features.")
    flags.DEFINE_string("cache_dir", "", "data.cache_dir: where decoded pictures are cached.")


# --- the example's networks ---------------------------------------------------------------


def build_generator(width):
    """Noise (B, 64) -> pictures (B, 64, 64, 3) in [0, 1]: a 4x4 projection, then three
    stride-2 transposed convolutions of `width` filters and a fourth to the three colours."""
    import keras
    from keras import layers

    def normalised_relu(x):
        return layers.ReLU()(layers.BatchNormalization(scale=False)(x))

    noise = keras.Input(shape=(NOISE_SIZE,))
    x = normalised_relu(layers.Dense(4 * 4 * width, use_bias=False)(noise))
    x = layers.Reshape((4, 4, width))(x)
    for _ in range(DEPTH - 1):
        x = normalised_relu(layers.Conv2DTranspose(width, 4, strides=2, padding="same",
                                                   use_bias=False)(x))
    pictures = layers.Conv2DTranspose(CHANNELS, 4, strides=2, padding="same",
                                      activation="sigmoid")(x)
    return keras.Model(noise, pictures, name="generator")


def build_discriminator(width):
    """Pictures (B, 64, 64, 3) in [0, 1] -> logits (B, 1): four stride-2 convolutions of
    `width` filters with batch norm (no learnt scale) and LeakyReLU(0.2), dropout 0.4, a
    dense logit."""
    import keras
    from keras import layers

    pictures = keras.Input(shape=(IMAGE_SIZE, IMAGE_SIZE, CHANNELS))
    x = pictures
    for _ in range(DEPTH):
        x = layers.Conv2D(width, 4, strides=2, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(scale=False)(x)
        x = layers.LeakyReLU(negative_slope=LEAKY_SLOPE)(x)
    x = layers.Dropout(DROPOUT)(layers.Flatten()(x))
    return keras.Model(pictures, layers.Dense(1)(x), name="discriminator")


class AdaptiveAugmenter:
    """The example's augmentation: each picture is replaced, with probability p, by a copy
    flipped, shifted, turned and zoomed by Keras' random image layers (differentiable, so G
    learns through them); p follows D's accuracy on real pictures towards TARGET_ACCURACY."""

    def __init__(self):
        import keras
        import tensorflow as tf
        from keras import layers

        self.p = tf.Variable(0.0, trainable=False, name="augment_p")
        self.layers = keras.Sequential([
            layers.RandomFlip("horizontal"),
            layers.RandomTranslation(MAX_TRANSLATION, MAX_TRANSLATION, interpolation="nearest"),
            layers.RandomRotation(MAX_ROTATION),
            layers.RandomZoom((-MAX_ZOOM, 0.0), (-MAX_ZOOM, 0.0)),
        ], name="adaptive_augmenter")

    def __call__(self, pictures):
        import tensorflow as tf

        changed = self.layers(pictures, training=True)
        chosen = tf.random.uniform([tf.shape(pictures)[0], 1, 1, 1]) < self.p
        return tf.where(chosen, changed, pictures)

    def update(self, real_logits):
        """Integral control: p += (accuracy on real pictures - target) / INTEGRATION_STEPS."""
        import tensorflow as tf

        accuracy = tf.reduce_mean(tf.cast(real_logits > 0, tf.float32))
        self.p.assign(tf.clip_by_value(self.p + (accuracy - TARGET_ACCURACY) /
                                       INTEGRATION_STEPS, 0.0, 1.0))


class KerasAda:
    """The two networks, the averaged generator, the optimizers and the training step."""

    def __init__(self, width, batch_size):
        import keras

        self.batch_size = batch_size
        self.generator = build_generator(width)
        # The example clones the generator's architecture, with weights of its own
        # initialisation, and lets the average pull them towards the trained ones.
        self.ema_generator = build_generator(width)
        self.discriminator = build_discriminator(width)
        self.augmenter = AdaptiveAugmenter()
        self.g_optimizer = keras.optimizers.Adam(LEARNING_RATE, beta_1=BETA1)
        self.d_optimizer = keras.optimizers.Adam(LEARNING_RATE, beta_1=BETA1)
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)

    def make_step(self):
        """A tf.function of one step on a batch of real pictures in [0, 1]; returns its
        metrics."""
        import keras
        import tensorflow as tf

        g, d, ema_g, augment = self.generator, self.discriminator, self.ema_generator, \
            self.augmenter
        batch = self.batch_size

        def step(real):
            real = augment(real)  # outside the tape: D's input only
            with tf.GradientTape(persistent=True) as tape:
                fake = augment(g(tf.random.normal([batch, NOISE_SIZE]), training=True))
                # Two passes, so batch norm sees real and generated pictures apart.
                real_logits = d(real, training=True)
                fake_logits = d(fake, training=True)
                ones, zeros = tf.ones_like(real_logits), tf.zeros_like(fake_logits)
                g_loss = tf.reduce_mean(keras.losses.binary_crossentropy(
                    ones, fake_logits, from_logits=True))
                d_loss = tf.reduce_mean(keras.losses.binary_crossentropy(
                    tf.concat([ones, zeros], 0), tf.concat([real_logits, fake_logits], 0),
                    from_logits=True))
            g_grads = tape.gradient(g_loss, g.trainable_weights)
            d_grads = tape.gradient(d_loss, d.trainable_weights)
            del tape
            self.g_optimizer.apply_gradients(zip(g_grads, g.trainable_weights, strict=True))
            self.d_optimizer.apply_gradients(zip(d_grads, d.trainable_weights, strict=True))
            augment.update(real_logits)
            # Every weight, batch norm's moving statistics too.
            for weight, average in zip(g.weights, ema_g.weights, strict=True):
                average.assign(EMA * average + (1 - EMA) * weight)
            return {"g_loss": g_loss, "d_loss": d_loss,
                    "real_accuracy": tf.reduce_mean(tf.cast(real_logits > 0, tf.float32)),
                    "generated_accuracy": tf.reduce_mean(tf.cast(fake_logits < 0, tf.float32)),
                    "augment_p": tf.identity(augment.p)}

        return tf.function(step)

    def scored_generator(self):
        """The averaged generator with its [0, 1] pictures mapped to [-1, 1], the range this
        project's samplers, grids and scorer take."""
        import keras

        noise = keras.Input(shape=(NOISE_SIZE,))
        pictures = keras.layers.Rescaling(2.0, offset=-1.0)(self.ema_generator(noise))
        return keras.Model(noise, pictures, name="keras_ada_generator")


# --- the run ------------------------------------------------------------------------------


def data_config(flag_values):
    """The project's config of the pictures these flags ask for, checked as dcgan.main checks
    it (names in the messages spelt as this script's flags)."""
    from configs import default

    config = default.get_config()
    config.seed = flag_values.seed
    config.data.source = flag_values.source
    config.data.image_size, config.data.channels = IMAGE_SIZE, CHANNELS
    config.data.holdout = flag_values.holdout
    config.data.max_images = flag_values.max_images
    config.data.cache_dir = flag_values.cache_dir
    config.training.batch_size = flag_values.batch_size
    try:
        config_check.check_config(config, origin="the flags")
        from dcgan.run import start_check

        start_check.check_before_start(config, None, allow_new_data=False)
    except UserError as e:
        message = str(e)
        for field, flag in FLAG_NAMES.items():
            message = message.replace(field, flag)
        raise UserError(message) from None
    return config


def check_flags(flag_values):
    """The first problem of the flags that needs no data, or None."""
    if not flag_values.source:
        return "--source is required: the pictures, e.g. --source=folder:~/Pictures/cats"
    if not flag_values.workdir:
        return "--workdir is required: a new folder for the grids, the log and the scores"
    root = flag_values.workdir
    if os.path.exists(root) and (not os.path.isdir(root) or os.listdir(root)):
        return f"--workdir={root} is not a new or empty folder; choose another"
    if flag_values.holdout < config_check.MIN_SCORING_SAMPLES:
        return (f"--holdout={flag_values.holdout}: the score needs at least "
                f"{config_check.MIN_SCORING_SAMPLES} held-out pictures")
    if flag_values.num_samples < config_check.MIN_SCORING_SAMPLES:
        return f"--num_samples must be at least {config_check.MIN_SCORING_SAMPLES}"
    for name in ("num_steps", "width", "batch_size", "log_every"):
        if flag_values[name].value < 1:
            return f"--{name}={flag_values[name].value} must be at least 1"
    if flag_values.max_seconds < 0 or flag_values.sample_every < 0:
        return "--max_seconds and --sample_every must be 0 (off) or positive"
    return config_check.missing_features(flag_values.features) or None


def unit_range(pictures):
    """[-1, 1], the project's range, -> [0, 1], the example's."""
    return (pictures + 1.0) / 2.0


def train(model, images, config, flag_values, run_dir, record):
    """Train until --num_steps or --max_seconds; returns (steps, seconds trained)."""
    import numpy as np
    import tensorflow as tf

    from dcgan import visualize
    from dcgan.data import input_pipeline

    batches = input_pipeline.make_dataset(images, flag_values.batch_size, config.seed)
    batches = iter(batches.map(unit_range))
    step_fn = model.make_step()
    scored = model.scored_generator()
    grid_noise = np.random.default_rng(GRID_NOISE_SEED).standard_normal(
        (GRID_IMAGES, NOISE_SIZE)).astype(np.float32)

    def save_grid(step):
        visualize.save_grid(scored(grid_noise, training=False).numpy(),
                            run_dir.sample_grid(step))

    step, seconds, started = 0, 0.0, None
    pending, timed, since = [], 0, None
    while step < flag_values.num_steps and not (
            flag_values.max_seconds and seconds >= flag_values.max_seconds):
        pending.append(step_fn(next(batches)))
        step += 1
        if started is None:  # the first call traces: not training, so the clock starts after it
            started = since = time.monotonic()
        else:
            timed += 1
        seconds = time.monotonic() - started
        last = step >= flag_values.num_steps or bool(
            flag_values.max_seconds and seconds >= flag_values.max_seconds)
        if step % flag_values.log_every == 0 or last:
            means = {name: float(tf.reduce_mean([m[name] for m in pending]))
                     for name in pending[0]}
            line = {"step": step, "seconds": round(seconds, 2), **means}
            now = time.monotonic()
            if timed:
                line["images_per_sec"] = timed * flag_values.batch_size / (now - since)
            record.write(json.dumps(line) + "\n")
            record.flush()
            print(f"step {step}: {seconds:.0f} s, d_loss {means['d_loss']:.3f}, g_loss "
                  f"{means['g_loss']:.3f}, p {means['augment_p']:.3f}", flush=True)
            pending, timed, since = [], 0, now
        if (flag_values.sample_every and step % flag_values.sample_every == 0) or last:
            save_grid(step)
    return step, seconds


def score(model, config, flag_values):
    """dcgan.evaluate's scores of the averaged generator against the held-out pictures."""
    from dcgan.quality import features

    extractor = features.load_extractor(flag_values.features, IMAGE_SIZE, CHANNELS)
    real, _, kind = features.reference_images(config.data, flag_values.num_samples, config.seed)
    scorer = features.Scorer(extractor, real, flag_values.num_samples, NOISE_SIZE, config.seed,
                             show_progress=True)
    return scorer.score(model.scored_generator()), scorer.num_real, kind, extractor.name


def main(argv):
    del argv  # run_app has refused stray arguments
    problem = check_flags(FLAGS)
    if problem:
        raise UserError(problem)
    config = data_config(FLAGS)
    import keras

    from dcgan import files
    from dcgan.data import sources
    from dcgan.run.workdir import RunDir
    from dcgan.training import train as dcgan_train

    # Decoded, held out and thinned as dcgan.main does.
    data = dcgan_train.TrainingData(config, sources.parse(config.data.source))
    print(f"{len(data.images)} training pictures, {len(data.held_out)} held out", flush=True)
    keras.utils.set_random_seed(config.seed)
    model = KerasAda(FLAGS.width, FLAGS.batch_size)
    run_dir = RunDir(FLAGS.workdir)
    os.makedirs(run_dir.samples, exist_ok=True)
    with open(run_dir.metrics, "w") as record:
        steps, seconds = train(model, data.images, config, FLAGS, run_dir, record)
    del data
    model.scored_generator().save(os.path.join(FLAGS.workdir, "generator.keras"))
    metrics, num_real, kind, feature_name = score(model, config, FLAGS)
    result = {"peer": "keras-io gan_ada.py", "step": steps, "seconds": seconds,
              "steps_per_sec": steps / seconds if seconds else None,
              "augment_p": float(model.augmenter.p.numpy()), "width": FLAGS.width,
              "batch_size": FLAGS.batch_size, "source": FLAGS.source, "seed": FLAGS.seed,
              "holdout": FLAGS.holdout, "max_images": FLAGS.max_images,
              "num_samples": FLAGS.num_samples, "num_real": num_real, "real_images": kind,
              "features": feature_name, "metrics": metrics}
    files.write_json_atomically(run_dir.eval_results, result)
    print(f"step {steps} ({seconds:.0f} s): fid {metrics['fid']:.4g}, recall "
          f"{metrics['recall']:.3f}, precision {metrics['precision']:.3f}; wrote "
          f"{run_dir.eval_results}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    define_flags()
    cli.run_app(main)
