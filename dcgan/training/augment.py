"""Differentiable augmentation of what the discriminator sees, and its adaptive probability.

With a few hundred or thousand images the discriminator memorises the training set and the
generator collapses. Showing the discriminator randomly shifted, cut and recoloured copies of
every image, real and generated alike, in both updates, stops the memorising without teaching
the generator to draw the augmentations: each op here is differentiable, so the generator's
gradient flows back through it (Zhao et al., 2020, DiffAugment). Each policy is applied to each
image with probability p; p = 1 is DiffAugment's fixed policy.

p can adapt (Karras et al., 2020, ADA): it grows while a measure of D memorising is above a
target and shrinks below it, by a step that lets p cross 0..1 in `ada_kimg` thousand images.
Two measures:
- `training.ada_target` > 0: the sign of D's logits on real images, r_t = E[sign(D(x_real))],
  after every step. It needs nothing held out, but it is near 1 for a few thousand pictures
  that D does not memorise as much as for a few hundred that it does, so p rises in both.
- `training.ada_gap_target` > 0: the held-out gap, D's mean output on trained pictures minus
  that on held-out ones (dcgan.training.evaluations), at every log. It stays near 0 until D
  memorises, so p stays near 0 where augmentation would only cost.

Every random draw is stateless, from the step and the run's stream of augmentations of the
real or the generated batch (dcgan.seeds), so a resumed run draws the same augmentations as an
uninterrupted one.

Images are float32 (B, H, W, C) in [-1, 1], H == W.
"""

import tensorflow as tf

from dcgan import seeds
from dcgan.config_check import AUGMENT_POLICIES

# Translation shifts by up to this fraction of the image side; cutout's square is this
# fraction of the side.
TRANSLATION_FRACTION = 1 / 8
CUTOUT_FRACTION = 1 / 2


def parse_policies(augment):
    """'translation,color' -> ('translation', 'color'); '' -> (). Names are config_check's."""
    return tuple(name.strip() for name in augment.split(",") if name.strip())


def step_seed(seed, step, stream):
    """The stateless seed of one step's augmentation of one batch, `stream`
    seeds.AUGMENT_REAL or seeds.AUGMENT_FAKE of the run seeded `seed`.

    Under a distribution strategy each replica augments its own slice of the batch, so the
    replica's index is folded in too: replicas must not draw the same augmentations.
    """
    base = tf.stack([tf.constant(seeds.fold(seed, stream), tf.int64), tf.cast(step, tf.int64)])
    replica = tf.distribute.get_replica_context()
    replica_id = replica.replica_id_in_sync_group if replica is not None else 0
    return tf.random.experimental.stateless_fold_in(base, tf.cast(replica_id, tf.int64))


def augment(images, policies, p, seed):
    """Each policy applied to each image with probability p.

    Args:
        images: float (B, S, S, C) in [-1, 1].
        policies: names from AUGMENT_POLICIES, applied in this order.
        p: probability (scalar, may be a tf.Variable) that a policy is applied to an image.
        seed: stateless seed, shape [2] (see step_seed).

    Returns:
        Images of the same shape and dtype, in [-1, 1].
    """
    dtype = images.dtype
    x = tf.cast(images, tf.float32)
    batch = tf.shape(x)[0]
    p = tf.cast(p, tf.float32)
    for i, name in enumerate(policies):
        policy_seed = tf.random.experimental.stateless_fold_in(seed, i)
        draw_seed, op_seed = tf.unstack(tf.random.experimental.stateless_split(policy_seed, 2))
        chosen = tf.random.stateless_uniform([batch, 1, 1, 1], draw_seed) < p
        x = tf.where(chosen, _OPS[name](x, op_seed), x)
    return tf.cast(x, dtype)


def _seeds(seed, count):
    return tf.unstack(tf.random.experimental.stateless_split(seed, count))


def translate(x, seed):
    """Shifts each image by up to 1/8 of its side in each direction, filling with zeros."""
    batch, size = tf.shape(x)[0], x.shape[1]
    shift = int(size * TRANSLATION_FRACTION + 0.5)
    rows_seed, cols_seed = _seeds(seed, 2)
    dy = tf.random.stateless_uniform([batch, 1], rows_seed, -shift, shift + 1, tf.int32)
    dx = tf.random.stateless_uniform([batch, 1], cols_seed, -shift, shift + 1, tf.int32)
    padded = tf.pad(x, [[0, 0], [shift, shift], [shift, shift], [0, 0]])
    # Output pixel (y, x) reads padded pixel (y + shift - dy, x + shift - dx): a gather, so the
    # gradient reaches every pixel that was kept.
    positions = tf.range(size)[None, :] + shift
    x = tf.gather(padded, positions - dy, axis=1, batch_dims=1)
    return tf.gather(x, positions - dx, axis=2, batch_dims=1)


