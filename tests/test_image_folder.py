"""Folders of real pictures: every PNG mode loads, unreadable files are skipped and counted."""

import os
import sys
import threading

import numpy as np
import pytest
from PIL import Image

from dcgan.data.input_pipeline import load_images
from dcgan.errors import UserError
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


def test_a_mixed_folder_with_corrupt_files_trains(tmp_path, caplog, training):
    folder = write_mixed_folder(tmp_path / "pictures")
    config = helpers.tiny_config(f"folder:{folder}", num_steps=2, batch_size=4)
    config.data.image_size, config.data.channels = 32, 3
    with caplog.at_level("WARNING", logger="dcgan"):
        training.run(config, str(tmp_path / "run"))
    assert any("skipped 2 unreadable" in r.getMessage() for r in caplog.records)
    assert [r["step"] for r in helpers.read_records(str(tmp_path / "run"))] == [2]


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


def test_a_resumed_run_reads_the_cache(tmp_path, caplog, training):
    helpers.write_folder(str(tmp_path / "pictures"), n=12, size=40)
    config = helpers.tiny_config(f"folder:{tmp_path / 'pictures'}", num_steps=2)
    config.data.image_size, config.data.channels = 32, 3
    config.data.cache_dir = str(tmp_path / "cache")
    run = str(tmp_path / "run")
    training.run(config, run)
    config.training.num_steps = 4
    with caplog.at_level("INFO", logger="dcgan"):
        training.run(config, run)
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


def gradient(width, height):
    """An RGB picture whose red rises left to right and green top to bottom."""
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None, None]
    red, green = np.broadcast_arrays(x, y)
    return np.concatenate([red, green, np.zeros_like(red)], axis=-1).astype(np.uint8)


def test_large_pictures_are_decoded_reduced(tmp_path):
    from dcgan.data import image_folder

    Image.fromarray(gradient(4000, 3000)).save(tmp_path / "camera.jpg", quality=90)
    Image.fromarray(gradient(3000, 2000)).save(tmp_path / "scan.png")
    for name in ("camera.jpg", "scan.png"):
        array = image_folder.decode(str(tmp_path / name), 64)
        # Square, and between 2 and 4 times the size trained on: never the full picture.
        assert array.shape[0] == array.shape[1] and 128 <= array.shape[0] < 256, name
    fitted = load_images(f"folder:{tmp_path}", 64, 3)
    assert fitted.shape == (2, 64, 64, 3)
    # Still the centre square of the gradient: red rises left to right, green top to bottom.
    assert fitted[:, 32, 60, 0].min() > fitted[:, 32, 3, 0].max() + 100
    assert fitted[:, 60, 32, 1].min() > fitted[:, 3, 32, 1].max() + 100


@pytest.mark.slow
def test_loading_large_jpegs_keeps_memory_bounded(tmp_path):
    """What the process holds, measured by the kernel: 4 camera-sized JPEGs are 144 MB as
    pixels, and several times that once converted to floats at full size."""
    for i in range(4):
        Image.fromarray(np.roll(gradient(4000, 3000), i, axis=1)).save(tmp_path / f"{i}.jpg")
    script = ("import resource, sys\n"
              "from dcgan.data.input_pipeline import load_images\n"
              "load_images('folder:' + sys.argv[1], 8, 3)  # TensorFlow's own start-up\n"
              "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
              "images = load_images('folder:' + sys.argv[1], 64, 3)\n"
              "grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before\n"
              "print(grown // 1024, images.shape)\n")
    result = helpers._run([sys.executable, "-c", script, str(tmp_path)], helpers.ROOT, 300, None)
    assert result.returncode == 0, result.stderr
    grown_mb = int(result.stdout.split()[0])
    assert grown_mb < 100, f"peak memory grew by {grown_mb} MB"


def test_exif_orientation_turns_a_phone_picture_upright(tmp_path):
    # Stored sideways: red on the left, blue on the right. Orientation 6 means "turn 90 degrees
    # clockwise to show": the left edge goes to the top.
    stored = np.zeros((32, 32, 3), np.uint8)
    stored[:, :16] = (220, 0, 0)
    stored[:, 16:] = (0, 0, 220)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(tmp_path / "phone.jpg", exif=exif, quality=95)
    (image,) = load_images(f"folder:{tmp_path}", 32, 3)
    assert image[4, 16, 0] > 150 and image[4, 16, 2] < 80  # top: red
    assert image[28, 16, 2] > 150 and image[28, 16, 0] < 80  # bottom: blue


