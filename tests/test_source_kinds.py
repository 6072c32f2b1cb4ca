"""A kind of data source is one module: a toy kind defined in this file alone is parsed,
checked before the start, trained on, resumed and recorded like the built-in ones."""

import json
import os

import numpy as np
import pytest

from dcgan import config_check
from dcgan.data import sources
from dcgan.errors import UserError
from dcgan.run import workdir
from tests import helpers


class Stripes(sources.Source):
    """`stripes:N`: N grey pictures of horizontal stripes, one stripe width per class."""

    kind = "stripes"
    form = "stripes:N"

    @classmethod
    def where_problem(cls, where):
        return None if where.isdigit() and int(where) > 0 else "use stripes:N, N > 0"

    def resolved(self):
        return f"stripes:{int(self.where)}"  # stripes:016 is stripes:16

    def has_test_split(self):
        return False

    def has_labels(self):
        return True

    def count(self):
        return int(self.where)

    def read(self, split, image_size, channels, seed, cache_dir):
        del split, seed, cache_dir
        labels = np.arange(self.count()) % 2
        rows = np.arange(image_size)[None, :, None, None]
        widths = (labels + 2)[:, None, None, None]
        images = np.where(rows // widths % 2, 255, 0) * np.ones((1, 1, image_size, channels))
        return images.astype(np.uint8), labels, ["narrow", "wide"]


@pytest.fixture
def stripes():
    sources.register(Stripes)
    yield
    del sources.KINDS[Stripes.kind]


def test_a_kind_registered_in_one_file_trains_resumes_and_is_checked(stripes, tmp_path, training):
    config = helpers.tiny_config("stripes:16", num_steps=2)
    config.data.holdout = 4
    config.model.conditional = True
    config_check.check_config(config, source_rule=sources.rule())  # the kind is a valid value
    run = str(tmp_path / "run")
    training.run(config, run)
    assert os.listdir(workdir.RunDir(run).checkpoints)
    assert workdir.read_classes(run) == ["narrow", "wide"]

    # The kind says what "the same source" is: another spelling resumes without a flag.
    config.data.source, config.training.num_steps = "stripes:016", 4
    training.run(config, run)
    with open(workdir.RunDir(run).config) as f:
        recorded = json.load(f)["data"]
    assert recorded["source"] == "stripes:16" and recorded["source_as_typed"] == "stripes:016"
    with pytest.raises(UserError, match="other data"):
        config.data.source = "stripes:20"
        training.run(config, run)

    # Its count is checked before the start, as a folder's is.
    config = helpers.tiny_config("stripes:6")
    with pytest.raises(UserError, match="batch_size 8 is more than the 6 training images"):
        training.run(config, str(tmp_path / "small"))
    assert not os.path.exists(tmp_path / "small")


def test_an_unknown_kind_is_refused_with_the_registered_forms(stripes):
    config = helpers.tiny_config("ftp:x")
    with pytest.raises(UserError, match="stripes:N") as error:
        config_check.check_config(config, source_rule=sources.rule())
    assert "folder:DIR" in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(UserError, match="use stripes:N, N > 0"):
        sources.parse("stripes:none")
