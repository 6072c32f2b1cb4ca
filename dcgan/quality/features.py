"""Feature extractors for the sample-quality metrics, and the scoring that training and
`dcgan.evaluate` share.

An extractor maps float32 images in [-1, 1] (the generator's range) to (features, logits),
logits None where there are no classes:

- a classifier saved by `python -m dcgan.classifier`: the output of its layer named
  "features" and its logits. It knows the data set, so it suits MNIST-like grey images.
- "random": a fixed random convolutional network (quality/random_features), the same on every
  machine, needing no download: a yardstick for one's own RGB pictures. No logits.
- "inception": Keras' InceptionV3 with ImageNet weights (downloaded once to
  $KERAS_HOME/models), or "inception:PATH" with a local copy of the same file, checked by its
  MD5: the 2048 pool features and the ImageNet logits.
"""

import json
import logging
import os
import zipfile

import numpy as np
import tensorflow as tf

from dcgan import config_check, pixels, progress, seeds
from dcgan.data import input_pipeline, sources
from dcgan.errors import UserError, first_line
from dcgan.quality import metrics, per_class, random_features

log = logging.getLogger("dcgan")

INCEPTION = config_check.INCEPTION
RANDOM = config_check.RANDOM
CLASSIFIER = "classifier"
FEATURE_LAYER = "features"
INCEPTION_WEIGHTS = config_check.INCEPTION_WEIGHTS
INCEPTION_SIZE = 299
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


class Extractor:
    """Calls a Keras model in batches; `name` says which features these are (the spec that
    loaded them), `kind` what made them: CLASSIFIER, RANDOM or INCEPTION."""

    def __init__(self, name, model, input_shape, description, kind=None):
        self.name = name
        self.kind = kind or CLASSIFIER
        self.input_shape = input_shape  # (H, W, C) the images must have, or None for any
        self.description = description
        self._call = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    def __call__(self, images):
        feats, logits = self._call(tf.convert_to_tensor(images, tf.float32))
        return feats.numpy(), None if logits is None else logits.numpy()


def classifier_info(path):
    """What `dcgan.classifier` recorded next to a saved classifier, or {}."""
    try:
        with open(os.path.splitext(path)[0] + ".json") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def load_extractor(spec, image_size, channels):
    """The extractor named by `spec`: a saved classifier's path, "random", "inception" or
    "inception:PATH" (config_check.FEATURE_SPECS).

    Raises:
        UserError: empty spec, missing or unreadable file, a model without a "features"
            layer or made for other images, inception weights that cannot be had or a local
            weights file that is not Keras' InceptionV3 ImageNet file.
    """
    if not spec:
        raise UserError("no feature extractor: set training.eval_features (or --features) to "
                        f"{config_check.FEATURE_SPECS}")
    if spec == RANDOM:
        return _random()
    weights = config_check.inception_weights(spec)
    if weights is not None:
        return _inception(weights, spec)
    return _classifier(spec, image_size, channels)


def _random():
    network = random_features.RandomFeatures()

    def model(images, training=False):
        return network(images, training), None

    return Extractor(RANDOM, model, None, "fixed random network (means and spreads of its "
                     f"blocks, weights {network.digest[:12]})", kind=RANDOM)


def _classifier(path, image_size, channels):
    import keras

    problem = config_check.missing_features(path)
    if problem:
        raise UserError(problem)
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as e:  # noqa: BLE001 - zip, h5, config and deserialisation errors alike
        raise UserError(f"feature classifier {path} is not a readable Keras model file "
                        f"({_why_unreadable(path, e)}); train one with `python -m "
                        "dcgan.classifier --output=PATH.keras`") from None
    try:
        feats = model.get_layer(FEATURE_LAYER).output
    except ValueError:
        raise UserError(f"{path} has no layer named {FEATURE_LAYER!r}; use a classifier "
                        "saved by `python -m dcgan.classifier`") from None
    want = tuple(model.inputs[0].shape[1:])
    if want != (image_size, image_size, channels):
        raise UserError(
            f"feature classifier {path} takes {want[0]}x{want[1]}x{want[2]} images but the run "
            f"makes {image_size}x{image_size}x{channels}; train one on this data set with "
            "`python -m dcgan.classifier`")
    both = keras.Model(model.inputs, [feats, model.outputs[0]])
    accuracy = classifier_info(path).get("test_accuracy")
    description = f"classifier {path}" + (
        f" (test accuracy {accuracy:.4f})" if accuracy is not None else "")
    return Extractor(path, both, want, description)


