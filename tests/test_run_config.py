"""A run's config.json read back as the ConfigDict it was trained with, whichever version
wrote it (dcgan.run.workdir.read_config)."""

import json
import os
import shutil

import pytest

from configs import default
from dcgan import config_check
from dcgan.errors import UserError
from dcgan.run import workdir
from tests import helpers

# config.json of a tiny run as the first trainer recorded it: every field it knew of, and the
# precision it resolved.
FIRST_VERSION = os.path.join(os.path.dirname(__file__), "data", "config_of_the_first_version.json")


def field_names(config, prefix=""):
    names = set()
    for key, value in config.items():
        names |= field_names(value, f"{prefix}{key}.") if hasattr(value, "items") \
            else {f"{prefix}{key}"}
    return names


def old_run_folder(root):
    os.makedirs(root, exist_ok=True)
    shutil.copy(FIRST_VERSION, workdir.RunDir(root).config)
    return root


def test_an_old_config_json_reads_back_with_the_values_its_version_used(tmp_path):
    config = workdir.read_config(old_run_folder(str(tmp_path)))
    assert field_names(config) >= field_names(default.get_config())  # any new field included
    config_check.check_config(config, origin="config.json")
    # Read as training reads a preset: by attribute, the recorded values as they were...
    assert (config.model.ema_decay, config.training.batch_size, config.seed) == (0.5, 8, 0)
    # ...and the fields added since, at what their absence meant then: off.
    assert config.model.minibatch_stddev == -1 and config.model.conditional is False
    assert (config.data.holdout, config.training.augment, config.training.mode_seeking) == \
        (0, "", 0.0)


def test_a_config_json_that_is_no_config_is_refused(tmp_path):
    config_json = workdir.RunDir(str(tmp_path)).config
    for text, reason in (("[1, 2]", "not a JSON object"), ('{"model": {"a.b": 1}}', "dots"),
                         ("{", "Expecting")):
        with open(config_json, "w") as f:
            f.write(text)
        with pytest.raises(UserError, match=f"cannot read {config_json} .*{reason}"):
            workdir.read_config(str(tmp_path))


@pytest.mark.slow
def test_an_old_run_folder_resumes_and_samples(tmp_path, training):
    """A run whose config.json lacks every field added since the first version trains on with
    the settings it had, and samples."""
    root = str(tmp_path / "run")
    config = helpers.tiny_config(num_steps=2)
    config.model.ema_decay = 0.5
    training.run(config, root)
    old_run_folder(root)  # as the first version would have recorded the same run
    result = helpers.run_cli("dcgan.sample", f"--workdir={root}", "--num_images=4",
                             f"--output={tmp_path / 'grid.png'}")
    assert result.returncode == 0, result.stderr
    assert os.path.getsize(tmp_path / "grid.png") > 0
    config.training.num_steps = 4
    training.run(config, root)
    # The one change a resume sees is the one asked for: no added field differs from the
    # value the run had.
    with open(workdir.RunDir(root).config_history) as f:
        assert [json.loads(line) for line in f] == \
            [{"step": 2, "changes": {"training.num_steps": [2, 4]}}]
    assert workdir.read_config(root).training.num_steps == 4
