"""Quality within each class of a conditional generator, from feature vectors (pure NumPy).

A conditional generator can score well on its mixed set while drawing one image per class:
the classes together are varied, each alone is not. Here the samples generated for a class
are compared with the real images of that class only, on the features of any extractor:

- precision: the fraction of the class's samples inside its real images' manifold;
- recall: the fraction of the class's real images inside its samples' manifold, near 0 when
  the class has collapsed onto a few images;
- fid: the Frechet distance between the class's samples and its real images;
- spread: `metrics.relative_spread`, 1 for samples as varied as the class's real images, 0
  for copies of one image.

The means over the classes scored are the metrics `class_precision`, `class_recall`,
`class_fid` and `class_spread`. Precision and recall use the mixed set's k nearest neighbour,
lowered for a class with few images (each set must hold more than k); a class with fewer than
MIN_CLASS_IMAGES real or generated images, or real images all alike, is not scored.
"""

import numpy as np

from dcgan.quality import metrics

# What the metrics need: a covariance (Frechet distance, spread) and one neighbour.
MIN_CLASS_IMAGES = 2
# The per-class metrics and the names of their means over classes among the run's metrics.
MEANS = {"precision": "class_precision", "recall": "class_recall", "fid": "class_fid",
         "spread": "class_spread"}
# The thresholds of `collapse_warning`. A class drawn as nearly one image has neighbour balls
# of almost no radius around its samples, so they cover almost none of its real images: its
# recall is near 0 however real the image looks. Samples that vary like the real images cover
# a good part of them. Early in training samples cover nothing because they do not look real
# yet, and a warning then would be noise: the mixed set's precision must say that at least
# half of the samples look real.
COLLAPSED_CLASS_RECALL = 0.05
DECENT_PRECISION = 0.5


def _why_unscorable(real, fake):
    """Why a class's (real, generated) features cannot be scored, or None."""
    if len(real) < MIN_CLASS_IMAGES:
        return f"{len(real)} real image{'s' if len(real) != 1 else ''}"
    if len(fake) < MIN_CLASS_IMAGES:
        return f"{len(fake)} generated image{'s' if len(fake) != 1 else ''}"
    if not np.any(real != real[0]):
        return "real images all alike"
    return None


def score_classes(real_feats, real_labels, fake_feats, fake_labels, class_names):
    """The metrics of each class's samples against the real images of that class.

    Args:
        real_feats: (N_r, D) features of the real images.
        real_labels: (N_r,) their classes, 0..K-1 (others are ignored).
        fake_feats: (N_f, D) features of the generated images.
        fake_labels: (N_f,) the classes they were generated for.
        class_names: the K class names, in class order.

    Returns:
        (means, per_class, skipped): means {"class_precision": ..., ...} over the classes
        scored (empty when none was); per_class {name: {"precision", "recall", "fid",
        "spread", "k", "num_real", "num_generated"}}; skipped {name: why} for the classes
        that could not be scored.
    """
    real_feats, fake_feats = np.asarray(real_feats), np.asarray(fake_feats)
    real_labels, fake_labels = np.asarray(real_labels), np.asarray(fake_labels)
    per_class, skipped = {}, {}
    for k, name in enumerate(class_names):
        real, fake = real_feats[real_labels == k], fake_feats[fake_labels == k]
        why = _why_unscorable(real, fake)
        if why:
            skipped[name] = why
            continue
        neighbours = min(metrics.PRECISION_RECALL_K, len(real) - 1, len(fake) - 1)
        precision, recall = metrics.precision_recall(real, fake, k=neighbours)
        per_class[name] = {
            "precision": precision,
            "recall": recall,
            "fid": metrics.frechet_distance(real, fake),
            "spread": metrics.relative_spread(real, fake),
            "k": neighbours,
            "num_real": len(real),
            "num_generated": len(fake),
        }
    means = {mean: float(np.mean([scores[metric] for scores in per_class.values()]))
             for metric, mean in MEANS.items()} if per_class else {}
    return means, per_class, skipped


def skip_warning(skipped, num_classes):
    """The line that says which classes `score_classes` left out, and why."""
    listed = ", ".join(f"{name} ({why})" for name, why in skipped.items())
    left = num_classes - len(skipped)
    means = (f"the class means are over the other {left}" if left
             else "there are no class means")
    return (f"no per-class metrics for {len(skipped)} of {num_classes} classes, each needs at "
            f"least {MIN_CLASS_IMAGES} real and {MIN_CLASS_IMAGES} generated images that "
            f"vary: {listed}; {means}; score more samples (training.eval_num_samples or "
            "--num_samples) to include them")


def collapse_warning(scores):
    """A line saying the classes have collapsed, when the metrics say so; else None.

    Args:
        scores: the metrics of a conditional generator: the mixed set's "precision" and
            the class means ("class_recall", "class_spread").
    """
    recall, precision = scores.get(MEANS["recall"]), scores.get("precision")
    if recall is None or precision is None:
        return None
    if recall >= COLLAPSED_CLASS_RECALL or precision < DECENT_PRECISION:
        return None
    return (f"the classes have collapsed: a class's samples cover {recall:.1%} of its real "
            f"images on average (class_recall {recall:.3f}, class_spread "
            f"{scores[MEANS['spread']]:.3f}) while {precision:.0%} of all samples look real "
            "(precision): the samples of each class are nearly one image")
