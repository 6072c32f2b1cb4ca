"""The random streams of a run, each folded from the run's seed by its name.

Every random draw of a run comes from a stream named here: its seed is `fold(seed, NAME)`, a
hash of the run's seed and the name, so two streams never share numbers (as the generator's
noise at some step and the sample grid's latents once could), and adding a stream changes none
of the others. A draw that needs a fresh value per step or epoch pairs the stream's seed with
that counter, `[fold(seed, NAME), step]`, a stateless seed TensorFlow takes as it is: a resumed
run draws exactly what an uninterrupted one does.

The fold is a BLAKE2 hash, the same in every process and on every machine (Python's own hash()
of a string changes from process to process). Changing it, or a stream's name, changes the
numbers every run gets from its seed: a run started before would resume on other noise.

Two draws keep the seed itself, as they did before the streams had names: they say which
pictures a run is about, and a run folder written then must go on with the same ones. They are
the pictures a run trains on and holds out (data.max_images, data.holdout:
`input_pipeline.select_images`, at the start and when the run is scored) and the pictures of
the synthetic:digits source.
"""

import hashlib

# The generator's noise at each step, and the classes it is asked for in a conditional run.
NOISE = "noise"
FAKE_LABELS = "fake labels"
# The order of the training images: a permutation per epoch.
DATA_ORDER = "data order"
# Which real images of each batch are mirrored (data.mirror).
MIRROR = "mirror"
# The augmentation of the real and of the generated batch at each step.
AUGMENT_REAL = "augment real"
AUGMENT_FAKE = "augment fake"
# The initial weights and the layers' own generators (dropout).
WEIGHTS = "weights"
# The latents of the sample grid drawn through training: the same at every step.
GRID = "grid"
# The latents of every quality score, so two checkpoints' scores differ by the generator only.
EVAL_NOISE = "eval noise"
# The real images scores compare with, and those a perfect generator's samples stand for.
REFERENCE_IMAGES = "reference images"
BASELINE_IMAGES = "baseline images"
# The training images D's output on held-out ones is compared with (the held-out gap).
TRAINED_SAMPLE = "trained sample"

STREAMS = (NOISE, FAKE_LABELS, DATA_ORDER, MIRROR, AUGMENT_REAL, AUGMENT_FAKE, WEIGHTS, GRID,
           EVAL_NOISE, REFERENCE_IMAGES, BASELINE_IMAGES, TRAINED_SAMPLE)


def fold(seed, name):
    """The seed of stream `name` of a run seeded `seed`: an integer in [0, 2**32), like a
    config's seed, so NumPy and Keras take it as well as TensorFlow."""
    if name not in STREAMS:
        raise ValueError(f"no random stream named {name!r}; the streams are {STREAMS}")
    digest = hashlib.blake2b(f"{int(seed)}/{name}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "little")