def cutout(x, seed):
    """Zeroes a square of half the side at a random place in each image (may overhang)."""
    batch, size = tf.shape(x)[0], x.shape[1]
    side = int(size * CUTOUT_FRACTION + 0.5)
    top_seed, left_seed = _seeds(seed, 2)
    # The square's top-left corner, so its centre can be anywhere in the image.
    top = tf.random.stateless_uniform([batch, 1, 1], top_seed, -(side // 2),
                                      size - side // 2, tf.int32)
    left = tf.random.stateless_uniform([batch, 1, 1], left_seed, -(side // 2),
                                       size - side // 2, tf.int32)
    rows = tf.range(size)[None, :, None]
    cols = tf.range(size)[None, None, :]
    inside = (rows >= top) & (rows < top + side) & (cols >= left) & (cols < left + side)
    return x * tf.cast(~inside, x.dtype)[..., None]


def color(x, seed):
    """Random brightness, saturation and contrast per image, clipped back to [-1, 1]."""
    batch = tf.shape(x)[0]
    brightness_seed, saturation_seed, contrast_seed = _seeds(seed, 3)

    def uniform(s, low, high):
        return tf.random.stateless_uniform([batch, 1, 1, 1], s, low, high)

    # Brightness: shift by up to a quarter of the range [-1, 1] either way.
    x = x + uniform(brightness_seed, -0.5, 0.5)
    # Saturation: scale each pixel's distance from its grey by 0..2 (no-op for one channel).
    grey = tf.reduce_mean(x, axis=3, keepdims=True)
    x = (x - grey) * uniform(saturation_seed, 0.0, 2.0) + grey
    # Contrast: scale each image's distance from its mean by 0.5..1.5.
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    x = (x - mean) * uniform(contrast_seed, 0.5, 1.5) + mean
    return tf.clip_by_value(x, -1.0, 1.0)


_OPS = {"translation": translate, "cutout": cutout, "color": color}
assert set(_OPS) == set(AUGMENT_POLICIES)


def adapt_probability(p, measured, target, images, ada_kimg):
    """ADA's update of p: up if D memorises more than the target says, else down.

    Each update moves p by images / (ada_kimg * 1000) in the direction of
    sign(measured - target), so p integrates the sign over recent measurements rather than
    following any one noisy one, and can cross 0..1 in ada_kimg thousand images.

    Args:
        p: the current probability (float32 scalar).
        measured: r_t (the step's mean of sign(D(x_real)) over the global batch) or the
            held-out gap.
        target: the value of `measured` that p steers towards (r_t: 0.6 in Karras et al.).
        images: images trained on since the last update.
        ada_kimg: thousands of images for p to go from 0 to 1.

    Returns:
        The new p, in [0, 1].
    """
    step = float(images) / (float(ada_kimg) * 1000.0)
    return tf.clip_by_value(p + tf.sign(measured - target) * step, 0.0, 1.0)


class Augmentation:
    """A run's augmentation settings, applied inside the training step."""

    def __init__(self, policies, seed, ada_target=0.0, ada_kimg=500, ada_gap_target=0.0):
        self.policies = tuple(policies)
        self.seed = int(seed)
        self.ada_target = float(ada_target)
        self.ada_gap_target = float(ada_gap_target)
        self.ada_kimg = float(ada_kimg)

    @classmethod
    def from_config(cls, training, seed):
        """The run's augmentation, or None when training.augment is '' (the step is unchanged)."""
        policies = parse_policies(training.augment)
        if not policies:
            return None
        return cls(policies, seed, training.ada_target, training.ada_kimg,
                   training.ada_gap_target)

    @property
    def adaptive(self):
        """p steered by r_t after every step."""
        return self.ada_target > 0

    @property
    def steered_by_gap(self):
        """p steered by the held-out gap at every log."""
        return self.ada_gap_target > 0

    def idle(self):
        """The same settings applying no policy: what a step at p = 0 does, without the ops."""
        return Augmentation((), self.seed, self.ada_target, self.ada_kimg, self.ada_gap_target)

    def __call__(self, images, p, step, stream):
        if not self.policies:
            return images
        return augment(images, self.policies, p, step_seed(self.seed, step, stream))

    def adapted(self, p, sign_real, images):
        return adapt_probability(p, sign_real, self.ada_target, images, self.ada_kimg)

    def adapted_to_gap(self, p, gap, images):
        return adapt_probability(p, gap, self.ada_gap_target, images, self.ada_kimg)