def _why_unreadable(path, error):
    """Keras says "File not found" of a .keras file that is there but is no zip archive."""
    lower = path.lower()
    if lower.endswith(".keras") and not zipfile.is_zipfile(path):
        return "not a zip archive, which a .keras file is"
    if lower.endswith(".h5") and not _starts_with(path, HDF5_SIGNATURE):
        return "not an HDF5 file, which a .h5 file is"
    if not lower.endswith((".keras", ".h5")):
        return "Keras reads .keras and .h5 files"
    return first_line(error)


def _starts_with(path, signature):
    try:
        with open(path, "rb") as f:
            return f.read(len(signature)) == signature
    except OSError:
        return False


def _inception(weights_path="", name=INCEPTION):
    """InceptionV3 with Keras' ImageNet weights: downloaded (or Keras' cached copy) when
    `weights_path` is empty, else that local file once its MD5 is the published one."""
    import keras

    if weights_path:
        problem = config_check.inception_weights_problem(weights_path)
        if problem:
            raise UserError(problem)
    try:
        base = keras.applications.InceptionV3(include_top=True,
                                              weights=weights_path or "imagenet")
    except Exception as e:  # noqa: BLE001 - urllib, hash and h5 errors all mean "no weights"
        if weights_path:
            raise UserError(f"inception weights {weights_path} do not load into InceptionV3 "
                            f"({first_line(e)}); give Keras' {INCEPTION_WEIGHTS}") from None
        where = os.path.join(os.environ.get("KERAS_HOME", os.path.expanduser("~/.keras")),
                             "models")
        raise UserError(
            f"cannot get the InceptionV3 ImageNet weights ({first_line(e)}); run once where "
            f"the network allows, or copy {INCEPTION_WEIGHTS} into {where}, or give its path "
            f"as '{INCEPTION}:PATH'; or use --features={RANDOM} (no download)") from None
    pool = base.get_layer("avg_pool").output
    top = base.get_layer("predictions")
    trunk = keras.Model(base.inputs, pool)

    def model(images, training=False):
        if images.shape[-1] == 1:
            images = tf.repeat(images, 3, axis=-1)
        # The network wants 299x299 RGB in [-1, 1], which is already the generator's range.
        images = tf.image.resize(images, (INCEPTION_SIZE, INCEPTION_SIZE), method="bilinear")
        feats = trunk(images, training=training)
        # Logits before the softmax: log-probabilities would underflow to -inf.
        return feats, tf.matmul(feats, top.kernel) + top.bias

    where = f", weights {weights_path}" if weights_path else ""
    return Extractor(name, model, None, f"InceptionV3 (ImageNet{where}) pool features",
                     kind=INCEPTION)


def extract(extractor, batches, total, label=None):
    """(features, logits) of every image in `batches` (float32 arrays in [-1, 1])."""
    feats, logits = [], []
    with progress.Counter(total, label, enabled=label is not None) as counter:
        for batch in batches:
            f, lg = extractor(batch)
            feats.append(f)
            logits.append(lg)
            counter.update(len(batch))
    return np.concatenate(feats), None if logits[0] is None else np.concatenate(logits)


def image_batches(images, batch_size):
    """uint8 images -> float32 batches in [-1, 1], the generator's range."""
    for start in range(0, len(images), batch_size):
        yield pixels.to_model_range(images[start:start + batch_size])


def sample_labels(num_samples, num_classes):
    """The classes asked of a conditional generator when scoring: every class in turn, so
    the mixed set holds each class as often as the others (give or take one)."""
    return np.arange(num_samples, dtype=np.int32) % num_classes


def sample_batches(generator, num_samples, noise_dim, batch_size, seed, num_classes=0):
    """Generated images, the same ones for equal (seed, num_samples, noise_dim): every score of
    a run draws the same latents (seeds.EVAL_NOISE), so the scores of two checkpoints differ by
    the generator, not by the draw. A conditional generator (num_classes > 0) is asked for
    `sample_labels`."""
    noise = tf.random.stateless_normal([num_samples, noise_dim],
                                       seed=[seeds.fold(seed, seeds.EVAL_NOISE), 0])
    labels = tf.constant(sample_labels(num_samples, num_classes)) if num_classes else None
    for start in range(0, num_samples, batch_size):
        end = start + batch_size
        inputs = noise[start:end] if labels is None else [noise[start:end], labels[start:end]]
        yield generator(inputs, training=False).numpy()


