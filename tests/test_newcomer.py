"""What a new user trips on first: folders that are no class, silent decoding, and messages
that name the problem and its fix."""

import logging
import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from dcgan.data import image_folder, sources
from dcgan.errors import UserError
from tests.helpers import assert_one_line_error, run_cli


def pictures(folder, n, size=20, seed=0):
    """n random RGB PNGs in `folder`; returns their paths."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = [os.path.join(folder, f"{i}.png") for i in range(n)]
    for path in paths:
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)
    return paths


def dry_run(source, *flags, workdir=None):
    return run_cli("dcgan.main", "--config=configs/demo.py", f"--config.data.source={source}",
                   "--config.data.channels=3", "--config.training.batch_size=4", "--dry_run",
                   *([f"--workdir={workdir}"] if workdir else []), *flags)


def two_classes(root):
    pictures(os.path.join(root, "cats"), 6)
    pictures(os.path.join(root, "dogs"), 6, seed=1)
    return f"folder:{root}"


def write_svgs(folder, n):
    os.makedirs(folder, exist_ok=True)
    for i in range(n):
        with open(os.path.join(folder, f"{i}.svg"), "w") as f:
            f.write("<svg xmlns='http://www.w3.org/2000/svg'/>")


@pytest.mark.parametrize("kind", ["empty", "svg", "links", "folder_link"])
def test_a_class_folder_with_nothing_read_is_refused_by_name(tmp_path, kind):
    source = two_classes(tmp_path / "data")
    # Listed after cats and dogs: a file reached twice counts under the first path to it.
    wolves = tmp_path / "data" / "wolves"
    if kind == "folder_link":
        os.symlink("cats", wolves)
    else:
        wolves.mkdir()
    if kind == "svg":
        write_svgs(wolves, 3)
    elif kind == "links":
        for i in range(6):
            os.symlink(f"../cats/{i}.png", wolves / f"{i}.png")
    result = dry_run(source, "--config.model.conditional=True")
    fix = {"empty": "holds no image files: put pictures in it",
           "svg": "holds only files of kinds not read (3 .svg): convert them",
           "links": "holds only the same 6 file(s) as cats (reached through links)",
           "folder_link": "is the same folder as cats (a link)"}[kind]
    assert_one_line_error(result, f"but wolves {fix}", "or move it out of")
    # Without classes the same folder trains: its sub-folders are no classes then.
    assert dry_run(source).returncode == 0


def test_files_of_kinds_not_read_are_counted_in_one_line(tmp_path, caplog):
    two_classes(tmp_path)
    write_svgs(tmp_path / "cats", 3)
    (tmp_path / "dogs" / "scan.tiff").write_bytes(b"II*\0")
    (tmp_path / ".DS_Store").write_bytes(b"")  # hidden: not the user's pictures
    with caplog.at_level(logging.INFO, "dcgan"):
        source = f"folder:{tmp_path}"
        paths = image_folder.report_listing(image_folder.scan(str(tmp_path), source),
                                            str(tmp_path), source)
    assert len(paths) == 12
    lines = [r.getMessage() for r in caplog.records if "kinds not read" in r.getMessage()]
    assert len(lines) == 1, lines
    assert "skipped 4 file(s) of kinds not read (3 .svg, 1 .tiff)" in lines[0]


def test_decoding_many_files_shows_its_progress(tmp_path, caplog):
    paths = pictures(tmp_path, image_folder.PROGRESS_FROM, size=8)
    with caplog.at_level(logging.INFO, "dcgan"):
        arrays, skipped = image_folder.decode_all(paths, f"folder:{tmp_path}", 28)
    assert len(arrays) == len(paths) and not skipped
    lines = [r.getMessage() for r in caplog.records]
    assert f"decoding {len(paths)} image file(s)" in lines[0]
    # Piped (no terminal): a line every tenth of the way, the count in each.
    counts = [line for line in lines if line.startswith("decoding: ")]
    assert len(counts) == 10 and counts[-1].startswith(f"decoding: {len(paths)}/{len(paths)}")


@pytest.mark.parametrize("command", ["dcgan.main", "dcgan.sample", "dcgan.evaluate",
                                     "dcgan.report"])
def test_a_workdir_that_is_a_file_is_called_a_file(tmp_path, command):
    path = tmp_path / "notes.txt"
    path.write_text("keep me")
    config = ["--config=configs/demo.py"] if command == "dcgan.main" else []
    result = run_cli(command, *config, f"--workdir={path}")
    assert_one_line_error(result, f"workdir {path} is a file, not a folder", "--workdir")
    assert path.read_text() == "keep me"


def test_a_workdir_below_a_file_names_the_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("keep me")
    result = run_cli("dcgan.main", "--config=configs/demo.py", f"--workdir={path}/run")
    assert_one_line_error(result, f"{path} is a file, not a folder", "choose another --workdir")


def test_report_on_a_folder_that_is_no_run_says_so(tmp_path):
    pictures(tmp_path, 2)
    result = run_cli("dcgan.report", f"--workdir={tmp_path}")
    assert_one_line_error(result, f"{tmp_path} is not a run folder", "--workdir of a training run")
    assert "try again" not in result.stderr


def huge_png(path, side):
    """A real black side x side PNG of 1 bit per pixel: a few kB on disk, whatever the side."""
    def chunk(kind, data):
        checksum = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + checksum

    row = b"\0" * (1 + (side + 7) // 8)  # filter byte, then the row's bits
    packer = zlib.compressobj(9)
    pixels = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels)
                + chunk(b"IEND", b""))


def test_a_picture_too_large_to_decode_says_its_size_and_the_fix(tmp_path, caplog):
    huge = tmp_path / "huge.png"
    huge_png(huge, 17000)
    source = f"folder:{tmp_path}"
    fix = ("huge.png (too large to decode: 17000x17000 pixels is 289 megapixels, more than the "
           "268 allowed; shrink it to 16384x16384 or less)")
    with pytest.raises(UserError, match=r"none of the 1 image files can be read") as raised:
        image_folder.decode_all([str(huge)], source, 28)
    assert str(raised.value).endswith(fix + ")")
    paths = pictures(tmp_path / "ok", 2)
    with caplog.at_level(logging.WARNING, "dcgan"):
        arrays, skipped = image_folder.decode_all([str(huge), *paths], source, 28)
    assert len(arrays) == 2 and skipped == [str(huge)]
    assert any(fix in r.getMessage() for r in caplog.records)


def test_a_batch_larger_than_max_images_names_max_images(tmp_path):
    pictures(tmp_path, 12)
    result = dry_run(f"folder:{tmp_path}", "--config.data.max_images=3")
    assert_one_line_error(result, "batch_size 4 is more than the 3 training images",
                          "data.max_images=3 trained on", "or raise data.max_images (up to 12)")
    # A source listed only when it loads says the same once loaded.
    from dcgan.training import train
    from tests.helpers import tiny_config

    config = tiny_config("synthetic:digits:40")
    config.data.max_images = 3
    with pytest.raises(UserError, match=r"batch_size 8 is more than the 3 training images "
                       r"\(data.max_images=3 keeps of the 40 in synthetic:digits:40\); .* or raise "
                       r"data.max_images"):
        train.TrainingData(config, sources.parse(config.data.source))


@pytest.mark.parametrize("holdout", [0, 1])
def test_too_few_pictures_to_score_against_says_which_and_the_fix(tmp_path, holdout):
    from dcgan.quality import features

    pictures(tmp_path, 3)
    data = {"source": f"folder:{tmp_path}", "image_size": 28, "channels": 3,
            "holdout": holdout, "cache_dir": ""}
    expected = (r"but data.holdout=1 held out only 1 picture\(s\), the unseen ones .*; train a "
                r"run with --config.data.holdout=4 or more" if holdout else
                r"but folder:.* has only 3 picture\(s\); use more pictures")
    with pytest.raises(UserError, match="scoring needs at least 4 real images to compare with, "
                       + expected):
        features.reference_images(data, 100, seed=0)


@pytest.mark.parametrize("saved", [False, True])
def test_a_signal_before_the_first_checkpoint_says_nothing_is_saved_yet(tmp_path, caplog,
                                                                        saved):
    import signal
    import time

    from dcgan.training import recovery

    if saved:
        (tmp_path / "ckpt-2.index").write_bytes(b"")
    with caplog.at_level(logging.WARNING, "dcgan"), \
            recovery.StopOnSignal(str(tmp_path)) as stop:
        os.kill(os.getpid(), signal.SIGINT)
        deadline = time.monotonic() + 10
        while stop.exit_code is None and time.monotonic() < deadline:
            time.sleep(0.01)
    assert stop.exit_code == 130
    message = " ".join(r.getMessage() for r in caplog.records)
    assert ("losing the steps since the last checkpoint" if saved else
            "losing every step so far: no checkpoint is saved yet") in message


@pytest.mark.slow
def test_a_second_signal_before_the_first_checkpoint_says_the_run_starts_again(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from tests.helpers import ROOT

    log = tmp_path / "stderr.txt"
    with open(log, "w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "dcgan.main", "--config=configs/demo.py",
             "--config.training.num_steps=100000", f"--workdir={tmp_path / 'run'}"],
            cwd=ROOT, stderr=stderr, stdout=subprocess.DEVNULL,
            env=dict(os.environ, CUDA_VISIBLE_DEVICES=""))
        try:
            deadline = time.monotonic() + 120
            while "starting at step 0" not in log.read_text():
                assert process.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            process.send_signal(signal.SIGINT)
            time.sleep(0.2)
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=60) == 130
        finally:
            process.kill()
    said = log.read_text()
    assert "no checkpoint was saved yet, so the same command starts the run again" in said
    assert "resume from the last checkpoint" not in said and "Traceback" not in said


def test_a_class_name_with_a_comma_can_be_asked_for():
    from dcgan.data import classes

    names = ["birds", "cats, dogs", "fish"]
    assert classes.parse_labels('"cats, dogs",birds', names) == [1, 0]
    assert classes.parse_labels(r"cats\, dogs, 2", names) == [1, 2]
    assert classes.parse_labels("Fish, 0", names) == [2, 0]  # as before: names and numbers
    with pytest.raises(UserError, match=r"no class 'cats'.*a name with a comma goes in double "
                       r"quotes: --labels='\"cats, dogs\"'"):
        classes.parse_labels("cats, dogs", names)
    result = run_cli("dcgan.sample", "--help")
    assert result.returncode == 0
    assert "A name with a comma goes in double quotes" in " ".join(result.stdout.split())


@pytest.mark.parametrize("override, guess", [
    ("training.batchsize=4", "did you mean training.batch_size?"),
    ("trainin.batch_size=4", "did you mean training.batch_size?"),
    ("batch_size=4", "did you mean training.batch_size?"),
    ("data.imagesize=32", "did you mean data.image_size?"),
    ("training.nonsense=1", "'training.nonsense' in --config.training.nonsense=1; --dry_run"),
])
def test_a_misspelt_config_field_gets_a_did_you_mean(override, guess):
    result = run_cli("dcgan.main", "--config=configs/demo.py", f"--config.{override}",
                     "--dry_run")
    field = override.partition("=")[0]
    assert_one_line_error(result, f"unknown config field {field!r} in --config.{override}",
                          guess, "--dry_run lists the fields")


def cached_folder(tmp_path):
    """(source, cache folder, the images) of a folder whose cache is built."""
    from dcgan.data.input_pipeline import load_images

    pictures(tmp_path / "pictures", 6)
    source, cache = f"folder:{tmp_path / 'pictures'}", tmp_path / "cache"
    return source, cache, np.array(load_images(source, 28, 3, cache_dir=str(cache)))


def test_a_read_only_cache_folder_with_a_current_cache_is_read(tmp_path, caplog):
    from dcgan.data.input_pipeline import load_images
    from tests import unwritable

    source, cache, images = cached_folder(tmp_path)
    with unwritable.read_only(cache):
        result = dry_run(source, f"--config.data.cache_dir={cache}")
        assert result.returncode == 0, result.stderr
        with caplog.at_level(logging.INFO, "dcgan"):
            # A copy: a memory map left open would keep the read-only mount busy.
            again = np.array(load_images(source, 28, 3, cache_dir=str(cache)))
        np.testing.assert_array_equal(again, images)
        assert any("6 images read from the cache" in r.getMessage() for r in caplog.records)
        # A cache that would have to be built there is still refused, before anything loads.
        pictures(tmp_path / "pictures", 7)
        assert_one_line_error(dry_run(source, f"--config.data.cache_dir={cache}"),
                              f"{cache} is not writable")


def test_a_cache_whose_content_was_replaced_is_built_again(tmp_path, caplog):
    from dcgan.data.input_pipeline import load_images
    from tests import unwritable

    source, cache, images = cached_folder(tmp_path)
    (npy,) = cache.glob("*.npy")
    np.save(npy, np.zeros_like(images))  # a valid array of the right shape, other pixels
    with unwritable.read_only(cache), pytest.raises(UserError) as refused:
        load_images(source, 28, 3, cache_dir=str(cache))
    assert str(refused.value).startswith(f"the image cache {npy} does not match the content "
                                         "hash recorded when it was written")
    assert f"cannot be built again: data.cache_dir {cache}" in str(refused.value)
    with caplog.at_level(logging.WARNING, "dcgan"):
        rebuilt = load_images(source, 28, 3, cache_dir=str(cache))
    np.testing.assert_array_equal(rebuilt, images)
    assert any("does not match" in r.getMessage() and "building it again" in r.getMessage()
               for r in caplog.records)
