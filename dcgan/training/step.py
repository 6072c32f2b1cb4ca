"""The training step: a tf.function of GAN updates, and the batches it reads.

Both are pure functions of the config and (seed, step): the loop (dcgan.training.train) and
step timing (dcgan.measure.step_timing) run the same step.
"""

import typing

import tensorflow as tf

from dcgan import models, seeds
from dcgan.data import input_pipeline
from dcgan.training import losses


class StepSettings(typing.NamedTuple):
    """The values the step takes from the config's `training` group."""

    batch_size: int
    label_smoothing: float = 0.0
    r1_gamma: float = 0.0  # R1 penalty on real images, every r1_every steps (0: off)
    r1_every: int = 16
    mode_seeking: float = 0.0
    jit_compile: bool = False

    @classmethod
    def from_training(cls, training):
        return cls(training.batch_size, training.label_smoothing, training.r1_gamma,
                   training.r1_every, training.mode_seeking, training.jit_compile)


def make_train_fn(gan, strategy, settings, steps_per_call, augmentation=None):
    """A tf.function running `steps_per_call` GAN steps of `settings` (a StepSettings);
    returns summed metrics.

    `augmentation` (an augment.Augmentation, or None for none) transforms every image D sees.
    With settings.r1_gamma > 0, gamma / 2 x the R1 penalty joins D's loss every
    settings.r1_every steps.
    """
    global_batch = settings.batch_size
    replica_step = _make_replica_step(gan, settings, augmentation)
    names = ("g_loss", "d_loss", "d_real", "d_fake", "d_entropy", "d_kl", "d_sign_real") + \
        (("d_r1",) if settings.r1_gamma else ()) + \
        (("g_pair_distance",) if settings.mode_seeking else ())

    def train_steps(iterator):
        totals = {k: tf.constant(0.0) for k in names + (("augment_p",) if augmentation else ())}
        # A graph loop only when it pays: one step runs straight-line, with no loop overhead.
        for _ in (range if steps_per_call == 1 else tf.range)(steps_per_call):
            if gan.scheduled:
                gan.set_learning_rates()
            per_replica = strategy.run(replica_step, args=next(iterator))
            values = {k: strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica[k], axis=None)
                      for k in names}
            if augmentation:
                if augmentation.adaptive:  # every step, so a resume replays it exactly
                    gan.augment_p.assign(augmentation.adapted(gan.augment_p,
                                                              values["d_sign_real"], global_batch))
                values["augment_p"] = tf.identity(gan.augment_p)
            totals = {k: totals[k] + values[k] for k in totals}
            if gan.ema_generator is not None:
                gan.update_ema()
            gan.step.assign_add(1)
        return totals

    return tf.function(train_steps)


