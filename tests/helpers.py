"""Tiny configs and small on-disk datasets shared by the tests."""

import gzip
import importlib.util
import json
import os
import shutil
import struct
import subprocess
import sys

import numpy as np

from configs import default
from dcgan.run.workdir import RunDir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_config(source="synthetic:digits", conditional=False, **training):
    """A config that trains in a second or two on 2 CPU cores; `training` sets its fields."""
    config = default.get_config()
    config.data.source = source
    config.model.conditional = conditional
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


def tiny_folder_config(pictures, conditional=False, **training):
    """tiny_config on a folder of pictures, drawn at 32x32 in colour."""
    config = tiny_config(f"folder:{pictures}", conditional, **{"num_steps": 2, **training})
    config.data.image_size, config.data.channels = 32, 3
    return config


def tiny_eval_config(data, clf, **training):
    """tiny_config on the IDX files in `data`, scored every 2 steps with the classifier `clf`
    (see idx_with_classifier)."""
    settings = dict(num_steps=4, eval_every_steps=2, eval_num_samples=16, eval_features=clf)
    return tiny_config(f"idx:{data}", **{**settings, **training})


def random_digits(n, size=28, channels=1, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, size, size, channels), dtype=np.uint8)


def write_idx(folder, n=24, prefix="train", gz=True):
    """MNIST-format image and label files."""
    os.makedirs(folder, exist_ok=True)
    images = random_digits(n)[..., 0]
    labels = np.arange(n, dtype=np.uint8) % 10
    suffix = ".gz" if gz else ""
    write_idx_file(os.path.join(folder, f"{prefix}-images-idx3-ubyte{suffix}"), images)
    write_idx_file(os.path.join(folder, f"{prefix}-labels-idx1-ubyte{suffix}"), labels)
    return images


def write_idx_file(path, array):
    """A uint8 array as an IDX file, gzip-compressed when the name ends in .gz."""
    array = np.asarray(array, np.uint8)
    data = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    data += struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    with open(path, "wb") as f:
        f.write(gzip.compress(data) if str(path).endswith(".gz") else data)


def numbered_pngs(folder, count, start=0):
    """PNGs each of one grey level (its number), to tell the images apart after loading."""
    from PIL import Image

    os.makedirs(folder, exist_ok=True)
    for i in range(start, start + count):
        Image.new("L", (8, 8), 10 * i).save(os.path.join(folder, f"{i:03d}.png"))


def png_names(folder):
    """The names of the PNG files in `folder`, sorted."""
    return sorted(name for name in os.listdir(folder) if name.endswith(".png"))


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


def command_env(**extra):
    """The environment of a command the tests start: this one, on the CPU, quiet."""
    return dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2", **extra)


def run_cli(module, *args, cwd=ROOT, timeout=300, env=None):
    """Run a dcgan command in a fresh process, as a user would; `env` adds variables."""
    return _run([sys.executable, "-m", module, *args], cwd, timeout, env)


def run_script(path, *args, timeout=300):
    """Run one of scripts/ in a fresh process from the project root, as a user would."""
    return _run([sys.executable, path, *args], ROOT, timeout, None)


def _run(command, cwd, timeout, env):
    return subprocess.run(command, cwd=cwd, env=command_env(**(env or {})),
                          capture_output=True, text=True,
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


def read_records(workdir):
    """The run's metrics.jsonl, one dict a line; a line that is not JSON fails the test."""
    with open(RunDir(workdir).metrics) as f:
        return [json.loads(line) for line in f]


def copy_run(workdir, to):
    """A copy of the run folder `workdir` at `to` (made), free to resume or spoil."""
    shutil.copytree(workdir, to)
    return str(to)


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

    reader = tf.train.load_checkpoint(RunDir(workdir).checkpoints)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if not name.startswith(("_CHECKPOINTABLE_OBJECT_GRAPH", "save_counter",
                                    "train_seconds"))}
