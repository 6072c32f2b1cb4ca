"""data.mirror: training pictures flipped left to right at random, the same flips on a resume."""

import json
import os

import numpy as np
import pytest

from dcgan.data import input_pipeline
from dcgan.errors import UserError
from dcgan.run import workdir
from tests import helpers


def batches(images, seed, start, count, mirror):
    stream = input_pipeline.make_dataset(images, 4, seed, start_step=start,
                                          mirror_seed=seed + 100 if mirror else None)
    return [batch.numpy() for batch in stream.take(count)]


def test_mirroring_flips_about_half_of_each_batch_and_a_resume_flips_the_same():
    images = helpers.random_digits(16, size=8, channels=3)
    plain = batches(images, 3, 0, 8, mirror=False)
    mirrored = batches(images, 3, 0, 8, mirror=True)
    flipped = 0
    for a, b in zip(plain, mirrored, strict=True):
        for picture, shown in zip(a, b, strict=True):
            # The same picture, in the same place of the order: as it is, or its mirror image.
            same = np.array_equal(shown, picture)
            assert same or np.array_equal(shown, picture[:, ::-1])
            flipped += not same
    assert 8 <= flipped <= 24  # of 32: about half
    resumed = batches(images, 3, 5, 3, mirror=True)
    for a, b in zip(mirrored[5:], resumed, strict=True):
        np.testing.assert_array_equal(a, b)
    other_seed = batches(images, 4, 0, 8, mirror=True)
    assert any(not np.array_equal(a, b) for a, b in zip(
        batches(images, 4, 0, 8, mirror=False), other_seed, strict=True))


def test_dry_run_shows_mirror_and_refuses_a_value_that_is_not_a_bool():
    result = helpers.run_cli("dcgan.main", "--config=configs/folder64.py", "--dry_run",
                             "--config.data.source=synthetic:digits", "--config.data.mirror=True")
    assert result.returncode == 0, result.stderr
    assert "mirror: true" in result.stdout
    from configs import default
    from dcgan import config_check

    config = default.get_config().to_dict()  # as a hand-edited config.json could hold it
    config["data"]["mirror"] = "yes"
    with pytest.raises(UserError, match=r"data.mirror='yes' is not valid; use True or False"):
        config_check.check_config(config)


def test_switching_mirror_on_at_a_resume_is_other_data(tmp_path):
    from configs import default

    before = default.get_config()
    after = default.get_config()
    after.data.mirror = True
    with pytest.raises(UserError, match="trained on other data .*data.mirror: False -> True"):
        workdir.check_change(str(tmp_path), before, after.to_dict(), allow_new_data=False)
    changes = workdir.check_change(str(tmp_path), before, after.to_dict(), allow_new_data=True)
    assert changes == {"data.mirror": [False, True]}


@pytest.mark.slow
def test_a_mirrored_run_resumes_exactly_and_differs_from_an_unmirrored_one(tmp_path):
    helpers.write_folder(str(tmp_path / "data"), n=16, size=32)

    def config(steps, mirror=True):
        c = helpers.tiny_config(f"folder:{tmp_path / 'data'}", num_steps=steps,
                                checkpoint_every_steps=3)
        c.data.image_size, c.data.channels, c.data.mirror = 32, 3, mirror
        return c

    straight, stopped, plain = (str(tmp_path / name) for name in ("straight", "stopped", "plain"))
    helpers.train_in_new_process((config(6), straight), (config(3), stopped),
                                 (config(6), stopped), (config(6, mirror=False), plain))
    a, b, c = (helpers.training_state(run) for run in (straight, stopped, plain))
    assert a.keys() == b.keys() and len(a) > 20
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert any(not np.array_equal(a[name], c[name]) for name in a if "generator" in name)
    with open(os.path.join(stopped, "config.json")) as f:
        assert json.load(f)["data"]["mirror"] is True
