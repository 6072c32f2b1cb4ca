"""Every script in scripts/ answers --help with its flags and exit status 0, as dcgan's own
commands do: help that was asked for is not a failure (absl alone exits 1)."""

import glob
import os

import pytest

from tests import helpers

SCRIPTS = sorted(glob.glob(os.path.join(helpers.ROOT, "scripts", "*.py")))


@pytest.mark.parametrize("path", SCRIPTS, ids=os.path.basename)
def test_help_exits_zero_and_lists_flags(path):
    result = helpers.run_script(path, "--help")
    assert result.returncode == 0, result.stderr
    assert "--[no]verbose" in result.stdout, result.stdout
