"""The rule of tests/conftest.py: a test that trains is slow, whether or not anyone marked it."""

import textwrap

import pytest

CONFTEST = "pytest_plugins = [\"tests.conftest\"]  # the project's hooks and fixtures\n"


@pytest.fixture
def suite(pytester):
    """A test folder of its own under the project's conftest."""
    pytester.makeconftest(CONFTEST)
    return pytester


def test_asking_for_training_directly_or_through_a_fixture_marks_a_test_slow(suite):
    suite.makepyfile(test_costs=textwrap.dedent("""
        import pytest

        @pytest.fixture(scope="module")
        def finished(training):
            return training

        def test_trains_itself(training):
            pass

        def test_reads_a_trained_run(finished):
            pass

        def test_trains_nothing():
            pass
    """))
    fast = suite.runpytest("-p", "no:cacheprovider", "-m", "not slow", "-v")
    fast.assert_outcomes(passed=1, deselected=2)
    fast.stdout.fnmatch_lines(["*test_trains_nothing PASSED*"])
    suite.runpytest("-p", "no:cacheprovider", "-m", "slow").assert_outcomes(passed=2,
                                                                           deselected=1)


def test_an_unmarked_test_that_trains_fails_naming_the_fixture(suite, training):
    suite.makepyfile(test_sneaky=textwrap.dedent("""
        from dcgan.training import train
        from tests import helpers

        def test_trains_without_saying_so(tmp_path):
            train.train_and_evaluate(helpers.tiny_config(num_steps=1), str(tmp_path))
    """))
    result = suite.runpytest("-p", "no:cacheprovider", "-m", "not slow")
    result.assert_outcomes(passed=1, errors=1)  # it ran, then failed at its teardown
    result.stdout.fnmatch_lines(["*this test trained (*.index) but is not marked slow: train "
                                 "through the `training` fixture*"])
