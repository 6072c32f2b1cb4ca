"""Config checks as users meet them: every problem at once, before anything is written.

And the run folder's record of its config: what a resume may change, what it refuses, and the
history of what changed.
"""

import glob
import importlib
import json
import os

import pytest

from dcgan import config_check
from dcgan.errors import UserError
from dcgan.run.workdir import RunDir
from tests import helpers

TINY = {"model.noise_dim": 8, "model.gen_filters": 4, "model.disc_filters": 4,
        "model.kernel_size": 3, "training.batch_size": 8, "training.num_steps": 2,
        "training.log_every_steps": 2, "training.sample_every_steps": 2,
        "training.checkpoint_every_steps": 2, "training.num_grid_images": 4,
        "training.precision": "float32"}


def train_args(workdir=None, *flags, **overrides):
    """dcgan.main arguments for the tiny model; overrides as training__num_steps=4."""
    fields = dict(TINY, **{name.replace("__", "."): value for name, value in overrides.items()})
    args = ["--config=configs/default.py", *(f"--config.{k}={v}" for k, v in fields.items())]
    return args + list(flags) + ([f"--workdir={workdir}"] if workdir else [])


def dry_run(*overrides):
    return helpers.run_cli("dcgan.main", "--config=configs/default.py", "--dry_run", *overrides)


def read_json(path):
    with open(path) as f:
        return json.load(f)


def run_files(run):
    """The run's files but the bookkeeping a refused command may touch: its log and lock."""
    files = helpers.files_under(run)
    for bookkeeping in (RunDir(run).log, RunDir(run).lock_file):
        files.pop(os.path.relpath(bookkeeping, run), None)
    return files


def history(run):
    path = RunDir(run).config_history
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, training):
    """A finished 2-step run of the tiny model on synthetic:digits, trained by the CLI."""
    root = str(tmp_path_factory.mktemp("trained") / "run")
    result = training.command(*train_args(root))
    assert result.returncode == 0, result.stderr
    return root


@pytest.fixture
def run(trained, tmp_path):
    """A copy of the trained run, free to resume or spoil."""
    copy = helpers.copy_run(trained, tmp_path / "run")
    os.remove(RunDir(copy).lock_file)
    return copy


def test_label_smoothing_past_one_half_is_refused_before_anything_is_written(tmp_path):
    result = helpers.run_cli("dcgan.main",
                             *train_args(tmp_path / "run", training__label_smoothing=0.7))
    assert result.returncode == 2
    helpers.assert_one_line_error(result, "training.label_smoothing=0.7", "[0, 0.5)")
    assert "in user code" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_dry_run_lists_every_problem_and_exits_2():
    result = dry_run("--config.training.batch_size=-5", "--config.data.image_size=48")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("error: --config=configs/default.py has 2 problems:")
    assert "training.batch_size=-5 is not valid; use a positive integer" in result.stderr
    assert "data.image_size=48 is not valid; use 28, 32, 64 or 128" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("override, words", [
    ("training.keep_checkpoints=0", ["training.keep_checkpoints=0", "positive integer"]),
    ("seed=-1", ["seed=-1", "[0, 2**32)"]),
    (f"seed={2**32}", [f"seed={2**32}", "[0, 2**32)"]),
    ("optim.g_learning_rate=-0.001", ["optim.g_learning_rate=-0.001", "positive number"]),
    ("optim.beta2=1.0", ["optim.beta2=1.0", "[0, 1)"]),
    ("data.source=ftp:x", ["data.source='ftp:x'", "tfds:NAME[:SPLIT]", "synthetic:digits"]),
    ("data.source=idx:", ["data.source='idx:'", "idx:DIR"]),
    ("data.channels=2", ["data.channels=2", "1 (greyscale) or 3 (RGB)"]),
    ("model.upsample=bilinear", ["model.upsample='bilinear'", "transpose or resize"]),
    ("model.init=he", ["model.init='he'", "glorot_uniform or dcgan"]),
    ("model.minibatch_stddev=-2", ["model.minibatch_stddev=-2", "-1 (off)"]),
    ("model.class_norm=True", ["model.class_norm=True needs classes",
                               "model.conditional=True"]),
    ("model.stddev_by_class=True", ["model.stddev_by_class=True needs classes",
                                    "model.conditional=True"]),
    ("model.dropout=1.0", ["model.dropout=1.0", "[0, 1)"]),
    ("training.precision=float8", ["training.precision='float8'", "mixed_bfloat16"]),
    ("training.on_nan=ignore", ["training.on_nan='ignore'", "stop or rollback"]),
    ("training.eval_num_samples=3", ["training.eval_num_samples=3", ">= 4"]),
    ("runtime.distribute=horovod", ["runtime.distribute='horovod'", "multi_worker"]),
    ("training.augment=translation,blur",
     ["training.augment='translation,blur'", "translation, cutout or color"]),
    ("training.augment_p=1.5", ["training.augment_p=1.5", "[0, 1]"]),
    ("training.ada_target=0.6", ["training.ada_target=0.6", "training.augment is ''",
                                 "training.augment=translation,color,cutout"]),
    ("data.max_images=-1", ["data.max_images=-1", ">= 0"]),
    ("data.holdout=-3", ["data.holdout=-3", ">= 0"]),
    ("training.max_seconds=-1", ["training.max_seconds=-1", ">= 0"]),
    ("training.mode_seeking=-1", ["training.mode_seeking=-1", ">= 0"]),
    ("data.class_names=('Bag','Bag')", ["data.class_names=('Bag', 'Bag')", "distinct"]),
])
def test_each_bad_field_is_one_line_naming_field_value_and_choices(override, words):
    result = dry_run(f"--config.{override}")
    assert result.returncode == 2
    helpers.assert_one_line_error(result, *words)


