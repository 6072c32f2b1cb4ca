"""What the loop measures beside the losses, as the config asks: each evaluation returns a dict
of metrics that joins the step's record.

- `HeldOutComparison` (data.holdout > 0), with every record: D's mean output on the held-out
  images and on as many training images, and d_gap, the second less the first. D scoring the
  training images higher is D memorising; with training.ada_gap_target the loop steers the
  augmentation by that gap.
- `QualityScore` (training.eval_every_steps > 0): FID and the other quality metrics of the
  generator (a conditional one's within each class too, with a warning when its classes have
  collapsed); the best state so far is kept by the checkpoint writer.
"""

import logging

import numpy as np
import tensorflow as tf

from dcgan import models, pixels, seeds
from dcgan.quality import per_class

log = logging.getLogger("dcgan")


def build(data, scorer, writer, seed, batch_size):
    """The evaluations a run's config asks for.

    Args:
        data: the run's TrainingData (training and held-out images).
        scorer: the quality scorer (features.run_scorer), or None when not evaluating.
        writer: the run's checkpoints.CheckpointWriter, which keeps the best state.
        seed: the run's seed.
        batch_size: images per call of D.
    """
    evaluations = []
    if len(data.held_out):
        evaluations.append(HeldOutComparison(
            data.images, data.labels, data.held_out, data.held_out_labels, seed, batch_size))
    if scorer is not None:
        evaluations.append(QualityScore(scorer, writer))
    return evaluations


def trained_sample(num_images, size, seed):
    """Positions of `size` of `num_images` training images, drawn from the seeds.TRAINED_SAMPLE
    stream of the run seeded `seed`: a random sample, in their order."""
    rng = np.random.default_rng(seeds.fold(seed, seeds.TRAINED_SAMPLE))
    return np.sort(rng.permutation(num_images)[:size])


class HeldOutComparison:
    """D on the held-out images against D on as many training images, drawn by the seed."""

    timed = False  # with every record

    def __init__(self, images, labels, held_out, held_out_labels, seed, batch_size):
        chosen = trained_sample(len(images), len(held_out), seed)
        self.image_sets = {
            "d_holdout": (held_out, held_out_labels),
            "d_trained": (images[chosen], None if labels is None else labels[chosen])}
        self.batch_size = batch_size

    def __call__(self, gan, step):
        means = discriminator_means(gan.discriminator, self.image_sets, self.batch_size)
        # Logged as a number of its own: the gap is what a user reads, and what
        # training.ada_gap_target compares against.
        means["d_gap"] = means["d_trained"] - means["d_holdout"]
        return means


class QualityScore:
    """The generator's quality metrics every training.eval_every_steps; the best is kept."""

    timed = True  # at the schedule's evaluation steps

    def __init__(self, scorer, writer):
        self.scorer, self.writer = scorer, writer

    def __call__(self, gan, step):
        scores = self.scorer.score(gan.sampling_generator())
        self.writer.offer_best(step, scores["fid"])
        collapsed = per_class.collapse_warning(scores)
        if collapsed:
            log.warning("step %d: %s", step, collapsed)
        return scores


def discriminator_means(discriminator, image_sets, batch_size):
    """D's mean output, sigmoid(logit), on each named set of (uint8 images, labels or None).

    In inference mode and unaugmented, so a set trained on and a held-out set compare fairly:
    D scoring the training images higher than held-out ones is D memorising them.
    """
    means = {}
    for name, (images, labels) in image_sets.items():
        total = 0.0
        for i in range(0, len(images), batch_size):
            batch = pixels.to_model_range(tf.constant(images[i:i + batch_size]))
            # A tensor like the images: Keras refuses a mix of tensors and NumPy arrays.
            batch_labels = None if labels is None else tf.constant(labels[i:i + batch_size])
            logits = tf.cast(discriminator(models.model_inputs(batch, batch_labels),
                                           training=False), tf.float32)
            total += float(tf.reduce_sum(tf.reduce_mean(tf.sigmoid(logits), axis=-1)))
        means[name] = total / len(images)
    return means