def test_symlinks_are_followed_and_a_file_counts_once(tmp_path, caplog):
    from dcgan.data.input_pipeline import select_images

    helpers.numbered_pngs(tmp_path / "real", 10)
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    (pictures / "linked_folder").symlink_to(tmp_path / "real")  # a linked sub-folder
    for i in range(10):  # and a link to each of its files beside it
        (pictures / f"link{i}.png").symlink_to(tmp_path / "real" / f"{i:03d}.png")
    with caplog.at_level("INFO", logger="dcgan"):
        images = load_images(f"folder:{pictures}", 8, 1)
    assert sorted(images[:, 0, 0, 0].tolist()) == [10 * i for i in range(10)]
    assert any("10 path(s) to a file listed under another name" in r.getMessage()
               for r in caplog.records)
    training, _, held_out, _ = select_images(images, 0, holdout=4)
    assert not set(training[:, 0, 0, 0].tolist()) & set(held_out[:, 0, 0, 0].tolist())


def test_a_hard_link_counts_once_and_a_link_up_the_tree_is_not_followed(tmp_path, caplog):
    pictures = tmp_path / "pictures"
    helpers.numbered_pngs(pictures, 6)
    os.link(pictures / "000.png", pictures / "hard.png")
    helpers.numbered_pngs(tmp_path / "neighbour", 3, start=10)  # a run's grids, say
    (pictures / "up").symlink_to("..")
    with caplog.at_level("INFO", logger="dcgan"):
        images = load_images(f"folder:{pictures}", 8, 1)
    assert sorted(images[:, 0, 0, 0].tolist()) == [10 * i for i in range(6)]
    assert any("1 path(s) to a file listed under another name" in r.getMessage()
               and "hard.png" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("cache", [False, True])
def test_a_file_name_that_is_not_utf8_loads_and_is_named_escaped(tmp_path, caplog, cache):
    pictures = tmp_path / "pictures"
    helpers.numbered_pngs(pictures, 3)
    folder = os.fsencode(pictures)
    Image.new("L", (8, 8), 200).save(os.path.join(folder, b"caf\xe9.png"))  # Latin-1 bytes
    with open(os.path.join(folder, b"bad\xffname.png"), "wb") as f:
        f.write(b"not a picture")
    cache_dir = str(tmp_path / "cache") if cache else ""
    with caplog.at_level("WARNING", logger="dcgan"):
        images = load_images(f"folder:{pictures}", 8, 1, cache_dir=cache_dir)
    assert sorted(images[:, 0, 0, 0].tolist()) == [0, 10, 20, 200]
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "skipped 1 unreadable file(s) of 5" in warning and "bad\\udcffname.png" in warning
    warning.encode("utf-8")  # what a log file or terminal can take: no lone surrogate


@pytest.mark.parametrize("cache", [False, True])
def test_a_broken_link_is_skipped_with_one_warning(tmp_path, caplog, cache):
    helpers.numbered_pngs(tmp_path / "pictures", 3)
    (tmp_path / "pictures" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    cache_dir = str(tmp_path / "cache") if cache else ""
    with caplog.at_level("WARNING", logger="dcgan"):
        images = load_images(f"folder:{tmp_path / 'pictures'}", 8, 1, cache_dir=cache_dir)
    assert len(images) == 3
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "skipped 1 broken link(s)" in warning and "gone.png" in warning


def test_a_named_pipe_with_an_image_name_is_skipped_not_waited_on(tmp_path, caplog):
    """Opening a pipe waits for a writer: loading the folder would hang, not fail."""
    helpers.numbered_pngs(tmp_path / "pictures", 3)
    pipe = tmp_path / "pictures" / "pipe.png"
    os.mkfifo(pipe)
    done = threading.Event()

    def release_a_reader():
        # Were the pipe opened for reading, this writes to it, so the test fails, not hangs.
        while not done.wait(0.5):
            try:
                os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:  # no reader: what should happen
                pass

    threading.Thread(target=release_a_reader, daemon=True).start()
    try:
        with caplog.at_level("WARNING", logger="dcgan"):
            images = load_images(f"folder:{tmp_path / 'pictures'}", 8, 1, cache_dir="")
    finally:
        done.set()
    assert len(images) == 3
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "skipped 1 path(s) that are not files (a named pipe" in warning
    assert "pipe.png" in warning


def test_a_full_disk_leaves_no_partial_cache_file(tmp_path):
    """The kernel's own full disk: /dev/full fails every write with ENOSPC."""
    from dcgan.data import image_folder

    helpers.numbered_pngs(tmp_path / "pictures", 3)
    cache = tmp_path / "cache"
    cache.mkdir()
    target = image_folder.cache_path(str(cache), str(tmp_path / "pictures"), 8, 1)
    partial = f"{target}.{os.getpid()}.tmp"
    os.symlink("/dev/full", partial)  # what this process writes its cache to
    with pytest.raises(UserError, match="cannot write the image cache .*No space left") as error:
        load_images(f"folder:{tmp_path / 'pictures'}", 8, 1, cache_dir=str(cache))
    assert "partial file was removed" in str(error.value) and "\n" not in str(error.value)
    assert os.listdir(cache) == []


def test_partial_cache_files_of_killed_builds_are_removed(tmp_path):
    import subprocess

    helpers.numbered_pngs(tmp_path / "pictures", 3)
    cache = tmp_path / "cache"
    cache.mkdir()
    gone = subprocess.Popen(["true"])
    gone.wait()  # a process that has ended: its pid names no process now
    stale = cache / f"pictures-8px1-0123456789abcdef.npy.{gone.pid}.tmp"
    stale.write_bytes(b"\0" * 1000)
    mine = cache / f"other-8px1-0123456789abcdef.npy.{os.getpid()}.tmp"  # a live build's
    mine.write_bytes(b"\0")
    load_images(f"folder:{tmp_path / 'pictures'}", 8, 1, cache_dir=str(cache))
    assert not stale.exists() and mine.exists()


def test_a_stray_file_in_a_class_tree_is_named(tmp_path):
    from dcgan.data.input_pipeline import NoLabels, load_labelled_images

    helpers.numbered_pngs(tmp_path / "pictures" / "cats", 2)
    helpers.numbered_pngs(tmp_path / "pictures" / "dogs", 2)
    Image.new("L", (8, 8)).save(tmp_path / "pictures" / "stray.png")
    with pytest.raises(NoLabels, match="1 image file.* outside the class sub-folders.*stray.png"):
        load_labelled_images(f"folder:{tmp_path / 'pictures'}", 8, 1)
    assert len(load_images(f"folder:{tmp_path / 'pictures'}", 8, 1)) == 5  # no labels: fine


def test_a_class_folder_of_unreadable_files_is_named(tmp_path):
    from dcgan.data.input_pipeline import load_labelled_images

    helpers.numbered_pngs(tmp_path / "pictures" / "cats", 2)
    helpers.numbered_pngs(tmp_path / "pictures" / "dogs", 2)
    (tmp_path / "pictures" / "fish").mkdir()
    (tmp_path / "pictures" / "fish" / "a.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(UserError, match="class folder.* fish hold no readable image"):
        load_labelled_images(f"folder:{tmp_path / 'pictures'}", 8, 1)


def test_a_home_relative_folder_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    helpers.numbered_pngs(tmp_path / "pictures", 2)
    assert len(load_images("folder:~/pictures", 8, 1)) == 2


def test_a_very_large_picture_loads_without_pillows_warning(tmp_path, caplog):
    """14000x14000 is over Pillow's decompression-bomb limit; 10000x10000 over its warning."""
    import warnings

    Image.new("L", (14000, 14000), 90).save(tmp_path / "huge.png")
    Image.new("L", (10000, 10000), 180).save(tmp_path / "large.png")
    with warnings.catch_warnings(record=True) as raised, \
            caplog.at_level("WARNING", logger="dcgan"):
        warnings.simplefilter("always")
        images = load_images(f"folder:{tmp_path}", 8, 1)
    assert sorted(images[:, 0, 0, 0].tolist()) == [90, 180]
    assert not [w for w in raised if "DecompressionBomb" in w.category.__name__]
    assert not caplog.records
