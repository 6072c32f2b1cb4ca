"""The training state: models, optimizers, EMA generator, step, rate scale, augmentation p.

One object owns everything a checkpoint holds, and the operations on it: what goes into a
checkpoint, restoring one, setting the learning rates, averaging the generator, checking the
weights are finite.
"""


import tensorflow as tf

from dcgan import models
from dcgan.training import init_from

# Parts added to the checkpoint after runs were saved without them: a checkpoint lacking one
# restores everything else, and the part keeps its initial value.
OPTIONAL_PARTS = ("learning_rate_scale", "augment_p", "train_seconds")


def make_optimizer(learning_rate, beta1, beta2, dtype_policy):
    optimizer = tf.keras.optimizers.Adam(learning_rate, beta_1=beta1, beta_2=beta2)
    if dtype_policy == "mixed_float16":
        # float16 gradients underflow without a loss scale; each optimizer keeps its own,
        # since G and D gradients differ by orders of magnitude.
        optimizer = tf.keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


class TrainingState(tf.Module):
    """Models, optimizers, the optional EMA generator, the step and the learning-rate scale."""

    def __init__(self, config, dtype_policy, num_classes=0):
        super().__init__(name="gan")
        self.generator = models.generator_from_config(config, dtype_policy, num_classes)
        self.discriminator = models.discriminator_from_config(config, dtype_policy, num_classes)
        self.ema_decay = float(config.model.ema_decay)
        self.ema_generator = None
        if self.ema_decay > 0:
            # Sampling only: kept in float32 so the average does not round away small updates.
            self.ema_generator = models.generator_from_config(config, num_classes=num_classes)
            self.ema_generator.set_weights(self.generator.get_weights())
        optim, t = config.optim, config.training
        # A run started from another's networks may move them slower (training.init_lr_scale).
        scale = float(t.init_lr_scale) if t.init_from else 1.0
        self.base_rates = (float(optim.g_learning_rate) * scale,
                           float(optim.d_learning_rate) * scale)
        self.scheduled = optim.schedule != "constant"
        self.decay_start = float(optim.decay_start)
        self.num_steps = float(config.training.num_steps)
        self.g_optimizer = make_optimizer(optim.g_learning_rate, optim.beta1, optim.beta2,
                                          dtype_policy)
        self.d_optimizer = make_optimizer(optim.d_learning_rate, optim.beta1, optim.beta2,
                                          dtype_policy)
        # Build the slots now: restoring into an unbuilt Keras optimizer silently drops its state.
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)
        # What D's update changes: all of it, less the blocks FreezeD keeps as copied.
        self.d_trained_variables = init_from.trained_discriminator_variables(
            self.discriminator, t.freeze_d_layers)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        # optim.*_learning_rate times this; halved by each rollback after a divergence.
        self.learning_rate_scale = tf.Variable(1.0, trainable=False, name="learning_rate_scale")
        # The probability of each augmentation (dcgan/augment.py). Adaptive (ADA), it is learnt
        # from training.ada_start_p (0 by default) and checkpointed like a weight; fixed, it is
        # the config's value and stays out of the checkpoint, so adaptation switched on at a
        # resume starts from ada_start_p too.
        self.adaptive_augment = t.ada_target > 0 or t.ada_gap_target > 0
        self.fixed_augment_p = float(t.augment_p)
        start_p = float(t.ada_start_p) if self.adaptive_augment else self.fixed_augment_p
        self.augment_p = tf.Variable(start_p, trainable=False, name="augment_p")
        # Seconds of training so far, summed over invocations: what training.max_seconds limits.
        self.train_seconds = tf.Variable(0.0, dtype=tf.float64, trainable=False,
                                         name="train_seconds")
        self._checkpoint = self._make_checkpoint()

    @property
    def checkpoint(self):
        return self._checkpoint

    def _make_checkpoint(self, missing=()):
        """`missing`: OPTIONAL_PARTS an older checkpoint lacks, left out to read it."""
        parts = dict(generator=self.generator, discriminator=self.discriminator,
                     g_optimizer=self.g_optimizer, d_optimizer=self.d_optimizer, step=self.step)
        for name in OPTIONAL_PARTS:
            if name not in missing and (name != "augment_p" or self.adaptive_augment):
                parts[name] = getattr(self, name)
        if self.ema_generator is not None:
            parts["ema_generator"] = self.ema_generator
        # Keras keeps dropout's random state outside the model's weights; without it a resumed
        # run would draw different dropout masks from the uninterrupted one.
        parts["random_states"] = [
            layer.seed_generator.state for model in (self.generator, self.discriminator)
            for layer in model.layers if getattr(layer, "seed_generator", None) is not None]
        return tf.train.Checkpoint(**parts)

    def restore(self, path):
        """Load every part from the checkpoint at `path`; raises if it does not fit or is torn."""
        names = [name for name, _ in tf.train.list_variables(path)]
        checkpoint = self._checkpoint
        # Checkpoints written before rollbacks existed have no scale (it stays 1); before
        # augmentation, no p (it stays at its start).
        missing = [part for part in OPTIONAL_PARTS
                   if not any(name.startswith(part + "/") for name in names)]
        if missing:
            checkpoint = self._make_checkpoint(missing)
        status = checkpoint.restore(path)
        status.assert_existing_objects_matched()
        if "augment_p" not in missing and not self.adaptive_augment:
            # A p learnt by an adaptive rule this run has switched off: the config's fixed p
            # applies instead, so the checkpoint's is left unread on purpose, not warned about.
            status.expect_partial()

    def sampling_generator(self):
        return self.ema_generator or self.generator

    def set_learning_rates(self):
        """The optimizers' rates for the current step: the config's, times the run's rollback
        scale, times the schedule. Eager after a restore or rollback, and inside the training
        tf.function before each step when the rates are scheduled.

        The optimizers checkpoint their rates too, but the config must win on resume (lowering
        the rates is how a user answers a divergence); the scale carries what rollbacks took off.
        """
        factor = self.learning_rate_scale * self._schedule_factor()
        self.g_optimizer.learning_rate.assign(self.base_rates[0] * factor)
        self.d_optimizer.learning_rate.assign(self.base_rates[1] * factor)

    def _schedule_factor(self):
        if not self.scheduled:
            return 1.0
        # linear_decay: 1 until decay_start * num_steps, then linearly down to 0 at num_steps.
        start = self.decay_start * self.num_steps
        progress = (tf.cast(self.step, tf.float32) - start) / max(self.num_steps - start, 1.0)
        return 1.0 - tf.clip_by_value(progress, 0.0, 1.0)

    def learning_rates(self):
        return {name: float(tf.convert_to_tensor(optimizer.learning_rate))
                for name, optimizer in (("g_learning_rate", self.g_optimizer),
                                        ("d_learning_rate", self.d_optimizer))}

    def update_ema(self):
        """One step of the generator's moving average (inside the training tf.function).

        A plain average would still hold much of the random initial generator after a short
        run (0.999**1000 = 37%), so the decay ramps up as (1 + step) / (10 + step), like
        tf.train.ExponentialMovingAverage's num_updates, until it reaches model.ema_decay.
        """
        step = tf.cast(self.step, tf.float32)
        decay = tf.minimum(self.ema_decay, (1.0 + step) / (10.0 + step))
        for ema, live in zip(self.ema_generator.weights, self.generator.weights, strict=True):
            ema.assign(decay * ema + (1.0 - decay) * tf.cast(live, ema.dtype))

    def weights_finite(self):
        """Whether every float variable (models, EMA, optimizer slots) is finite."""
        variables = [v for part in (self.generator, self.discriminator, self.ema_generator)
                     if part is not None for v in part.weights]
        variables += list(self.g_optimizer.variables) + list(self.d_optimizer.variables)
        return all(bool(tf.reduce_all(tf.math.is_finite(v))) for v in variables
                   if tf.as_dtype(v.dtype).is_floating)