def _make_replica_step(gan, settings, augmentation):
    """One GAN step on one replica's slice of the batch: both updates; returns its metrics."""
    global_batch, label_smoothing = settings.batch_size, settings.label_smoothing
    r1_gamma, r1_every = settings.r1_gamma, settings.r1_every
    mode_seeking = settings.mode_seeking
    scaled = isinstance(gan.g_optimizer, tf.keras.optimizers.LossScaleOptimizer)

    # Plain arithmetic: converting it inside strategy.run only earns an AutoGraph warning.
    @tf.autograph.experimental.do_not_convert
    def average(per_example):
        return tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)

    def replica_step(images, noise, labels=None, fake_labels=None):
        # labels: the real images' classes, fake_labels: those the generator is asked for;
        # both None in an unconditional run.
        with tf.GradientTape(persistent=True) as tape:
            fake = gan.generator(models.model_inputs(noise, fake_labels), training=True)
            if augmentation:
                # Inside the tape: G's gradient flows back through the augmentation of its fakes.
                images = augmentation(images, gan.augment_p, gan.step, seeds.AUGMENT_REAL)
                fake = augmentation(fake, gan.augment_p, gan.step, seeds.AUGMENT_FAKE)
            # Two passes, not one over real and fake concatenated: the generator's gradient
            # would then flow back through the real half too (measured 10% slower in bfloat16).
            real_logits = gan.discriminator(models.model_inputs(images, labels), training=True)
            fake_logits = gan.discriminator(models.model_inputs(fake, fake_labels),
                                            training=True)
            d_loss = average(losses.discriminator_loss(real_logits, fake_logits, label_smoothing))
            g_loss = average(losses.generator_loss(fake_logits))
            g_objective = g_loss
            if mode_seeking:
                pair_distance = losses.pair_distance(fake, noise)
                # A term per replica, over its own pairs (dcgan.training.train keeps each pair on
                # one replica), as the minibatch standard deviation is a replica's own batch;
                # the sum over replicas below makes it their mean.
                replicas = tf.distribute.get_replica_context().num_replicas_in_sync
                g_objective += mode_seeking * losses.mode_seeking_penalty(pair_distance) / \
                    replicas
            d_objective = d_loss
            if r1_gamma:
                # Lazy (Karras et al., 2020): only every r1_every-th step, weighted r1_every
                # times, so the pull is the same on average for a fraction of the cost.
                r1 = r1_every * average(tf.cond(
                    gan.step % r1_every == 0,
                    lambda: losses.r1_penalty(lambda x: gan.discriminator(
                        models.model_inputs(x, labels), training=True), images),
                    lambda: tf.zeros([tf.shape(images)[0]])))
                d_objective += 0.5 * r1_gamma * r1
            d_target = gan.d_optimizer.scale_loss(d_objective) if scaled else d_objective
            g_target = gan.g_optimizer.scale_loss(g_objective) if scaled else g_objective
        d_vars = gan.d_trained_variables
        g_vars = gan.generator.trainable_variables
        d_grads = tape.gradient(d_target, d_vars)
        g_grads = tape.gradient(g_target, g_vars)
        del tape
        gan.d_optimizer.apply(d_grads, d_vars)
        gan.g_optimizer.apply(g_grads, g_vars)
        entropy, kl = losses.discriminator_decomposition(real_logits, fake_logits, label_smoothing)
        penalty = {"d_r1": r1} if r1_gamma else {}
        if mode_seeking:
            penalty["g_pair_distance"] = pair_distance / replicas
        return {
            **penalty,
            "g_loss": g_loss,
            "d_loss": d_loss,
            "d_real": average(tf.reshape(tf.sigmoid(tf.cast(real_logits, tf.float32)), [-1])),
            "d_fake": average(tf.reshape(tf.sigmoid(tf.cast(fake_logits, tf.float32)), [-1])),
            "d_entropy": average(entropy),
            "d_kl": average(kl),
            # r_t of ADA: rises towards 1 as D memorises the training images.
            "d_sign_real": average(tf.reshape(tf.sign(tf.cast(real_logits, tf.float32)), [-1])),
        }

    if settings.jit_compile:
        # XLA compiles the math; reading the input iterator must stay outside the cluster.
        return tf.function(replica_step, jit_compile=True)
    return replica_step


def make_input(images, batch_size, noise_dim, seed, start_step, labels=None, num_classes=0,
               paired=False, mirror=False):
    """Batches of (real images, noise), all pure functions of (seed, step): the run's seed,
    each draw from its own stream (seeds.DATA_ORDER, seeds.NOISE, seeds.FAKE_LABELS,
    seeds.MIRROR).

    With `labels` (a conditional run of `num_classes` classes) the batches are (real images,
    noise, their labels, fake labels): the real images' classes, and the classes the
    generator is asked for, uniform over the classes. `paired` (mode seeking) asks for each
    of those classes twice in a row, so noises 2i and 2i + 1 draw the same class. `mirror`
    flips about half of each batch's real images left to right (data.mirror).
    """
    real = input_pipeline.make_dataset(
        images, batch_size, seeds.fold(seed, seeds.DATA_ORDER), start_step, labels,
        mirror_seed=seeds.fold(seed, seeds.MIRROR) if mirror else None)
    steps = tf.data.Dataset.range(start_step, 2**62)
    noise_seed, labels_seed = (tf.constant(seeds.fold(seed, name), tf.int64)
                               for name in (seeds.NOISE, seeds.FAKE_LABELS))
    noise = steps.map(
        lambda step: tf.random.stateless_normal(
            [batch_size, noise_dim], seed=tf.stack([noise_seed, step])))
    if labels is None:
        return tf.data.Dataset.zip((real, noise)).prefetch(tf.data.AUTOTUNE)
    drawn = (batch_size + 1) // 2 if paired else batch_size
    fake_labels = steps.map(
        lambda step: tf.random.stateless_uniform(
            [drawn], seed=tf.stack([labels_seed, step]),
            minval=0, maxval=num_classes, dtype=tf.int32))
    if paired:
        fake_labels = fake_labels.map(lambda drawn: tf.repeat(drawn, 2)[:batch_size])
    return tf.data.Dataset.zip((real, noise, fake_labels)).map(
        lambda pair, z, fake: (pair[0], z, pair[1], fake)).prefetch(tf.data.AUTOTUNE)
