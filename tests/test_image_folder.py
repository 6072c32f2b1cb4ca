"""Folders of real pictures: every PNG mode loads, unreadable files are skipped and counted."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from dcgan.data.input_pipeline import load_images
from dcgan.errors import UserError
from dcgan.training import train
from tests import helpers


def write_mixed_folder(root):
    """One 16x16 picture per mode, each of a known colour; the sorted names give the order."""
    root.mkdir(parents=True, exist_ok=True)
    red = np.zeros((16, 16, 3), np.uint8)
    red[..., 0] = 200
    Image.fromarray(red).save(root / "a_rgb.png")
    # Transparent on the left half, with random colour under it: it must come out white.
    rgba = np.random.default_rng(0).integers(0, 256, (16, 16, 4)).astype(np.uint8)
    rgba[:, 8:] = (0, 0, 200, 255)
    rgba[:, :8, 3] = 0
    Image.fromarray(rgba, "RGBA").save(root / "b_rgba.png")
    Image.fromarray(red).convert("P", palette=Image.Palette.ADAPTIVE).save(root / "c_palette.png")
    # A palette image whose first entry is transparent: every pixel uses it.
    palette = Image.new("P", (16, 16), 0)
    palette.putpalette([10, 20, 30] + [0, 0, 0] * 255)
    palette.save(root / "d_palette_transparent.png", transparency=0)
    deep = np.full((16, 16), 65535 // 2, np.uint16)  # half of the 16-bit range
    Image.fromarray(deep).save(root / "e_grey16.png")
    Image.fromarray(np.full((16, 16), 60, np.uint8)).save(root / "f_grey.png")
    Image.fromarray(np.full((16, 16), 60, np.uint8)).convert("1").save(root / "g_bits.bmp")
    noisy = (root / "b_rgba.png").read_bytes()
    (root / "x_truncated.png").write_bytes(noisy[:len(noisy) // 2])
    (root / "y_text.jpg").write_text("not a picture")
    return root


def test_every_mode_loads_as_rgb_and_grey(tmp_path, caplog):
    folder = write_mixed_folder(tmp_path / "pictures")
    with caplog.at_level("WARNING", logger="dcgan"):
        rgb = load_images(f"folder:{folder}", 16, 3)
    assert rgb.shape == (7, 16, 16, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb[0, 0, 0], (200, 0, 0))
    assert (rgb[1, :, :8] == 255).all()  # transparent: white, not the noise under it
    np.testing.assert_array_equal(rgb[1, :, 8:].reshape(-1, 3)[0], (0, 0, 200))
    assert (rgb[2] == (200, 0, 0)).all()  # palette
    assert (rgb[3] == 255).all()  # a transparent palette entry
    assert (np.abs(rgb[4].astype(int) - 128) <= 1).all()  # 16 bits scaled, not clipped
    assert (rgb[5] == 60).all() and set(np.unique(rgb[6])) <= {0, 255}
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "skipped 2 unreadable file(s) of 9" in warning
    assert "x_truncated.png" in warning and "y_text.jpg" in warning

    grey = load_images(f"folder:{folder}", 16, 1)
    assert grey.shape == (7, 16, 16, 1)
    assert (grey[1, :, :8] == 255).all() and (grey[5] == 60).all()


def test_a_folder_of_unreadable_files_is_one_line(tmp_path):
    (tmp_path / "a.png").write_bytes(b"\x89PNG broken")
    (tmp_path / "b.jpg").write_text("text")
    with pytest.raises(UserError, match="none of the 2 image files can be read") as error:
        load_images(f"folder:{tmp_path}", 16, 3)
    assert "\n" not in str(error.value)


def test_a_mixed_folder_with_corrupt_files_trains(tmp_path, caplog):
    folder = write_mixed_folder(tmp_path / "pictures")
    config = helpers.tiny_config(f"folder:{folder}", num_steps=2, batch_size=4)
    config.data.image_size, config.data.channels = 32, 3
    with caplog.at_level("WARNING", logger="dcgan"):
        train.train_and_evaluate(config, str(tmp_path / "run"))
    assert any("skipped 2 unreadable" in r.getMessage() for r in caplog.records)
    with open(os.path.join(str(tmp_path / "run"), "metrics.jsonl")) as f:
        assert [json.loads(line)["step"] for line in f] == [2]


def test_the_cache_is_built_once_reused_and_rebuilt_when_the_folder_changes(tmp_path, caplog):
    folder = write_mixed_folder(tmp_path / "pictures")
    cache = tmp_path / "cache"
    source = f"folder:{folder}"
    with caplog.at_level("INFO", logger="dcgan"):
        first = load_images(source, 16, 3, cache_dir=str(cache))
    (npy,) = cache.glob("*.npy")
    built = npy.stat().st_mtime_ns
    assert any("cached in" in r.getMessage() for r in caplog.records)
    np.testing.assert_array_equal(first, load_images(source, 16, 3))  # the same images

    caplog.clear()
    with caplog.at_level("INFO", logger="dcgan"):
        again = load_images(source, 16, 3, cache_dir=str(cache))
    assert isinstance(again, np.memmap) and npy.stat().st_mtime_ns == built
    np.testing.assert_array_equal(again, first)
    messages = [r.getMessage() for r in caplog.records]
    assert any("read from the cache" in m for m in messages)
    assert any("skipped 2 unreadable" in m for m in messages)  # still said on a cache hit

    load_images(source, 32, 3, cache_dir=str(cache))  # another size: a file of its own
    assert len(list(cache.glob("*.npy"))) == 2
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(folder / "h_new.png")
    assert len(load_images(source, 16, 3, cache_dir=str(cache))) == 8
    assert npy.stat().st_mtime_ns != built


def test_a_resumed_run_reads_the_cache(tmp_path, caplog):
    helpers.write_folder(str(tmp_path / "pictures"), n=12, size=40)
    config = helpers.tiny_config(f"folder:{tmp_path / 'pictures'}", num_steps=2)
    config.data.image_size, config.data.channels = 32, 3
    config.data.cache_dir = str(tmp_path / "cache")
    run = str(tmp_path / "run")
    train.train_and_evaluate(config, run)
    config.training.num_steps = 4
    with caplog.at_level("INFO", logger="dcgan"):
        train.train_and_evaluate(config, run)
    assert any("12 images read from the cache" in r.getMessage() for r in caplog.records)


def test_an_unwritable_cache_folder_is_one_line(tmp_path):
    folder = write_mixed_folder(tmp_path / "pictures")
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would go")
    with pytest.raises(UserError, match="file is a file, not a folder; give a folder"):
        load_images(f"folder:{folder}", 16, 3, cache_dir=str(blocker / "cache"))
    with pytest.raises(UserError, match="cache_dir .*file is a file; give a folder") as error:
        load_images(f"folder:{folder}", 16, 3, cache_dir=str(blocker))
    assert "File exists" not in str(error.value)


@pytest.mark.parametrize("cache", [False, True])
def test_class_labels_skip_unreadable_files_with_their_images(tmp_path, cache):
    """A corrupt file in one class folder takes no label with it, with or without the cache."""
    from dcgan.data.input_pipeline import load_labelled_images

    folder = tmp_path / "classes"
    for name, value in (("cat", 50), ("dog", 200)):
        (folder / name).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (8, 8), (value, value, value)).save(folder / name / f"{i}.png")
    (folder / "cat" / "3.png").write_bytes(b"\x89PNG not really")
    cache_dir = str(tmp_path / "cache") if cache else ""
    for _ in range(2 if cache else 1):  # with the cache: built, then read back
        images, labels, names = load_labelled_images(f"folder:{folder}", 8, 1,
                                                     cache_dir=cache_dir)
        assert names == ["cat", "dog"] and labels.tolist() == [0, 0, 0, 1, 1, 1]
        assert images[:3].max() < 128 < images[3:].min()  # each label with its own image