def conditional_accuracy(logits, labels, class_names):
    """(overall, {class name: accuracy}): how often the classifier sees the class asked for."""
    right = np.argmax(logits, axis=-1) == labels
    by_class = {name: float(right[labels == k].mean()) for k, name in enumerate(class_names)
                if np.any(labels == k)}
    return float(right.mean()), by_class


def subset_positions(count, num, seed):
    """Positions of `num` of `count` images drawn without replacement by `seed`, in order
    (all if there are fewer): an index for the images and their labels alike."""
    if count <= num:
        return slice(None)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(count, num, replace=False))


# Which real images the samples were compared with, as eval.json records it.
TEST_SPLIT = "test split"
HOLDOUT = "held out (data.holdout)"
TRAINING = "training images"


def split_images(data, seed, with_labels=False, need_training=True, source=None):
    """The images a run learned from and those its samples are compared with.

    The reference images are the source's test split when it has one; else the data.holdout
    images training kept out (the same seeded `input_pipeline.select_images` draw); else the
    training images themselves, which says nothing about memorising.

    Args:
        data: the run's data config (source, image_size, channels, holdout, cache_dir).
        seed: the run's seed.
        with_labels: also return the labels.
        need_training: False when only the reference images are wanted.
        source: the sources.Source to read instead of data's own (its data at a new place).

    Returns:
        (training part, reference part, kind): each part (images, labels or None), the
        training part None when not needed; kind is TEST_SPLIT, HOLDOUT or TRAINING.
    """
    source = sources.parse(source or data["source"])

    def load(split):
        return load_split(source, data, split, seed, with_labels)

    if source.has_test_split():
        return load("train") if need_training else None, load("test"), TEST_SPLIT
    images, labels = load("train")
    # max_images only thins the training part; the held-out draw is the same without it.
    kept, kept_labels, held, held_labels = input_pipeline.select_images(
        images, seed, 0, data.get("holdout") or 0, labels)
    return reference_part(source, data, seed, (kept, kept_labels), (held, held_labels),
                          with_labels)


def load_split(source, data, split, seed, with_labels):
    """(images, labels or None) of one split of `source` at the run's size."""
    args = (source, data["image_size"], data["channels"])
    options = {"split": split, "seed": seed, "cache_dir": data.get("cache_dir") or ""}
    if with_labels:
        return input_pipeline.load_labelled_images(*args, **options)[:2]
    return input_pipeline.load_images(*args, **options), None


def reference_part(source, data, seed, training, held_out, with_labels):
    """(training, reference, kind) of split_images, from the training and held-out images a
    run already holds: only a test split is read."""
    if source.has_test_split():
        return training, load_split(source, data, "test", seed, with_labels), TEST_SPLIT
    if len(held_out[0]):
        return training, held_out, HOLDOUT
    return training, training, TRAINING


def describe_reference(kind, count):
    """'2000 held-out images (the test split)', or a plain warning for training images."""
    if kind == TRAINING:
        return (f"{count} training images (the source has no test split and data.holdout=0, "
                "so nothing was held out; train with data.holdout=N to score on unseen images)")
    where = "the test split" if kind == TEST_SPLIT else "data.holdout, never trained on"
    return f"{count} held-out images ({where})"


def reference_images(data, num, seed, with_labels=False, source=None):
    """`num` real images to compare samples with, a fixed draw per seed.

    Returns:
        (images, labels, kind): the labels, when asked for, of the same images (None when
        not asked for, or when the reference images have none: their per-class metrics are
        then left out, with a warning).
    """
    split = labelled_split(data, seed, with_labels, need_training=False, source=source)
    return choose_reference(split, num, seed, source or data["source"])


def labelled_split(data, seed, with_labels, need_training=True, source=None):
    """split_images, with labels if asked and the source has them (else a warning)."""
    try:
        return split_images(data, seed, with_labels, need_training, source)
    except input_pipeline.NoLabels as e:
        log.warning("no per-class metrics: the real images to compare with have no labels "
                    "(%s)", e)
        return split_images(data, seed, False, need_training, source)


