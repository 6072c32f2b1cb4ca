"""Train the small CNN whose features and logits score generators of a labelled data set.

    python -m dcgan.classifier --config=configs/fashion_mnist.py \\
        --output=runs/classifiers/fashion_mnist.keras

It trains on the config's `data.source` training images with their labels, reports the
accuracy on held-out images and saves a plain Keras model (inputs float32 in [-1, 1], like the
generator's output) whose layer "features" gives the features for the Frechet and kernel
distances and whose output gives the logits of the classifier score. Use it with
`--config.training.eval_features=PATH` when training, or `dcgan-evaluate --features=PATH`.

The held-out images are the test split; a source without one (a folder of pictures) holds out
its `data.holdout` images, the same ones a run of that config never trains on. With neither,
there is nothing to test on: the accuracy reported is on the training images, and says so.
"""

import functools
import logging
import os
import sys

from absl import flags
from ml_collections import config_flags

from dcgan import cli, files, pixels
from dcgan.data import sources

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file(
    "config", None, "Preset file in configs/ naming the data set; override fields as "
    "--config.data.source=idx:DIR.", lock_config=True)
flags.DEFINE_string("output", None, "Where to save the classifier (a .keras file).")
flags.DEFINE_integer("epochs", 5, "Passes over the training split.")
flags.DEFINE_integer("batch_size", 128, "Images per training step.")
flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate.")

log = logging.getLogger("dcgan")


def build_classifier(image_size, channels, num_classes):
    """Two conv blocks, a 128-unit layer named "features", then the class logits."""
    import keras
    from keras import layers

    from dcgan.quality.features import FEATURE_LAYER

    inputs = keras.Input((image_size, image_size, channels), name="images")
    x = inputs
    for width in (32, 64):
        x = layers.Conv2D(width, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    features = layers.Dense(128, activation="relu", name=FEATURE_LAYER)(x)
    # Dropout acts only in training, so the features are deterministic at evaluation.
    x = layers.Dropout(0.3)(features)
    logits = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name="classifier")


def _dataset(images, labels, batch_size, shuffle_seed=None):
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((images, labels))
    if shuffle_seed is not None:
        data = data.shuffle(len(images), seed=shuffle_seed, reshuffle_each_iteration=True)
    return data.batch(batch_size).map(
        lambda x, y: (pixels.to_model_range(x), y)).prefetch(2)


def check_labels(train_labels, test_labels, source):
    """The number of classes; UserError unless the labels are usable class indices (loading
    has refused a source without labels, and negative ones)."""
    from dcgan.errors import UserError

    num_classes = int(train_labels.max()) + 1
    if num_classes < 2:
        raise UserError(f"data.source {source}: all training labels are {num_classes - 1}; "
                        "a classifier needs at least two classes")
    if test_labels is not None and len(test_labels) and (
            test_labels.min() < 0 or test_labels.max() >= num_classes):
        raise UserError(f"data.source {source}: test labels fall outside the training "
                        f"labels 0..{num_classes - 1}")
    return num_classes


def train_classifier(train, test, epochs, batch_size=128, learning_rate=1e-3, seed=0,
                     verbose=0):
    """Fits a classifier to labelled uint8 images.

    Args:
        train: (images uint8 (N, S, S, C), int labels (N,)) to learn from.
        test: (images, labels) held out, for the accuracy reported; None if there are none.
        epochs, batch_size, learning_rate: the usual.
        seed: seeds the weights and the data order.
        verbose: Keras' fit verbosity.

    Returns:
        (model, report) where report holds the train (and test) accuracy.
    """
    import keras

    x_train, y_train = train
    num_classes = check_labels(y_train, None if test is None else test[1], "the data")
    keras.utils.set_random_seed(seed)
    model = build_classifier(x_train.shape[1], x_train.shape[3], num_classes)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    history = model.fit(_dataset(x_train, y_train, batch_size, shuffle_seed=seed),
                        epochs=epochs, verbose=verbose, shuffle=False)
    report = {"num_classes": num_classes, "epochs": epochs,
              "train_accuracy": float(history.history["accuracy"][-1]),
              "train_images": len(x_train)}
    if test is not None:
        _, test_accuracy = model.evaluate(_dataset(*test, 512), verbose=0)
        report.update(test_accuracy=float(test_accuracy), test_images=len(test[0]))
    return model, report


def save(model, report, path):
    """The model at `path` and, next to it, PATH-without-.keras.json with the report."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    model.save(path)
    files.write_json_atomically(os.path.splitext(path)[0] + ".json", report)


def _accuracy_line(report, source):
    from dcgan.quality import features

    if "test_accuracy" not in report:
        return (f"training accuracy {report['train_accuracy']:.4f} on its own "
                f"{report['train_images']} training images; nothing to test on: {source} has no "
                "test split and data.holdout=0 (set --config.data.holdout=N to hold N out)")
    tested_on = features.describe_reference(report["tested_on"], report["test_images"])
    return (f"test accuracy {report['test_accuracy']:.4f} on {tested_on} "
            f"(train {report['train_accuracy']:.4f})")


def main(argv):
    del argv  # run_app has refused stray arguments
    config = cli.require_config(FLAGS, "config", sources.rule())
    output = FLAGS.output
    if not output:
        raise cli.UserError("--output is required, e.g. --output=runs/classifiers/mnist.keras")
    if not output.endswith(".keras"):
        raise cli.UserError(f"--output={output} must end in .keras (the Keras model format)")
    if FLAGS.epochs < 1 or FLAGS.batch_size < 1:
        raise cli.UserError("--epochs and --batch_size must be positive")
    try:
        os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    except OSError as e:
        raise cli.UserError(f"cannot create the folder of --output={output} "
                            f"({e.strerror})") from None

    from dcgan.quality import features  # TensorFlow loads here, after the cheap checks

    data = config.data
    log.info("loading %s", data.source)
    train, test, tested_on = features.split_images(data, config.seed, with_labels=True)
    if tested_on == features.TRAINING:
        test = None  # the "test" images would be the training images again
    check_labels(train[1], None if test is None else test[1], data.source)
    log.info("training on %d images, testing on %s, %d epoch(s)", len(train[0]),
             "none" if test is None else len(test[0]), FLAGS.epochs)
    model, report = train_classifier(
        train, test, FLAGS.epochs, FLAGS.batch_size, FLAGS.learning_rate, seed=config.seed,
        verbose=1 if sys.stdout.isatty() else 2)
    report.update(source=data.source, image_size=data.image_size, channels=data.channels,
                  tested_on=tested_on)
    try:
        save(model, report, output)
    except OSError as e:
        raise cli.UserError(f"cannot write --output={output} ({e.strerror})") from None
    print(f"{_accuracy_line(report, data.source)}\nsaved {output}; use it with "
          f"--config.training.eval_features={output} or dcgan-evaluate --features={output}")
    return 0


# The console script's entry point; run_app exits with the command's status.
run = functools.partial(cli.run_app, main)

if __name__ == "__main__":
    run()
