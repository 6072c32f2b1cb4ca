"""Data sources and the resumable batch stream, on small fixtures written per test."""

import os
import struct
import time

import imageio.v3 as iio
import numpy as np
import pytest
import tensorflow as tf

from dcgan.data import idx_files, input_pipeline
from dcgan.data.input_pipeline import load_images, load_labelled_images, make_dataset
from dcgan.data.sources import synthetic
from dcgan.errors import UserError
from tests import helpers


def random_images(rng, n, height=28, width=28, channels=None):
    shape = (n, height, width) if channels is None else (n, height, width, channels)
    return rng.integers(0, 256, shape, dtype=np.uint8)


@pytest.fixture
def idx_dir(tmp_path):
    rng = np.random.default_rng(0)
    data = {
        "train_x": random_images(rng, 7),
        "train_y": rng.integers(0, 10, 7),
        "test_x": random_images(rng, 3),
        "test_y": rng.integers(0, 10, 3),
    }
    # Mixed compression and a name prefix, as downloads often have.
    helpers.write_idx_file(tmp_path / "fashion-train-images-idx3-ubyte.gz", data["train_x"])
    helpers.write_idx_file(tmp_path / "fashion-train-labels-idx1-ubyte.gz", data["train_y"])
    helpers.write_idx_file(tmp_path / "t10k-images-idx3-ubyte", data["test_x"])
    helpers.write_idx_file(tmp_path / "t10k-labels-idx1-ubyte", data["test_y"])
    return tmp_path, data


def test_idx_reads_train_and_test_splits_exactly(idx_dir):
    directory, data = idx_dir
    images, labels = load_labelled_images(f"idx:{directory}", 28, 1)[:2]
    assert images.dtype == np.uint8 and images.shape == (7, 28, 28, 1)
    np.testing.assert_array_equal(images[..., 0], data["train_x"])
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, data["train_y"])

    test_images, test_labels = load_labelled_images(f"idx:{directory}", 28, 1, split="test")[:2]
    np.testing.assert_array_equal(test_images[..., 0], data["test_x"])
    np.testing.assert_array_equal(test_labels, data["test_y"])


def test_idx_resizes_and_makes_rgb(idx_dir):
    directory, data = idx_dir
    images = load_images(f"idx:{directory}", 32, 3)
    assert images.shape == (7, 32, 32, 3) and images.dtype == np.uint8
    np.testing.assert_array_equal(images[..., 0], images[..., 2])  # grey repeated
    # Bilinear upsampling keeps each image's overall brightness.
    np.testing.assert_allclose(
        images.mean(axis=(1, 2, 3)), data["train_x"].mean(axis=(1, 2)), atol=3
    )


def test_idx_prefers_uncompressed_copy_and_labels_are_optional(tmp_path):
    raw = np.full((2, 28, 28), 7, np.uint8)
    helpers.write_idx_file(tmp_path / "train-images-idx3-ubyte", raw)
    helpers.write_idx_file(tmp_path / "train-images-idx3-ubyte.gz", raw + 1)
    images = load_images(f"idx:{tmp_path}", 28, 1)  # no label file: fine without labels
    assert (images == 7).all()
    with pytest.raises(UserError, match="train-labels"):
        load_labelled_images(f"idx:{tmp_path}", 28, 1)


@pytest.mark.parametrize(
    "name, content",
    [
        ("train-images-idx3-ubyte", b"\x00\x00\x08\x03" + struct.pack(">3I", 5, 28, 28) + b"x"),
        ("train-images-idx3-ubyte", b"PK\x03\x04 not an idx file at all"),
        ("train-images-idx3-ubyte.gz", b"\x1f\x8b\x08 broken gzip stream"),
    ],
    ids=["truncated", "bad-magic", "bad-gzip"],
)
def test_corrupt_idx_file_is_named(tmp_path, name, content):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(UserError) as error:
        load_images(f"idx:{tmp_path}", 28, 1)
    assert str(tmp_path / name) in str(error.value)