def choose_reference(split, num, seed, source):
    """(images, labels, kind): `num` of a split_images' reference images, drawn by `seed`.

    Raises:
        UserError: fewer than config_check.MIN_SCORING_SAMPLES images to compare with.
    """
    _, (images, labels), kind = split
    if len(images) < config_check.MIN_SCORING_SAMPLES:
        raise UserError(_too_few_to_score(source, kind, len(images)))
    _warn_if_fewer(source, images, kind, num)
    chosen = subset_positions(len(images), num, seeds.fold(seed, seeds.REFERENCE_IMAGES))
    return images[chosen], None if labels is None else labels[chosen], kind


def _too_few_to_score(source, kind, count):
    """What the real images too few to score against are, and what gives more."""
    least = config_check.MIN_SCORING_SAMPLES
    if kind == HOLDOUT:
        what = (f"data.holdout={count} held out only {count} picture(s), the unseen ones the "
                "samples are compared with")
        fix = (f"train a run with --config.data.holdout={least} or more (a run keeps the "
               "pictures it held out when it started)")
    elif kind == TEST_SPLIT:
        what = f"the test split of {source} has only {count}"
        fix = "use a source with a larger test split"
    else:
        what = f"{source} has only {count} picture(s)"
        fix = "use more pictures"
    return f"scoring needs at least {least} real images to compare with, but {what}; {fix}"


def choose_baseline(split, num, seed, source):
    """(`num` training images, their labels or None) of a split_images: another draw than the
    reference one, what a perfect generator's samples would score."""
    (images, labels), _, _ = split
    _warn_if_fewer(source, images, TRAINING, num)
    chosen = subset_positions(len(images), num, seeds.fold(seed, seeds.BASELINE_IMAGES))
    return images[chosen], None if labels is None else labels[chosen]


def _warn_if_fewer(source, images, kind, num):
    if len(images) < num:
        log.warning("the real images of %s to score against are %d (%s), fewer than the %d "
                    "samples scored; comparing with all of them", source, len(images), kind, num)


def quality_metrics(real, fake):
    """Every metric of `fake` (features, logits) against `real` (features, logits); the
    classifier score only where the extractor has logits."""
    real_feats, _ = real
    fake_feats, fake_logits = fake
    kid, kid_stderr = metrics.kernel_distance(real_feats, fake_feats)
    precision, recall = metrics.precision_recall(real_feats, fake_feats)
    scores = {"fid": metrics.frechet_distance(real_feats, fake_feats), "kid": kid,
              "kid_stderr": kid_stderr}
    if fake_logits is not None:
        scores["classifier_score"] = metrics.classifier_score(fake_logits)
    scores.update(precision=precision, recall=recall)
    return scores


