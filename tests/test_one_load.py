"""One training run lists its folder once, decodes each picture once, draws its held-out
pictures once and takes the run folder's lock once, scorer and resume checks included."""

import collections

import pytest

from dcgan.data import image_folder, input_pipeline
from dcgan.run import start_check, workdir
from tests import helpers


@pytest.fixture
def counted(monkeypatch):
    """Counts the calls of the functions that list, decode, draw and lock; each still runs."""
    calls = collections.Counter()

    def counting(module, name):
        real = getattr(module, name)

        def wrapper(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)

    counting(image_folder, "scan")
    counting(image_folder, "decode")
    counting(input_pipeline, "select_images")
    counting(workdir, "lock")
    counting(workdir, "check_change")
    counting(workdir, "data_change")
    return calls


def folder_config(folder, **training):
    config = helpers.tiny_config(f"folder:{folder}", eval_every_steps=2, eval_features="random",
                                 eval_num_samples=4, **training)
    config.data.holdout = 4
    return config


def run_as_main(config, root, training):
    """What dcgan.main does: the checks, the lock, then the run with both handed on."""
    start = start_check.check_before_start(config, root, allow_new_data=False)
    lock = workdir.lock(root)
    try:
        training.run(config, root, start=start, lock=lock)
    finally:
        lock.close()


def test_a_folder_run_lists_and_decodes_once(tmp_path, counted, training):
    folder = tmp_path / "pictures"
    helpers.write_folder(str(folder), n=16)
    run_as_main(folder_config(folder, num_steps=2), str(tmp_path / "run"), training)
    assert counted["scan"] == 1 and counted["decode"] == 16
    assert counted["select_images"] == 1 and counted["lock"] == 1

    counted.clear()  # a resume compares the config and the folder's files once too
    run_as_main(folder_config(folder, num_steps=4), str(tmp_path / "run"), training)
    assert counted["scan"] == 1 and counted["decode"] == 16
    assert counted["check_change"] == 1 and counted["data_change"] == 1
    assert counted["select_images"] == 1 and counted["lock"] == 1
