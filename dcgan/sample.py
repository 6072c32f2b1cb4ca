"""Images from a trained run: `python -m dcgan.sample --workdir=runs/mnist`.

Only the generator is restored (the EMA one when the run kept one), rebuilt from the run's
config.json, so no training flag needs repeating. Image i always comes from noise vector i of
the stream named by --seed, whatever --num_images or --batch_size: the same command gives the
same pictures, and asking for more images only appends new ones.

A conditional run draws the classes given by --labels (numbers or names, "3" or
"Sneaker,Bag"), image i of class i mod the number given; without --labels it goes through all
classes. A grid keeps each class in columns of its own: one column per class given, repeated
as often as keeps the grid near square (a single class fills a square grid).

Outputs, chosen by --output:
  FILE.png   one grid of all images
  FILE.npz   uint8 images (N, H, W, C) under `images`, their float32 noise under `noise`
             (and for a conditional run their int32 classes under `labels`)
  FOLDER     one PNG per image, 000000.png, 000001.png, ...; for a conditional run in a
             sub-folder per class, FOLDER/<class name>/000003.png, which reads back as a
             labelled data set. A folder that already holds files is refused unless
             --overwrite (which replaces its numbered PNGs); a write that fails (a full disk)
             removes the images it wrote
Without --output the grid goes to WORKDIR/samples/sample_stepNNNNNN_seedS.png. Files are
complete or absent: each is written under a temporary name and renamed when done.
--interpolate=K writes K-step spherical interpolations between pairs of noise vectors as a
grid (one row per pair, each of one class) and a GIF next to it; --export=DIR writes a
SavedModel and a .keras file (a folder that already holds files takes --overwrite too).
"""

import functools
import math
import os

import numpy as np
from absl import flags

from dcgan import cli, errors, visualize
from dcgan.data import classes
from dcgan.run import sample_output, workdir
from dcgan.run.sample_output import check_writable, output_kind

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Training run folder (the --workdir given to dcgan-train).")
flags.DEFINE_enum("checkpoint", "latest", ["latest", "best"],
                  "latest: the newest checkpoint (or --step); best: the lowest Frechet distance.")
flags.DEFINE_integer("step", None, "Restore the checkpoint saved at this step.")
flags.DEFINE_bool("no_ema", False, "Use the trained generator even if the run kept an EMA one.")
flags.DEFINE_integer("num_images", None,
                     "Images to write (default 64); with --interpolate, pairs to interpolate "
                     "between, one row each (default 8).")
flags.DEFINE_integer("seed", 0, "Names the noise stream: same seed, same images.")
flags.DEFINE_string("output", None, "FILE.png (grid), FILE.npz (arrays) or a folder (PNG files); "
                    "default WORKDIR/samples/sample_stepN_seedS.png.")
flags.DEFINE_integer("interpolate", 0, "Steps of a spherical interpolation between noise pairs, "
                     "written as a grid and a GIF (0: off).")
flags.DEFINE_float("truncation", None, "Redraw noise entries with |z| > T: higher quality, less "
                   "variety (off by default; 0.5 to 1.5 is typical).")
flags.DEFINE_integer("batch_size", 64, "Images generated at a time; memory does not grow with N.")
flags.DEFINE_bool("overwrite", False, "Write into an --output or --export folder that already "
                  "holds files: an --output folder's numbered PNGs are removed first, an "
                  "--export folder's model files replaced; files of other names are kept.")
flags.DEFINE_string("labels", None, "Conditional runs: the classes to draw, by number or name "
                    "(3 or Sneaker,Bag); images cycle through them. A name with a comma goes in "
                    "double quotes: --labels='\"cats, dogs\",birds'. Default: every class.")
flags.DEFINE_string("export", None, "Folder for a SavedModel (noise in, uint8 images out) and "
                    "generator.keras.")

DEFAULT_NUM_IMAGES = 64
DEFAULT_NUM_PAIRS = 8
MIN_TRUNCATION = 0.1  # below it almost every draw is rejected, and the images barely differ


def latents(seed, start, stop, noise_dim, truncation=None):
    """Noise vectors start..stop-1 of stream `seed`, float32 (stop - start, noise_dim).

    Vector i depends on (seed, i) only, so any batching of any prefix gives the same vectors.
    """
    out = np.empty((stop - start, noise_dim), np.float32)
    for row, index in enumerate(range(start, stop)):
        rng = np.random.default_rng([seed, index])
        out[row] = rng.standard_normal(noise_dim, dtype=np.float32)
        if truncation is not None:
            _truncate(out[row], truncation, rng)
    return out