class Scorer:
    """Scores generators against features of real images computed once.

    Args:
        extractor: an `Extractor`.
        real_images: uint8 (N, H, W, C) held-out images.
        num_samples: generated images per score.
        noise_dim: the generator's latent size.
        seed: seed of the generated images' latents.
        batch_size: images per generator / extractor call.
        show_progress: report progress of each pass (long evaluations).
        class_names: the classes of a conditional generator, None for an unconditional one.
            Their conditional accuracy is scored when the extractor is a classifier of as
            many classes.
        real_labels: the classes of `real_images`; with class_names, each class's samples
            are also scored against the real images of their class (per_class), with any
            extractor.
    """

    def __init__(self, extractor, real_images, num_samples, noise_dim, seed, batch_size=250,
                 show_progress=False, class_names=None, real_labels=None):
        # The number of samples is config_check's (or the --num_samples flag's) to check; how
        # many real images the data set holds only shows now.
        if len(real_images) < config_check.MIN_SCORING_SAMPLES:
            raise UserError(f"scoring needs at least {config_check.MIN_SCORING_SAMPLES} real "
                            f"images to compare with, the data set has {len(real_images)}")
        self.extractor = extractor
        self.num_samples, self.noise_dim, self.seed = num_samples, noise_dim, seed
        self.batch_size, self.show_progress = batch_size, show_progress
        self.num_real = len(real_images)
        self.class_names = list(class_names or ())
        self.real = self.features_of_images(real_images, "real images")
        self.real_labels = real_labels if self.class_names else None
        self.sample_labels = sample_labels(num_samples, len(self.class_names)) \
            if self.class_names else None
        self._skips_told = set()  # each set of classes left out is warned about once
        self.scores_classes = False
        if self.class_names:
            self.scores_classes = (extractor.kind == CLASSIFIER
                                   and self.real[1].shape[-1] == len(self.class_names))
            if not self.scores_classes:
                log.warning("no conditional accuracy: the features are not those of a "
                            "classifier of the run's %d classes (%s)", len(self.class_names),
                            extractor.description)

    def _check_shape(self, shape):
        want = self.extractor.input_shape
        if want is not None and tuple(shape) != want:
            raise UserError(f"images of shape {tuple(shape)} do not fit the feature extractor "
                            f"({self.extractor.description}), which takes {want}")

    def features_of_images(self, images, label):
        self._check_shape(images.shape[1:])
        return extract(self.extractor, image_batches(images, self.batch_size), len(images),
                       label if self.show_progress else None)

    def features_of_generator(self, generator):
        self._check_shape(generator.output_shape[1:])
        batches = sample_batches(generator, self.num_samples, self.noise_dim, self.batch_size,
                                 self.seed, len(self.class_names))
        return extract(self.extractor, batches, self.num_samples,
                       "generated images" if self.show_progress else None)

    def score(self, generator):
        """The metrics of `generator`'s samples against the real images."""
        return self.score_with_classes(generator)[0]

    def score_with_classes(self, generator):
        """(metrics, per-class results) of a generator.

        For a conditional generator the metrics hold the per_class means (class_precision,
        class_recall, class_fid, class_spread) when the real images have labels, and the
        conditional accuracy (the fraction of samples the classifier gives the class they
        were generated for) when the features are a classifier's of the run's classes. The
        per-class results, as eval.json holds them: "metrics_per_class" {class name: its
        per_class metrics} and "conditional_accuracy_per_class" {class name: accuracy}, each
        only when scored.
        """
        fake = self.features_of_generator(generator)
        scores = self._metrics(fake)
        classes = {}
        if self.real_labels is not None:
            means, classes["metrics_per_class"] = self._class_metrics(fake[0],
                                                                      self.sample_labels)
            scores.update(means)
        if self.scores_classes:
            overall, classes["conditional_accuracy_per_class"] = conditional_accuracy(
                fake[1], self.sample_labels, self.class_names)
            scores["conditional_accuracy"] = overall
        return scores, {name: value for name, value in classes.items() if value}

    def score_images(self, images, label="real images", labels=None):
        """The metrics of other real images: the floor a perfect generator would reach; with
        their `labels`, the per-class means too."""
        fake = self.features_of_images(images, label)
        scores = self._metrics(fake)
        if labels is not None and self.real_labels is not None:
            scores.update(self._class_metrics(fake[0], labels)[0])
        return scores

    def _metrics(self, fake):
        if self.show_progress:  # KID and precision/recall take a while at 10,000 images
            log.info("computing the metrics of %d images against %d", len(fake[0]),
                     self.num_real)
        return quality_metrics(self.real, fake)

    def _class_metrics(self, fake_feats, fake_labels):
        """(means, {class name: metrics}) of per_class.score_classes; the classes it leaves
        out are warned about the first time."""
        means, scores, skipped = per_class.score_classes(
            self.real[0], self.real_labels, fake_feats, fake_labels, self.class_names)
        if skipped and frozenset(skipped) not in self._skips_told:
            self._skips_told.add(frozenset(skipped))
            log.warning("%s", per_class.skip_warning(skipped, len(self.class_names)))
        return means, scores


def run_scorer(config, source, data, class_names=None):
    """The Scorer of a training run: training.eval_* and the real images to compare with,
    taken from the run's own training and held-out images (`data`) unless the source has a
    test split; `class_names` those of a conditional run."""
    t = config.training
    extractor = load_extractor(t.eval_features, config.data.image_size, config.data.channels)
    with_labels = bool(class_names)
    split = reference_part(
        source, config.data, config.seed,
        (data.images, data.labels if with_labels else None),
        (data.held_out, data.held_out_labels if with_labels else None), with_labels)
    real, labels, _ = choose_reference(split, t.eval_num_samples, config.seed, source)
    return Scorer(extractor, real, t.eval_num_samples, config.model.noise_dim, config.seed,
                  class_names=class_names, real_labels=labels)
