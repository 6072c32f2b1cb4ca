"""Training speed: this project's step against the TensorFlow DCGAN tutorial's loop.

Both run in this one process, on the same device, model and batch, in alternating rounds so
that a noisy shared machine slows both alike. Then, optionally, end-to-end steps/s through the
real `dcgan.main` on local data, so input-pipeline costs count.

    python scripts/benchmark.py                       # step benchmark, default precision
    python scripts/benchmark.py --precision=float32 --jit_compile
    python scripts/benchmark.py --end_to_end_source=idx:/usr/share/datasets/fashion-mnist
    python scripts/benchmark.py --preset=fashion_mnist   # the default preset's own networks
    python scripts/benchmark.py --preset=fashion_mnist --augment=translation,color,cutout
    python scripts/benchmark.py --preset=folder128 --augment=translation,color,cutout
    python scripts/benchmark.py --preset=folder64 --batch_size=16 \
        --variant=model.skip_excitation=True

A preset of other images (RGB, 32 to 128 px, class-conditional) has no tutorial to race: with
--augment it times its own step with and without augmentation, with --variant its own step as
it is and with the variant's fields set.
"""

import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags  # noqa: E402

from dcgan import cli  # noqa: E402

FLAGS = flags.FLAGS


def define_flags():
    """The command line; only when run as a script."""
    flags.DEFINE_integer("batch_size", 256, "Global batch, the tutorial's 256 by default.")
    flags.DEFINE_integer("rounds", 5, "Alternating timed rounds per contender.")
    flags.DEFINE_integer("steps_per_round", 10, "Training steps per timed round.")
    flags.DEFINE_string("preset", "mnist_tutorial", "Preset in configs/ whose networks, optimizers "
                        "and EMA this project trains: mnist_tutorial races the tutorial's own "
                        "networks; fashion_mnist times the default preset's.")
    flags.DEFINE_string("precision", "auto", "This project's training.precision.")
    flags.DEFINE_bool("jit_compile", False, "This project's training.jit_compile.")
    flags.DEFINE_integer("steps_per_call", 1, "This project's training.steps_per_call.")
    flags.DEFINE_string("augment", "", "Also time this project's step with training.augment set "
                        "to this (e.g. translation,color,cutout; p=1), in the same rounds.")
    flags.DEFINE_multi_string("variant", [], "FIELD=VALUE: also time this project's step with "
                              "these config fields set (e.g. model.skip_excitation=True), in "
                              "the same rounds.")
    flags.DEFINE_string("end_to_end_source", "", "data.source for an end-to-end dcgan.main run.")
    flags.DEFINE_integer("end_to_end_steps", 60, "Steps of the end-to-end run.")
    flags.DEFINE_string("json", "", "Also write the results to this JSON file.")


def tutorial_contender(images, batch_size):
    """The tutorial's loop as published: float32, plain tf.function, 60,000-image shuffle."""
    import tensorflow as tf

    from dcgan import models, pixels

    generator = models.build_generator(28, 1, 100, 64, 5)  # the tutorial's exact architecture
    discriminator = models.build_discriminator(28, 1, 64, 5)
    cross_entropy = tf.keras.losses.BinaryCrossentropy(from_logits=True)
    generator_optimizer = tf.keras.optimizers.Adam(1e-4)
    discriminator_optimizer = tf.keras.optimizers.Adam(1e-4)

    @tf.function
    def train_step(batch):
        noise = tf.random.normal([batch_size, 100])
        with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
            generated_images = generator(noise, training=True)
            real_output = discriminator(batch, training=True)
            fake_output = discriminator(generated_images, training=True)
            gen_loss = cross_entropy(tf.ones_like(fake_output), fake_output)
            disc_loss = (cross_entropy(tf.ones_like(real_output), real_output)
                         + cross_entropy(tf.zeros_like(fake_output), fake_output))
        gradients_of_generator = gen_tape.gradient(gen_loss, generator.trainable_variables)
        gradients_of_discriminator = disc_tape.gradient(
            disc_loss, discriminator.trainable_variables)
        generator_optimizer.apply_gradients(
            zip(gradients_of_generator, generator.trainable_variables, strict=True))
        discriminator_optimizer.apply_gradients(
            zip(gradients_of_discriminator, discriminator.trainable_variables, strict=True))
        return gen_loss

    scaled = pixels.to_model_range(images)
    dataset = tf.data.Dataset.from_tensor_slices(scaled).shuffle(60_000).batch(batch_size)
    iterator = iter(dataset.repeat())

    def run(steps):
        for _ in range(steps):
            loss = train_step(next(iterator))
        loss.numpy()

    return run