def _truncate(z, limit, rng):
    """Redraw, in place and from `rng`, the entries of z outside [-limit, limit]."""
    accept = math.erf(limit / math.sqrt(2.0))
    bad = np.flatnonzero(np.abs(z) > limit)
    while bad.size:
        # Draw enough at once that a small limit still finishes in a round or two.
        draws = rng.standard_normal(math.ceil(2 * bad.size / accept) + 8, dtype=np.float32)
        good = draws[np.abs(draws) <= limit][: bad.size]
        z[bad[: good.size]] = good
        bad = bad[good.size:]


def slerp(a, b, steps):
    """`steps` points from a to b (both included) along the great circle between them.

    Gaussian noise lives near a sphere; a straight line between two vectors passes through
    shorter vectors the generator rarely saw, so it is interpolated by angle instead.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    t = np.linspace(0.0, 1.0, steps)[:, None]
    cos = np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12)
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if np.sin(omega) < 1e-6:  # (anti)parallel: every great circle fits, take the line
        return ((1.0 - t) * a + t * b).astype(np.float32)
    return ((np.sin((1.0 - t) * omega) * a + np.sin(t * omega) * b)
            / np.sin(omega)).astype(np.float32)


def generate(sampler, noise_rows, total, batch_size, labels=None):
    """Yields (start, uint8 images) for noise rows 0..total-1, batch_size rows at a time.

    Every batch is padded to batch_size rows, so an image never sees a different batch shape
    when the request grows: N images are exactly the first N of a larger request. A
    conditional sampler draws image i of class labels[i].
    """
    for start in range(0, total, batch_size):
        noise = noise_rows(start, min(start + batch_size, total))
        count = len(noise)
        padding = batch_size - count
        noise = np.concatenate([noise, np.zeros((padding, noise.shape[1]), np.float32)])
        if labels is None:
            yield start, sampler(noise)[:count]
            continue
        batch_labels = np.concatenate([labels[start:start + count], np.zeros(padding, np.int32)])
        yield start, sampler(noise, batch_labels)[:count]


def grid_columns(num_images, num_classes):
    """Columns of a sample grid: near square and, with classes, a multiple of their number, so
    that image i (of class i mod K) falls in a column of its class."""
    square = math.ceil(math.sqrt(num_images))
    if not num_classes:
        return square
    return num_classes * max(1, math.ceil(square / num_classes))


def _check_flags():
    if FLAGS.num_images is not None and FLAGS.num_images < 1:
        raise cli.UserError(f"--num_images={FLAGS.num_images} must be at least 1")
    if FLAGS.batch_size < 1:
        raise cli.UserError(f"--batch_size={FLAGS.batch_size} must be at least 1")
    if FLAGS.seed < 0:
        raise cli.UserError(f"--seed={FLAGS.seed} must be 0 or more")
    if FLAGS.interpolate < 0 or FLAGS.interpolate == 1:
        raise cli.UserError(f"--interpolate={FLAGS.interpolate}: give 2 or more steps (0: off)")
    if FLAGS.truncation is not None and not FLAGS.truncation >= MIN_TRUNCATION:
        raise cli.UserError(f"--truncation={FLAGS.truncation} must be at least {MIN_TRUNCATION}")
    if not FLAGS.workdir:
        raise cli.UserError("--workdir is required: the folder of a training run")
    if not os.path.isdir(FLAGS.workdir):
        what = (errors.file_in_place_of_folder(FLAGS.workdir)
                or f"workdir {FLAGS.workdir} does not exist")
        raise cli.UserError(f"{what}; pass the --workdir of a training run")


def _chosen_classes(class_names):
    """The class numbers --labels asks for (all classes without it); None if unconditional."""
    if class_names is None:
        if FLAGS.labels is not None:
            raise cli.UserError(f"--labels: the run in {FLAGS.workdir} is not conditional "
                                "(model.conditional=False); leave --labels out")
        return None
    if FLAGS.labels is None:
        return list(range(len(class_names)))
    return classes.parse_labels(FLAGS.labels, class_names)


def _check_output(output, kind, config):
    """Everything about --output that can fail, checked before any image is made."""
    if kind == "folder":
        sample_output.check_folder_is_free(output, FLAGS.overwrite)
    elif kind == "grid":
        images = FLAGS.num_images or (DEFAULT_NUM_PAIRS if FLAGS.interpolate else
                                      DEFAULT_NUM_IMAGES)
        sample_output.check_grid_size(images * max(FLAGS.interpolate, 1),
                                      config.data.image_size)
    check_writable(output, kind == "folder")


def _default_output(root, step, kind):
    return workdir.RunDir(root).sample_output(kind, step, FLAGS.checkpoint == "best", FLAGS.seed,
                                              FLAGS.truncation, ema=not FLAGS.no_ema)


def _write_samples(sampler, output, kind, chosen, class_names):
    """Generates --num_images images of the chosen classes into `output`; returns how many."""
    dim, seed, truncation = sampler.noise_dim, FLAGS.seed, FLAGS.truncation
    total = FLAGS.num_images or DEFAULT_NUM_IMAGES
    labels = None if chosen is None else np.array(classes.cycle(chosen, total), np.int32)
    batches = generate(sampler, lambda a, b: latents(seed, a, b, dim, truncation),
                       total, FLAGS.batch_size, labels)
    if kind == "grid":
        visualize.save_grid(np.concatenate([b for _, b in batches]), output,
                            grid_columns(total, len(chosen or ())))
    elif kind == "folder":
        sample_output.write_folder(batches, output, total, labels, class_names)
    else:
        shape = (total, *sampler.generator.output_shape[1:])
        noise = (latents(seed, a, min(a + FLAGS.batch_size, total), dim, truncation)
                 for a in range(0, total, FLAGS.batch_size))
        arrays = [("images", shape, np.uint8, (b for _, b in batches)),
                  ("noise", (total, dim), np.float32, noise)]
        if labels is not None:
            arrays.append(("labels", (total,), np.int32, [labels]))
        sample_output.write_npz(output, arrays)
    return total


def main(argv):
    del argv  # run_app has refused stray arguments
    _check_flags()
    root, steps = FLAGS.workdir, FLAGS.interpolate
    config = workdir.read_trained_config(root)
    class_names = workdir.classes_of_run(root, config)
    chosen = _chosen_classes(class_names)

    from dcgan.run import checkpoints, export  # TensorFlow loads here, after the cheap checks

    checkpoint, step = checkpoints.select(root, FLAGS.checkpoint, FLAGS.step)
    output = None
    if FLAGS.output is not None or steps or not FLAGS.export:
        output = FLAGS.output or _default_output(root, step, "interpolation" if steps else "sample")
        kind = output_kind(output, steps)
        _check_output(output, kind, config)
    if FLAGS.export:
        sample_output.check_folder_is_free(
            FLAGS.export, FLAGS.overwrite, flag="export",
            replaced=f"its {export.SAVED_MODEL_DIR} and {export.KERAS_FILE}")
        check_writable(FLAGS.export, True, flag="export")
    generator, key = checkpoints.restore_generator(config, checkpoint, use_ema=not FLAGS.no_ema,
                                                   num_classes=len(class_names or ()))
    sampler = export.Sampler(generator)
    kind_of_weights = "EMA" if key == checkpoints.EMA_KEY else "trained"
    source = f"{os.path.basename(checkpoint)} ({kind_of_weights} generator)"
    dim, seed, truncation = sampler.noise_dim, FLAGS.seed, FLAGS.truncation
    try:
        if output and steps:
            pairs = FLAGS.num_images or DEFAULT_NUM_PAIRS
            ends = latents(seed, 0, 2 * pairs, dim, truncation)
            path = np.concatenate([slerp(ends[2 * j], ends[2 * j + 1], steps)
                                   for j in range(pairs)])
            # One class along each row: the noise moves, the class stays.
            labels = None if chosen is None else np.repeat(
                np.array(classes.cycle(chosen, pairs), np.int32), steps)
            images = np.concatenate([b for _, b in generate(
                sampler, lambda a, b: path[a:b], len(path), FLAGS.batch_size, labels)])
            gif = sample_output.write_interpolation(images, pairs, steps, output)
            print(f"wrote {pairs} interpolations of {steps} steps from {source} to {output} "
                  f"and {gif}")
        elif output:
            total = _write_samples(sampler, output, kind, chosen, class_names)
            print(f"wrote {total} images from {source} to {output}")
    except OSError as e:
        why = errors.reason(e)
        undone = "; the images written were removed" if kind == "folder" else ""
        fix = "free some space or choose another path" if why in errors.FULL_DISK else \
            "choose another path"
        raise cli.UserError(f"cannot write --output={output} ({why}){undone}; {fix}") from None
    if FLAGS.export:
        saved_model, keras_file = export.export(sampler, FLAGS.export)
        takes = f"noise float32 [N, {dim}]" + (", labels int32 [N]" if chosen else "")
        print(f"exported {source} to {saved_model} (signature serving_default: {takes} -> "
              f"images uint8) and {keras_file}")
    return 0


# The console script's entry point; run_app exits with the command's status.
run = functools.partial(cli.run_app, main)

if __name__ == "__main__":
    run()
