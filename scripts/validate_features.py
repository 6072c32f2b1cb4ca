"""Does a feature extractor rank image sets the way a person would?

Splits a data set's images in two halves by seed, keeps one as the reference and scores the
other against it as it is and degraded: light noise, blur, heavy blur, and a collapse onto a
few images. Prints the Frechet distance, KID, precision and recall of each (recall measures a
collapse directly: how much of the reference the scored images cover). An extractor fit to
judge a GAN on this data keeps two rules, by the Frechet distance:

- the real halves score lowest: every degradation scores above them;
- a collapse onto 8 images scores at least twice the 1-px blur, the failure a small-data GAN
  has ranked well above a blemish no one would mind.

The exit status says whether it does (1 if not); KID's verdict is shown beside. How light
noise and blur compare is not a rule: a network may fairly find either the worse.

    python scripts/validate_features.py --source=folder:/usr/share/icons/oxygen/base/64x64 \
        --image_size=64 --features=random
"""

import os
import sys

from absl import flags

from dcgan import cli

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FLAGS = flags.FLAGS

# What is done to the scored half, the real half first.
DEGRADATIONS = ("real", "light noise", "blur", "heavy blur", "collapse")
# A collapse must score at least this many times the 1-px blur.
COLLAPSE_OVER_BLUR = 2.0
RULE_METRICS = ("fid", "kid")
LIGHT_NOISE_STD = 0.05 * 255  # per pixel
BLUR_SIGMA, HEAVY_BLUR_SIGMA = 1.0, 2.5  # in pixels of the data set's size
COLLAPSE_IMAGES = 8


def define_flags():
    flags.DEFINE_string("source", None, "data.source of the images, e.g. folder:DIR.")
    flags.DEFINE_integer("image_size", 64, "data.image_size to load them at.")
    flags.DEFINE_integer("channels", 3, "data.channels to load them with.")
    flags.DEFINE_string("features", "random", "Feature extractor: 'random' (a fixed random "
                        "network, no download), 'inception', 'inception:PATH' (a local copy of "
                        "Keras' InceptionV3 weights) or a classifier from `python -m "
                        "dcgan.classifier`.")
    flags.DEFINE_integer("seed", 0, "Seed of the split into halves and of the noise.")
    flags.DEFINE_string("json", "", "Also write the scores to this JSON file.")


def gaussian_blur(images, sigma):
    """uint8 (N, H, W, C) images blurred by a Gaussian of `sigma` pixels, edges reflected."""
    import numpy as np
    import tensorflow as tf

    radius = int(3 * sigma + 0.5)
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    channels = images.shape[-1]
    x = tf.constant(images, tf.float32)
    for kernel in (taps.reshape(-1, 1), taps.reshape(1, -1)):  # separable: rows, then columns
        k = tf.constant(np.tile(kernel[:, :, None, None], (1, 1, channels, 1)), tf.float32)
        pad = [[0, 0], [radius, radius] if kernel.shape[0] > 1 else [0, 0],
               [radius, radius] if kernel.shape[1] > 1 else [0, 0], [0, 0]]
        x = tf.nn.depthwise_conv2d(tf.pad(x, pad, mode="REFLECT"), k, [1, 1, 1, 1], "VALID")
    return np.clip(np.rint(x.numpy()), 0, 255).astype(np.uint8)


def degraded(images, name, rng):
    import numpy as np

    if name == "real":
        return images
    if name == "light noise":
        noisy = images + rng.normal(0, LIGHT_NOISE_STD, images.shape)
        return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
    if name == "blur":
        return gaussian_blur(images, BLUR_SIGMA)
    if name == "heavy blur":
        return gaussian_blur(images, HEAVY_BLUR_SIGMA)
    few = images[rng.choice(len(images), COLLAPSE_IMAGES, replace=False)]
    return few[np.arange(len(images)) % COLLAPSE_IMAGES]  # as many images, 8 distinct


def broken_rules(results, metric):
    """The rules `results` ({degradation: scores}) break by `metric`, as sentences."""
    real, broken = results["real"][metric], []
    for name in DEGRADATIONS[1:]:
        if not results[name][metric] > real:
            broken.append(f"{name} ({results[name][metric]:.4g}) does not score above the real "
                          f"half ({real:.4g})")
    collapse, blur = results["collapse"][metric], results["blur"][metric]
    if not collapse >= COLLAPSE_OVER_BLUR * blur:
        broken.append(f"collapse ({collapse:.4g}) is not {COLLAPSE_OVER_BLUR:g}x the blur "
                      f"({blur:.4g})")
    return broken


def main(argv):
    if len(argv) > 1 or not FLAGS.source:
        print("error: give --source=folder:DIR (and no other arguments)", file=sys.stderr)
        return 2
    import numpy as np

    from dcgan import config_check, files
    from dcgan.data import input_pipeline
    from dcgan.errors import UserError
    from dcgan.quality import features

    try:
        problem = config_check.missing_features(FLAGS.features)
        if problem:
            raise UserError(problem)
        images = input_pipeline.load_images(FLAGS.source, FLAGS.image_size, FLAGS.channels)
        extractor = features.load_extractor(FLAGS.features, FLAGS.image_size, FLAGS.channels)
        rng = np.random.default_rng(FLAGS.seed)
        order = rng.permutation(len(images))
        half = len(images) // 2
        reference, scored = images[order[:half]], images[order[half:2 * half]]
        scorer = features.Scorer(extractor, reference, half, noise_dim=1, seed=FLAGS.seed)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    print(f"{half} images scored against {half} others of {FLAGS.source} at "
          f"{FLAGS.image_size} px, features: {extractor.description}")
    print(f"{'scored half':<14}{'FID':>12}{'KID':>12}{'precision':>11}{'recall':>9}")
    results = {}
    for name in DEGRADATIONS:
        scores = scorer.score_images(degraded(scored, name, rng), name)
        results[name] = {k: scores[k] for k in ("fid", "kid", "precision", "recall")}
        print(f"{name:<14}{scores['fid']:>12.5g}{scores['kid']:>12.5g}"
              f"{scores['precision']:>11.3f}{scores['recall']:>9.3f}", flush=True)
    broken = {metric: broken_rules(results, metric) for metric in RULE_METRICS}
    rules = (f"real lowest, collapse >= {COLLAPSE_OVER_BLUR:g}x blur "
             f"(collapse/blur: FID {results['collapse']['fid'] / results['blur']['fid']:.2f}, "
             f"KID {results['collapse']['kid'] / results['blur']['kid']:.2f})")
    if broken["fid"]:
        print(f"FID does NOT rank them right: {'; '.join(broken['fid'])}")
    else:
        print(f"FID ranks them right: {rules}")
    print(f"KID: {'right' if not broken['kid'] else 'NOT right: ' + '; '.join(broken['kid'])}")
    if FLAGS.json:
        # Keys unsorted: the scores' order is the degradations'.
        files.write_json_atomically(FLAGS.json, {
            "source": FLAGS.source, "image_size": FLAGS.image_size, "features": FLAGS.features,
            "description": extractor.description, "images_per_half": half, "scores": results,
            "ranks_right": {metric: not broken[metric] for metric in RULE_METRICS},
            "broken_rules": broken}, sort_keys=False)
    return 0 if not broken["fid"] else 1


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    define_flags()
    cli.run_app(main)
