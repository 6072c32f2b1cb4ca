"""Does a feature extractor rank image sets the way a person would?

Splits a data set's images in two halves by seed, keeps one as the reference and scores the
other against it as it is and degraded: light noise, blur, heavy blur, and a collapse onto a
few images. An extractor fit to judge a GAN on this data orders the Frechet distances
real < light noise < blur < heavy blur < collapse; the exit status says whether this one
does (KID's order is shown beside it).

    python scripts/validate_features.py --source=folder:/usr/share/icons/oxygen/base/64x64 \
        --image_size=64 --features=inception
"""

import os
import sys

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FLAGS = flags.FLAGS

# What is done to the scored half, in the order the distances must rise.
DEGRADATIONS = ("real", "light noise", "blur", "heavy blur", "collapse")
LIGHT_NOISE_STD = 0.05 * 255  # per pixel
BLUR_SIGMA, HEAVY_BLUR_SIGMA = 1.0, 2.5  # in pixels of the data set's size
COLLAPSE_IMAGES = 8


def define_flags():
    flags.DEFINE_string("source", None, "data.source of the images, e.g. folder:DIR.")
    flags.DEFINE_integer("image_size", 64, "data.image_size to load them at.")
    flags.DEFINE_integer("channels", 3, "data.channels to load them with.")
    flags.DEFINE_string("features", "inception", "Feature extractor: 'inception' or a "
                        "classifier from `python -m dcgan.classifier`.")
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


def main(argv):
    if len(argv) > 1 or not FLAGS.source:
        print("error: give --source=folder:DIR (and no other arguments)", file=sys.stderr)
        return 2
    import numpy as np

    from dcgan import files
    from dcgan.data import input_pipeline
    from dcgan.errors import UserError
    from dcgan.quality import features

    try:
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
    print(f"{'scored half':<14}{'FID':>10}{'KID':>10}")
    results = {}
    for name in DEGRADATIONS:
        scores = scorer.score_images(degraded(scored, name, rng), name)
        results[name] = {"fid": scores["fid"], "kid": scores["kid"]}
        print(f"{name:<14}{scores['fid']:>10.2f}{scores['kid']:>10.4f}", flush=True)
    in_order = {metric: all(results[a][metric] < results[b][metric]
                            for a, b in zip(DEGRADATIONS, DEGRADATIONS[1:], strict=False))
                for metric in ("fid", "kid")}
    verdict = "in the right order" if in_order["fid"] else "NOT in the right order"
    print(f"FID ranks {' < '.join(DEGRADATIONS)}: {verdict} "
          f"(KID: {'yes' if in_order['kid'] else 'no'})")
    if FLAGS.json:
        # Keys unsorted: the scores' order is the ranking.
        files.write_json_atomically(FLAGS.json, {
            "source": FLAGS.source, "image_size": FLAGS.image_size, "features": FLAGS.features,
            "images_per_half": half, "scores": results, "in_order": in_order}, sort_keys=False)
    return 0 if in_order["fid"] else 1


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    define_flags()
    app.run(main)