def races_tutorial(config):
    """Whether the tutorial's unconditional 28x28x1 loop can run on the preset's data."""
    return ((config.data.image_size, config.data.channels) == (28, 1)
            and not config.model.conditional)


def load_preset(name):
    """The preset's config; exits with one line if it can neither race the tutorial nor time
    its augmentation."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if not os.path.exists(os.path.join(root, "configs", f"{name}.py")):
        sys.exit(f"error: --preset={name}: there is no configs/{name}.py; name a file there")
    config = importlib.import_module(f"configs.{name}").get_config()
    if not races_tutorial(config) and not FLAGS.augment and not FLAGS.variant:
        what = ("is class-conditional" if config.model.conditional else
                f"trains {config.data.image_size}x{config.data.image_size}x"
                f"{config.data.channels} images")
        sys.exit(f"error: --preset={name} {what}; the tutorial race needs an unconditional "
                 "28x28x1 preset such as fashion_mnist (add --augment=POLICIES to time this "
                 "preset's augmentation, or --variant=FIELD=VALUE a variant of it, instead)")
    return config


def variant_config(preset, overrides):
    """The preset with the FIELD=VALUE `overrides` set, each checked; exits with one line if
    one names no field, has a value of the wrong type or breaks a config rule."""
    from dcgan import config_check
    from dcgan.errors import UserError
    from dcgan.measure import comparison

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        config = comparison.load_preset(os.path.join(root, "configs", f"{preset}.py"),
                                        overrides)
        config_check.check_config(config, origin="--variant")
    except UserError as e:
        sys.exit(f"error: --variant: {e}")
    return config


def end_to_end(preset, source, steps, batch_size, precision_name):
    """Steps/s of a real `python -m dcgan.main` run, reported by its own metrics.jsonl."""
    from dcgan.run import run_record

    with tempfile.TemporaryDirectory() as workdir:
        log_every = max(1, steps // 6)
        args = [sys.executable, "-m", "dcgan.main", f"--config=configs/{preset}.py",
                f"--workdir={workdir}", f"--config.data.source={source}",
                f"--config.training.num_steps={steps}",
                f"--config.training.batch_size={batch_size}",
                f"--config.training.precision={precision_name}",
                f"--config.training.log_every_steps={log_every}",
                f"--config.training.sample_every_steps={steps}",
                f"--config.training.checkpoint_every_steps={steps}"]
        start = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True,
                       cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        wall = time.perf_counter() - start
        records = run_record.read_metrics(workdir)
    # The first interval includes tracing; the rest is the steady state.
    steady = [r["images_per_sec"] for r in records[1:]] or [records[0]["images_per_sec"]]
    return {"steady_images_per_sec": statistics.median(steady),
            "steady_steps_per_sec": statistics.median(steady) / batch_size,
            "wall_seconds_including_startup": wall}


def main(argv):
    del argv
    config = load_preset(FLAGS.preset)
    variant = variant_config(FLAGS.preset, FLAGS.variant) if FLAGS.variant else None
    import numpy as np
    import tensorflow as tf

    from dcgan import files
    from dcgan.measure import step_timing

    rng = np.random.default_rng(0)
    race = races_tutorial(config)
    size, channels = config.data.image_size, config.data.channels
    images = rng.integers(0, 256, size=(60_000 if race else 4096, size, size, channels),
                          dtype=np.uint8)
    contenders = {"tutorial": tutorial_contender(images, FLAGS.batch_size)} if race else {}
    contenders["dcgan"], policy = step_timing.step_runner(
        config, images, FLAGS.batch_size, FLAGS.precision, FLAGS.jit_compile,
        FLAGS.steps_per_call)
    if FLAGS.augment:  # the same step with D's inputs augmented, in the same rounds
        augmented = config.copy_and_resolve_references()
        augmented.training.augment = FLAGS.augment
        augmented.training.augment_p = 1.0
        contenders["dcgan+augment"], _ = step_timing.step_runner(
            augmented, images, FLAGS.batch_size, FLAGS.precision, FLAGS.jit_compile,
            FLAGS.steps_per_call)
    if variant is not None:  # the same step with the variant's fields, in the same rounds
        contenders["dcgan+variant"], _ = step_timing.step_runner(
            variant, images, FLAGS.batch_size,
            FLAGS.precision, FLAGS.jit_compile, FLAGS.steps_per_call)
    steps = max(FLAGS.steps_per_round, FLAGS.steps_per_call)
    rates, cpu_rates = step_timing.time_alternating(contenders, FLAGS.rounds, steps)
    device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    result = {
        "device": device, "preset": FLAGS.preset, "image_size": size, "channels": channels,
        "batch_size": FLAGS.batch_size, "precision": policy,
        "jit_compile": FLAGS.jit_compile, "steps_per_call": FLAGS.steps_per_call,
        "load_average": os.getloadavg()[0],
    }
    for name in contenders:
        result[f"{name}_images_per_sec"] = rates[name] * FLAGS.batch_size
        result[f"{name}_images_per_cpu_sec"] = cpu_rates[name] * FLAGS.batch_size
    if race:
        result["speedup"] = rates["dcgan"] / rates["tutorial"]
        result["speedup_cpu_time"] = cpu_rates["dcgan"] / cpu_rates["tutorial"]
    if FLAGS.augment:
        result["augment"] = FLAGS.augment
        result["augment_cost"] = rates["dcgan+augment"] / rates["dcgan"]
    if FLAGS.variant:
        result["variant"] = list(FLAGS.variant)
        result["variant_cost"] = rates["dcgan+variant"] / rates["dcgan"]
        result["variant_cost_cpu_time"] = cpu_rates["dcgan+variant"] / cpu_rates["dcgan"]
    if FLAGS.end_to_end_source:
        result["end_to_end"] = end_to_end(FLAGS.preset, FLAGS.end_to_end_source,
                                          FLAGS.end_to_end_steps,
                                          FLAGS.batch_size, FLAGS.precision)
    print(f"{'contender':<14}{'images/s':>12}{'images/cpu-s':>14}")
    for name in contenders:
        print(f"{name:<14}{result[f'{name}_images_per_sec']:>12.0f}"
              f"{result[f'{name}_images_per_cpu_sec']:>14.0f}")
    print(f"dcgan: {FLAGS.preset} ({size}x{size}x{channels}), {policy}, "
          f"jit={FLAGS.jit_compile}, steps/call={FLAGS.steps_per_call}; {device}, "
          f"batch {FLAGS.batch_size}, load average {result['load_average']:.1f}")
    if race:
        print(f"speedup {result['speedup']:.2f}x wall clock, "
              f"{result['speedup_cpu_time']:.2f}x CPU time")
    if FLAGS.augment:
        print(f"with augment={FLAGS.augment} (p=1): "
              f"{result['dcgan+augment_images_per_sec']:.0f} images/s, "
              f"{result['augment_cost']:.2f}x the unaugmented step's rate")
    if FLAGS.variant:
        print(f"with {', '.join(FLAGS.variant)}: {result['dcgan+variant_images_per_sec']:.0f} "
              f"images/s, {result['variant_cost']:.2f}x the preset's rate "
              f"({result['variant_cost_cpu_time']:.2f}x by CPU time)")
    if "end_to_end" in result:
        e2e = result["end_to_end"]
        print(f"end to end (dcgan.main): {e2e['steady_images_per_sec']:.0f} images/s, "
              f"{e2e['steady_steps_per_sec']:.2f} steps/s")
    print(json.dumps(result))
    if FLAGS.json:
        files.write_json_atomically(FLAGS.json, result, sort_keys=False)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    define_flags()
    cli.run_app(main)
