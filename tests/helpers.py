"""Tiny configs and small on-disk datasets shared by the tests."""

import gzip
import importlib.util
import os
import struct
import subprocess
import sys

import numpy as np

from configs import default

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_config(source="synthetic:digits", **training):
    """A config that trains in a second or two on 2 CPU cores."""
    config = default.get_config()
    config.data.source = source
    config.model.noise_dim = 8
    config.model.gen_filters = 4
    config.model.disc_filters = 4
    config.model.kernel_size = 3
    config.training.batch_size = 8
    config.training.num_steps = 4
    config.training.log_every_steps = 2
    config.training.sample_every_steps = 2
    config.training.checkpoint_every_steps = 2
    config.training.num_grid_images = 4
    config.training.precision = "float32"
    for key, value in training.items():
        config.training[key] = value
    return config


def random_digits(n, size=28, channels=1, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, size, size, channels), dtype=np.uint8)


def write_idx(folder, n=24, prefix="train", gz=True):
    """MNIST-format image and label files."""
    os.makedirs(folder, exist_ok=True)
    images = random_digits(n)[..., 0]
    labels = np.arange(n, dtype=np.uint8) % 10
    opener = gzip.open if gz else open
    suffix = ".gz" if gz else ""
    with opener(os.path.join(folder, f"{prefix}-images-idx3-ubyte{suffix}"), "wb") as f:
        f.write(struct.pack(">IIII", 2051, n, 28, 28) + images.tobytes())
    with opener(os.path.join(folder, f"{prefix}-labels-idx1-ubyte{suffix}"), "wb") as f:
        f.write(struct.pack(">II", 2049, n) + labels.tobytes())
    return images


def write_folder(folder, n=12, size=40):
    import imageio.v3 as iio

    for i, image in enumerate(random_digits(n, size=size, channels=3)):
        sub = os.path.join(folder, f"class{i % 2}")
        os.makedirs(sub, exist_ok=True)
        iio.imwrite(os.path.join(sub, f"img{i}.png"), image)


def write_npz(path, n=16):
    images = random_digits(n)[..., 0]
    np.savez(path, x_train=images, y_train=np.zeros(n, np.uint8),
             x_test=images[:4], y_test=np.zeros(4, np.uint8))


def run_cli(module, *args, cwd=ROOT, timeout=300, env=None):
    """Run a dcgan command in a fresh process, as a user would; `env` adds variables."""
    return _run([sys.executable, "-m", module, *args], cwd, timeout, env)


def run_script(path, *args, timeout=300):
    """Run one of scripts/ in a fresh process from the project root, as a user would."""
    return _run([sys.executable, path, *args], ROOT, timeout, None)


def _run(command, cwd, timeout, env):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2", **(env or {}))
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


# Trains the pickled (config, workdir) pairs in turn, as the tests' new process.
_TRAIN_RUNS = """
import pickle, sys
import tensorflow as tf
from dcgan.training import train
tf.config.experimental.enable_op_determinism()
with open(sys.argv[1], "rb") as f:
    runs = pickle.load(f)
for config, workdir in runs:
    train.train_and_evaluate(config, workdir)
"""


def train_in_new_process(*runs, timeout=600):
    """Trains each (config, workdir) in turn in one new Python process, op determinism on.

    For the bit-for-bit resume tests: a run and its resumed twin add in the same order only
    from the same starting state of TensorFlow's runtime. A test worker that ran other tests
    first can leave it otherwise (seen as differences in the 7th digit), while every command a
    user runs starts a new process.
    """
    import pickle
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".pkl", delete=False) as f:
        pickle.dump(list(runs), f)
    try:
        result = _run([sys.executable, "-c", _TRAIN_RUNS, f.name], ROOT, timeout, None)
    finally:
        os.remove(f.name)
    assert result.returncode == 0, result.stderr[-3000:]


def load_script(path):
    """One of scripts/ imported as a module, to call its functions in-process."""
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def files_under(folder):
    """Relative path -> bytes of every file, to prove nothing was touched."""
    found = {}
    for dirpath, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, folder)] = f.read()
    return found


def assert_one_line_error(result, *words):
    """A command that failed as users should see it: exit 2, one `error:` line, no traceback."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    for word in words:
        assert word in errors[0], errors[0]


def idx_with_classifier(root):
    """Labelled IDX train/test files under root/idx and a feature classifier trained on them.

    Returns:
        (data folder, classifier path).
    """
    from dcgan import classifier
    from dcgan.data import input_pipeline

    data = os.path.join(root, "idx")
    write_idx(data, n=48)
    write_idx(data, n=24, prefix="t10k")
    splits = [input_pipeline.load_labelled_images(f"idx:{data}", 28, 1, split=s)[:2]
              for s in ("train", "test")]
    model, report = classifier.train_classifier(*splits, epochs=1, batch_size=16)
    clf = os.path.join(root, "clf.keras")
    classifier.save(model, report, clf)
    return data, clf


def training_state(workdir):
    """Every variable of the run's latest checkpoint that training computes, by name.

    Left out: bookkeeping that differs between equal runs, the count of saves (a resumed run
    saves more often) and the seconds trained (wall clock).
    """
    import tensorflow as tf

    reader = tf.train.load_checkpoint(os.path.join(workdir, "checkpoints"))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if not name.startswith(("_CHECKPOINTABLE_OBJECT_GRAPH", "save_counter",
                                    "train_seconds"))}