def test_steering_by_the_held_out_gap_needs_pictures_held_out_and_one_rule():
    augmented = "--config.training.augment=color"
    result = dry_run(augmented, "--config.training.ada_gap_target=0.15")
    assert result.returncode == 2
    helpers.assert_one_line_error(result, "training.ada_gap_target=0.15",
                                  "data.holdout is 0", "data.holdout=20")
    result = dry_run(augmented, "--config.training.ada_gap_target=0.15",
                     "--config.training.ada_target=0.6", "--config.data.holdout=5")
    assert result.returncode == 2
    helpers.assert_one_line_error(result, "training.ada_target and training.ada_gap_target",
                                  "set one of them to 0")
    result = dry_run("--config.training.ada_gap_target=0.15", "--config.data.holdout=5")
    assert result.returncode == 2
    helpers.assert_one_line_error(result, "training.ada_gap_target=0.15",
                                  "training.augment is ''", "translation,color,cutout")


def test_a_fixed_p_is_not_silently_ignored_by_an_adaptive_rule():
    steered = ("--config.training.augment=color", "--config.data.holdout=5",
               "--config.training.ada_gap_target=0.15")
    result = dry_run(*steered, "--config.training.augment_p=0.5")
    assert result.returncode == 2
    helpers.assert_one_line_error(result, "training.augment_p=0.5", "adapts it from 0",
                                  "training.ada_gap_target=0 to keep p at 0.5")
    fixed = dry_run(*steered, "--config.training.augment_p=0.5",
                    "--config.training.ada_gap_target=0")
    assert fixed.returncode == 0, fixed.stderr


def test_a_probability_of_no_augmentation_is_refused():
    result = dry_run("--config.training.augment=", "--config.training.augment_p=0.5")
    assert result.returncode == 2
    helpers.assert_one_line_error(result, "training.augment_p=0.5", "training.augment is ''",
                                  "training.augment=translation,color,cutout")
    fixed = dry_run("--config.training.augment=color", "--config.training.augment_p=0.5")
    assert fixed.returncode == 0, fixed.stderr


def test_stddev_by_class_needs_the_stddev_channel_on():
    result = dry_run("--config.model.conditional=True", "--config.model.stddev_by_class=True")
    assert result.returncode == 2
    helpers.assert_one_line_error(result, "model.stddev_by_class=True",
                                  "model.minibatch_stddev is -1", "set it to 0")


def test_mode_seeking_needs_an_even_batch():
    result = dry_run("--config.training.mode_seeking=1", "--config.training.batch_size=31")
    assert result.returncode == 2
    helpers.assert_one_line_error(result, "training.mode_seeking=1", "batch_size=31 is odd",
                                  "e.g. 32")


def test_every_preset_passes_the_check():
    presets = sorted(glob.glob(os.path.join(helpers.ROOT, "configs", "[!_]*.py")))
    assert len(presets) >= 6
    for path in presets:
        module = importlib.import_module(f"configs.{os.path.basename(path)[:-3]}")
        config_check.check_config(module.get_config())


def test_a_misspelt_field_in_a_config_file_is_reported(tmp_path):
    preset = tmp_path / "typo.py"
    preset.write_text("from configs import default\n\n\ndef get_config():\n"
                      "    config = default.get_config()\n"
                      "    config.training.batchsize = 64\n    return config\n")
    result = helpers.run_cli("dcgan.main", f"--config={preset}", "--dry_run")
    helpers.assert_one_line_error(result, "training.batchsize is not a config field")