def test_idx_truncated_gzip_member_is_named(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    helpers.write_idx_file(path, np.zeros((50, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(UserError, match=str(path)):
        load_images(f"idx:{tmp_path}", 28, 1)


@pytest.mark.parametrize("scheme", ["idx", "folder", "npz"])
def test_missing_path_is_named(tmp_path, scheme):
    missing = tmp_path / "nowhere"
    with pytest.raises(UserError) as error:
        load_images(f"{scheme}:{missing}", 28, 1)
    message = str(error.value)
    assert f"{scheme}:{missing}" in message and "no such" in message
    assert "\n" not in message


@pytest.fixture
def image_folder(tmp_path):
    """A nested folder of PNG/JPG/BMP images of several sizes, plus files to skip."""
    root = tmp_path / "pictures"
    (root / "b" / "deeper").mkdir(parents=True)
    (root / "a").mkdir()
    # 28 x 40, white centre square, black side bands the square crop must remove.
    wide = np.zeros((28, 40, 3), np.uint8)
    wide[:, 6:34] = 255
    iio.imwrite(root / "a" / "wide.png", wide)
    # 56 x 56 grey, top half white: the 2x downsize keeps the halves.
    halves = np.zeros((56, 56), np.uint8)
    halves[:28] = 255
    iio.imwrite(root / "b" / "halves.PNG", halves)
    red = np.zeros((20, 20, 3), np.uint8)
    red[..., 0] = 255
    iio.imwrite(root / "b" / "deeper" / "red.bmp", red)
    iio.imwrite(root / "b" / "grey.jpg", np.full((30, 30), 100, np.uint8), quality=95)
    (root / "notes.txt").write_text("not an image")
    (root / "a" / "._wide.png").write_bytes(b"macOS resource fork")
    return root


def test_folder_crops_resizes_and_converts(image_folder):
    grey = load_images(f"folder:{image_folder}", 28, 1)
    # Sorted paths: a/wide.png, b/deeper/red.bmp, b/grey.jpg, b/halves.PNG.
    assert grey.shape == (4, 28, 28, 1) and grey.dtype == np.uint8
    wide, red, jpeg, halves = grey[..., 0]
    assert (wide == 255).all()  # the black bands were cropped away, nothing resampled
    np.testing.assert_array_equal(red, round(0.2989 * 255))  # luma of pure red
    assert np.abs(jpeg.astype(int) - 100).max() <= 2
    assert (halves[:13] == 255).all() and (halves[15:] == 0).all()

    rgb = load_images(f"folder:{image_folder}", 32, 3)
    assert rgb.shape == (4, 32, 32, 3)
    assert (rgb[1, ..., 0] == 255).all() and (rgb[1, ..., 1:] == 0).all()  # still red
    np.testing.assert_array_equal(rgb[3, ..., 0], rgb[3, ..., 1])  # grey PNG -> RGB


def test_folder_test_split_is_the_same_images_and_sub_folders_are_classes(image_folder):
    train = load_images(f"folder:{image_folder}", 28, 1)
    np.testing.assert_array_equal(load_images(f"folder:{image_folder}", 28, 1, "test"), train)
    # Sorted paths: a/wide.png, b/deeper/red.bmp, b/grey.jpg, b/halves.PNG; deeper folders
    # belong to their top folder's class.
    images, labels, names = input_pipeline.load_labelled_images(f"folder:{image_folder}", 28, 1)
    np.testing.assert_array_equal(images, train)
    assert labels.tolist() == [0, 1, 1, 1] and names == ["a", "b"]


def test_folder_corrupt_image_is_skipped_and_named(image_folder, caplog):
    bad = image_folder / "b" / "deeper" / "zz_broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    with caplog.at_level("WARNING", logger="dcgan"):
        images = load_images(f"folder:{image_folder}", 28, 1)
    assert len(images) == 4
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "skipped 1 unreadable file(s) of 5" in warning and str(bad) in warning


def test_folder_without_images_is_an_error(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "readme.md").write_text("nothing here")
    with pytest.raises(UserError, match=f"no image files.*{tmp_path}"):
        load_images(f"folder:{tmp_path}", 28, 1)


def test_npz_in_keras_mnist_layout(tmp_path):
    rng = np.random.default_rng(1)
    x_train, x_test = random_images(rng, 6), random_images(rng, 4)
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=x_train, y_train=np.arange(6), x_test=x_test, y_test=np.arange(4))
    images, labels = load_labelled_images(f"npz:{path}", 28, 1)[:2]
    np.testing.assert_array_equal(images[..., 0], x_train)
    np.testing.assert_array_equal(labels, np.arange(6))
    images, labels = load_labelled_images(f"npz:{path}", 28, 1, split="test")[:2]
    np.testing.assert_array_equal(images[..., 0], x_test)
    assert labels.dtype == np.int64 and list(labels) == [0, 1, 2, 3]


@pytest.mark.parametrize(
    "low, high, key", [(-1.0, 1.0, "images"), (0.0, 1.0, "anything")]
)
def test_npz_single_float_array(tmp_path, low, high, key):
    # A float RGB array in [low, high]; the top half of each image is `high`.
    array = np.full((3, 16, 16, 3), low, np.float32)
    array[:, :8] = high
    path = tmp_path / "faces.npz"
    np.savez(path, **{key: array})
    images = load_images(f"npz:{path}", 32, 3)
    assert images.shape == (3, 32, 32, 3) and images.dtype == np.uint8
    assert (images[:, :7] == 255).all() and (images[:, -7:] == 0).all()
    with pytest.raises(UserError, match="no labels"):
        load_labelled_images(f"npz:{path}", 32, 3)


def test_npz_bad_contents_are_named(tmp_path):
    out_of_range = tmp_path / "range.npz"
    np.savez(out_of_range, images=np.full((2, 8, 8), 300.0))
    with pytest.raises(UserError, match=str(out_of_range)):
        load_images(f"npz:{out_of_range}", 8, 1)
    ambiguous = tmp_path / "two.npz"
    np.savez(ambiguous, a=np.zeros((2, 8, 8)), b=np.zeros((2, 8, 8)))
    with pytest.raises(UserError, match=str(ambiguous)):
        load_images(f"npz:{ambiguous}", 8, 1)
    not_zip = tmp_path / "junk.npz"
    not_zip.write_bytes(b"junk")
    with pytest.raises(UserError, match=str(not_zip)):
        load_images(f"npz:{not_zip}", 8, 1)


def test_tfds_mock_data_with_labels_and_resize():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=12):
        images, labels = load_labelled_images("tfds:mnist", 28, 1)[:2]
        assert images.shape == (12, 28, 28, 1) and images.dtype == np.uint8
        assert labels.dtype == np.int64 and ((labels >= 0) & (labels < 10)).all()
        assert images.std() > 10  # mock pixels are random, not a constant fill
        cifar = load_images("tfds:cifar10:train", 28, 1, split="test")
        assert cifar.shape == (12, 28, 28, 1)
        rgb = load_images("tfds:mnist", 64, 3)
        assert rgb.shape == (12, 64, 64, 3)


@pytest.mark.slow
def test_tfds_without_data_or_network_fails_at_once(tmp_path):
    """Nothing prepared in the tfds data dir and no way out: seconds, not minutes of retries."""
    unreachable = "http://127.0.0.1:9"  # the discard port: nothing listens there
    offline = {"TFDS_DATA_DIR": str(tmp_path / "tfds"), "HTTPS_PROXY": unreachable,
               "https_proxy": unreachable, "HTTP_PROXY": unreachable,
               "http_proxy": unreachable, "NO_PROXY": "", "no_proxy": ""}
    started = time.monotonic()
    result = helpers.run_cli("dcgan.main", "--config=configs/default.py",
                             "--config.data.source=tfds:mnist", f"--workdir={tmp_path / 'run'}",
                             env=offline, timeout=120)
    seconds = time.monotonic() - started
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    for words in ("tfds:mnist", "no network", "idx:DIR", "folder:DIR", "npz:FILE"):
        assert words in errors[0], errors[0]
    assert seconds < 45, seconds


def test_tfds_unknown_dataset_is_a_one_line_user_error():
    pytest.importorskip("tensorflow_datasets")
    with pytest.raises(UserError) as error:
        load_images("tfds:no_such_dataset_here", 28, 1)
    message = str(error.value)
    assert "no_such_dataset_here" in message and "\n" not in message


def coded_images(n):
    """Images whose every pixel holds the image's own index times 15 (n <= 17)."""
    return np.repeat(np.arange(n, dtype=np.uint8) * 15, 4).reshape(n, 2, 2, 1)


def indices_of(batch):
    return np.round((batch.numpy()[:, 0, 0, 0] + 1.0) * 127.5 / 15).astype(int)


def take(dataset, count):
    return [indices_of(batch) for batch in dataset.take(count)]


def test_make_dataset_batches_are_float_in_range():
    dataset = make_dataset(coded_images(12), batch_size=5, seed=0)
    assert dataset.element_spec.shape == (5, 2, 2, 1)
    assert dataset.element_spec.dtype == tf.float32
    values = np.concatenate([b.numpy().ravel() for b in dataset.take(10)])
    assert values.min() == -1.0 and values.max() <= 1.0


def test_make_dataset_each_epoch_is_a_permutation():
    # 12 images, batch 4: three batches per epoch, each epoch every image exactly once.
    stream = take(make_dataset(coded_images(12), batch_size=4, seed=3), 9)
    epochs = [np.concatenate(stream[i : i + 3]) for i in (0, 3, 6)]
    for epoch in epochs:
        assert sorted(epoch) == list(range(12))
    assert not np.array_equal(epochs[0], epochs[1])  # reshuffled every epoch
    # A remainder (14 images, batch 4) is dropped: 12 distinct images per epoch.
    stream = take(make_dataset(coded_images(14), batch_size=4, seed=3), 3)
    assert len(set(np.concatenate(stream))) == 12


def test_make_dataset_resumes_exactly_and_depends_on_seed():
    images = coded_images(10)
    full = take(make_dataset(images, batch_size=3, seed=7), 12)
    resumed = take(make_dataset(images, batch_size=3, seed=7, start_step=5), 7)
    for expected, got in zip(full[5:], resumed, strict=True):
        np.testing.assert_array_equal(got, expected)
    again = take(make_dataset(images, batch_size=3, seed=7), 12)
    np.testing.assert_array_equal(np.stack(again), np.stack(full))
    other = take(make_dataset(images, batch_size=3, seed=8), 12)
    assert not np.array_equal(np.stack(other), np.stack(full))


def test_make_dataset_batch_larger_than_data_is_an_error():
    with pytest.raises(UserError, match="batch_size 11"):
        make_dataset(coded_images(10), batch_size=11, seed=0)


def test_synthetic_digits_look_like_mnist():
    images, labels = load_labelled_images("synthetic:digits:300", 28, 1, seed=0)[:2]
    assert images.shape == (300, 28, 28, 1) and images.dtype == np.uint8
    assert np.bincount(labels, minlength=10).tolist() == [30] * 10
    border = np.concatenate([images[:, :2].ravel(), images[:, -2:].ravel()])
    assert border.mean() < 10  # dark background
    per_image_max = images.max(axis=(1, 2, 3))
    assert (per_image_max > 200).all()  # every image has a bright stroke
    ink = (images > 128).mean(axis=(1, 2, 3))
    assert 0.05 < ink.mean() < 0.35
    # Labels agree with the pictures: a 1 uses less ink than an 8 or a 0.
    assert ink[labels == 1].mean() < 0.7 * min(ink[labels == 8].mean(), ink[labels == 0].mean())


def test_synthetic_digits_deterministic_by_seed_and_split():
    first = load_images("synthetic:digits:50", 28, 1, seed=0)
    np.testing.assert_array_equal(load_images("synthetic:digits:50", 28, 1, seed=0), first)
    assert not np.array_equal(load_images("synthetic:digits:50", 28, 1, seed=1), first)
    test = load_images("synthetic:digits", 28, 1, seed=0, split="test")
    assert test.shape == (synthetic.SYNTHETIC_TEST_SIZE, 28, 28, 1)
    assert not np.array_equal(test[:50], first)


def test_synthetic_digits_other_sizes_and_rgb():
    images = load_images("synthetic:digits:20", 64, 3, seed=0)
    assert images.shape == (20, 64, 64, 3)
    np.testing.assert_array_equal(images[..., 0], images[..., 1])
    with pytest.raises(UserError, match="synthetic:digits"):
        load_images("synthetic:letters", 28, 1)


def test_read_idx_returns_header_shape(tmp_path):
    path = tmp_path / "cube-idx3-ubyte"
    helpers.write_idx_file(path, np.arange(24).reshape(2, 3, 4))
    array = idx_files.read_idx(os.fspath(path))
    assert array.shape == (2, 3, 4) and array[1, 2, 3] == 23