@pytest.mark.parametrize("body, words", [
    ("VALUE = 1\n", ["it defines no get_config()"]),
    ("def get_config():\n    raise RuntimeError('no GPU here')\n",
     ["RuntimeError: no GPU here"]),
    ("def get_config():\n    raise ValueError('bad preset')\n", ["ValueError: bad preset"]),
])
@pytest.mark.parametrize("command", ["dcgan.main", "dcgan.classifier"])
def test_a_config_file_that_does_not_load_is_one_line_naming_it(tmp_path, body, words, command):
    preset = tmp_path / "broken.py"
    preset.write_text(body)
    output = {"dcgan.main": f"--workdir={tmp_path / 'out'}",
              "dcgan.classifier": f"--output={tmp_path / 'out' / 'clf.keras'}"}[command]
    result = helpers.run_cli(command, f"--config={preset}", "--config.seed=1", output)
    assert result.returncode == 2
    helpers.assert_one_line_error(result, f"cannot load --config={preset}", *words)
    assert "unknown config field" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_classifier_checks_its_config_before_writing(tmp_path):
    output = tmp_path / "out" / "clf.keras"
    result = helpers.run_cli("dcgan.classifier", "--config=configs/default.py",
                             "--config.data.channels=2", f"--output={output}")
    helpers.assert_one_line_error(result, "data.channels=2")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["dcgan.main", "dcgan.sample", "dcgan.evaluate"])
def test_a_corrupt_config_json_is_one_line_naming_it_and_the_fix(run, command):
    config_path = RunDir(run).config
    with open(config_path, "w") as f:
        f.write('{"data": {"source": "synth')  # cut short by a full disk
    before = run_files(run)
    args = train_args(run, training__num_steps=4) if command == "dcgan.main" else \
        [f"--workdir={run}"]
    result = helpers.run_cli(command, *args)
    assert result.returncode == 2
    helpers.assert_one_line_error(result, f"cannot read {config_path}", "delete it", "dcgan.main")
    assert run_files(run) == before


def test_sample_checks_the_run_config(run):
    config = read_json(RunDir(run).config)
    config["model"]["upsample"] = "bilinear"  # edited by hand after training
    workdir_config = RunDir(run).config
    with open(workdir_config, "w") as f:
        json.dump(config, f)
    result = helpers.run_cli("dcgan.sample", f"--workdir={run}")
    helpers.assert_one_line_error(result, workdir_config, "model.upsample='bilinear'")


def test_resume_on_another_data_source_needs_allow_new_data(run, tmp_path):
    data = tmp_path / "digits.npz"
    helpers.write_npz(str(data), n=16)
    before = run_files(run)
    other = train_args(run, data__source=f"npz:{data}", training__num_steps=4)
    result = helpers.run_cli("dcgan.main", *other)
    assert result.returncode == 2
    helpers.assert_one_line_error(result, "other data", "data.source: 'synthetic:digits' -> "
                          f"'npz:{data}'", "--allow_new_data")
    assert run_files(run) == before

    result = helpers.run_cli("dcgan.main", *other, "--allow_new_data")
    assert result.returncode == 0, result.stderr
    assert history(run) == [{"step": 2, "changes": {
        "data.source": ["synthetic:digits", f"npz:{data}"], "training.num_steps": [2, 4]}}]
    assert read_json(RunDir(run).config)["data"]["source"] == f"npz:{data}"
    assert os.path.exists(os.path.join(RunDir(run).checkpoints, "ckpt-4.index"))


def test_resume_with_another_seed_is_refused(run):
    result = helpers.run_cli("dcgan.main", *train_args(run, seed=1, training__num_steps=4))
    helpers.assert_one_line_error(result, "other data", "seed: 0 -> 1", "--allow_new_data")
    assert not os.path.exists(os.path.join(RunDir(run).checkpoints, "ckpt-4.index"))


def test_resume_with_more_steps_is_recorded(run):
    result = helpers.run_cli("dcgan.main", *train_args(
        run, training__num_steps=4, optim__g_learning_rate=5e-5))
    assert result.returncode == 0, result.stderr
    assert history(run) == [{"step": 2, "changes": {"optim.g_learning_rate": [1e-4, 5e-5],
                                                    "training.num_steps": [2, 4]}}]
    config = read_json(RunDir(run).config)
    assert config["training"]["num_steps"] == 4 and config["resolved_precision"] == "float32"


def test_an_invocation_with_nothing_to_train_leaves_the_record_alone(run):
    before = read_json(RunDir(run).config)
    with open(RunDir(run).config, "rb") as f:
        raw = f.read()
    result = helpers.run_cli("dcgan.main", *train_args(run, training__log_every_steps=1))
    assert result.returncode == 0, result.stderr
    with open(RunDir(run).config, "rb") as f:
        assert f.read() == raw
    assert before["training"]["log_every_steps"] == 2 and history(run) == []


def test_a_resume_still_refuses_a_different_model(run):
    result = helpers.run_cli("dcgan.main", *train_args(
        run, model__gen_filters=8, training__num_steps=4))
    helpers.assert_one_line_error(result, "different model", "model.gen_filters: 4 -> 8")
    assert history(run) == []


def test_an_augmentation_named_twice_is_refused():
    from configs import default

    config = default.get_config()
    config.training.augment = "color,color,translation,color"
    with pytest.raises(UserError, match=r"training.augment='color,color,translation,color' "
                       r"names color more than once.*name each policy once") as error:
        config_check.check_config(config)
    assert "\n" not in str(error.value)
