"""Starting a run from another run's networks (training.init_from), and fine-tuning settings."""

import glob
import json
import logging
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from dcgan import config_check, models
from dcgan.errors import UserError
from dcgan.run import workdir
from dcgan.training.state import TrainingState
from tests import helpers

SOURCE = "synthetic:digits:64"


def source_config():
    """A finished tiny run whose optimizers, step and augmentation p have all moved."""
    config = helpers.tiny_config(SOURCE, num_steps=4, augment="translation,color",
                                 ada_target=0.6, ada_kimg=1.0, ada_start_p=0.5)
    config.model.ema_decay = 0.9
    return config


@pytest.fixture(scope="module")
def source_run(tmp_path_factory, training):
    run = str(tmp_path_factory.mktemp("source") / "run")
    training.run(source_config(), run)
    return run


def fine_tune_config(source, **training):
    """A new run from `source`, on its own seed; on_nan=rollback saves ckpt-0 before the first
    step, so the state the run starts from is on disk."""
    config = helpers.tiny_config(SOURCE, **{"num_steps": 2, "init_from": source,
                                            "on_nan": "rollback", **training})
    config.model.ema_decay = 0.99
    config.model.dropout = 0.0  # no weights of its own: may differ from the source's
    config.seed = 7
    return config


def networks(config_dict, path, num_classes=0):
    """{part: weights} of the generator, discriminator and EMA generator in checkpoint `path`."""
    parts = {"generator": models.generator_from_config(config_dict, "float32", num_classes),
             "discriminator": models.discriminator_from_config(config_dict, "float32",
                                                               num_classes)}
    if config_dict["model"]["ema_decay"]:
        parts["ema_generator"] = models.generator_from_config(config_dict, "float32",
                                                              num_classes)
    tf.train.Checkpoint(**parts).restore(path).expect_partial().assert_existing_objects_matched()
    return {name: model.get_weights() for name, model in parts.items()}


def checkpoint(run, step):
    return os.path.join(workdir.RunDir(run).checkpoints, f"ckpt-{step}")


def test_a_new_run_starts_from_the_source_networks_exactly_and_from_nothing_else(
        source_run, tmp_path, training):
    run = str(tmp_path / "fine")
    training.run(fine_tune_config(source_run), run)
    source = networks(workdir.read_config(source_run), checkpoint(source_run, 4))
    start = networks(workdir.read_config(run), checkpoint(run, 0))
    for part in source:
        assert len(start[part]) == len(source[part]) > 4
        for theirs, ours in zip(source[part], start[part], strict=True):
            np.testing.assert_array_equal(ours, theirs, err_msg=part)
    # The generator and its average differ in the source: each was copied from its own.
    assert any(not np.array_equal(g, e) for g, e in
               zip(source["generator"], source["ema_generator"], strict=True))
    reader = tf.train.load_checkpoint(checkpoint(run, 0))
    values = {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}
    assert values["step/.ATTRIBUTES/VARIABLE_VALUE"] == 0
    slots = [name for name in values if "optimizer/_variables/" in name]
    assert len(slots) > 8 and all(not values[name].any() for name in slots)
    assert all(values[name] == 0 for name in values if name.endswith(
        "optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE"))
    assert not any(name.startswith("augment_p/") for name in values)  # the source's p stays
    source_reader = tf.train.load_checkpoint(checkpoint(source_run, 4))
    assert source_reader.get_tensor("augment_p/.ATTRIBUTES/VARIABLE_VALUE") > 0
    # What was taken, in config.json and as the history's first line.
    with open(workdir.RunDir(run).config) as f:
        taken = json.load(f)["initialized_from"]
    assert taken["checkpoint"] == os.path.abspath(checkpoint(source_run, 4))
    assert taken["step"] == 4 and len(taken["weights_sha256"]) == 64
    with open(workdir.RunDir(run).config_history) as f:
        assert json.loads(f.readline()) == {"step": 0, "initialized_from": taken}
    # The run trained on from there: its own step, not the source's.
    assert int(tf.train.load_checkpoint(checkpoint(run, 2)).get_tensor(
        "step/.ATTRIBUTES/VARIABLE_VALUE")) == 2


def test_a_checkpoint_or_the_best_one_is_picked_by_its_path(source_run, tmp_path, training):
    run = str(tmp_path / "fine")
    training.run(fine_tune_config(checkpoint(source_run, 2)), run)
    with open(workdir.RunDir(run).config) as f:
        taken = json.load(f)["initialized_from"]
    assert taken["step"] == 2
    source = networks(workdir.read_config(source_run), checkpoint(source_run, 2))
    start = networks(workdir.read_config(run), checkpoint(run, 0))
    for theirs, ours in zip(source["discriminator"], start["discriminator"], strict=True):
        np.testing.assert_array_equal(ours, theirs)
    best = os.path.join(source_run, "checkpoints", "best")
    with pytest.raises(UserError, match="best does not exist; it keeps one once"):
        training.run(fine_tune_config(best), str(tmp_path / "from_best"))
    os.makedirs(best)
    with pytest.raises(UserError, match="best holds no checkpoint; it keeps one once"):
        training.run(fine_tune_config(best), str(tmp_path / "from_best"))


@pytest.mark.slow
def test_resume_of_a_fine_tuned_run_is_exact_and_never_reads_the_source_again(
        source_run, tmp_path):
    copy = str(tmp_path / "source")
    shutil.copytree(source_run, copy)
    # Every fine-tuning setting on, so that each is shown to resume exactly.
    settings = dict(freeze_d_layers=1, init_lr_scale=0.5, augment="translation",
                    ada_target=0.6, ada_kimg=0.01, ada_start_p=0.3, checkpoint_every_steps=3,
                    on_nan="stop")
    config, half = fine_tune_config(copy, **settings), fine_tune_config(copy, **settings)
    config.training.num_steps, half.training.num_steps = 6, 3
    straight, stopped = str(tmp_path / "straight"), str(tmp_path / "stopped")
    helpers.train_in_new_process((config, straight), (half, stopped))
    shutil.rmtree(copy)  # the source goes once the run has started
    helpers.train_in_new_process((config, stopped))
    a, b = helpers.training_state(straight), helpers.training_state(stopped)
    assert a.keys() == b.keys() and len(a) > 20
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    with open(workdir.RunDir(stopped).config) as f:
        assert json.load(f)["initialized_from"]["step"] == 4


def test_a_resume_goes_on_from_its_own_start_whatever_init_from_says_now(
        source_run, tmp_path, caplog, training):
    run, elsewhere = str(tmp_path / "tuned"), str(tmp_path / "elsewhere")
    training.run(fine_tune_config(source_run, init_lr_scale=0.5), run)
    config = fine_tune_config(elsewhere, init_lr_scale=0.5)
    config.training.num_steps = 3
    with caplog.at_level(logging.INFO, logger="dcgan"):
        training.run(config, run)
    assert f"training.init_from={elsewhere} is not used: it is read when a run starts" \
        in caplog.text
    assert workdir.read_config(run).training.init_from == source_run
    with open(workdir.RunDir(run).config_history) as f:
        lines = [json.loads(line) for line in f]
    assert [line["changes"] for line in lines[1:]] == [{"training.num_steps": [2, 3]}]
    assert os.path.exists(checkpoint(run, 3) + ".index")


def test_a_start_over_without_init_from_keeps_no_record_of_the_start_before(
        source_run, tmp_path, training):
    run = str(tmp_path / "run")
    training.run(fine_tune_config(source_run), run)
    shutil.rmtree(workdir.RunDir(run).checkpoints)  # as if killed before its first save
    training.run(helpers.tiny_config(SOURCE, num_steps=2), run)
    with open(workdir.RunDir(run).config) as f:
        assert "initialized_from" not in json.load(f)
    assert not os.path.exists(workdir.RunDir(run).config_history)


@pytest.fixture(scope="module")
def cli_runs(source_run, tmp_path_factory):
    """A run folder with no checkpoint, ones whose config.json is cut short or lacks or garbles
    a network setting, one whose checkpoints are all torn, and a folder that is no run."""
    root = tmp_path_factory.mktemp("cli")
    unsaved = root / "unsaved"
    os.makedirs(workdir.RunDir(str(unsaved)).checkpoints)
    shutil.copy(workdir.RunDir(source_run).config, workdir.RunDir(str(unsaved)).config)
    broken = root / "broken"
    shutil.copytree(source_run, broken)
    with open(workdir.RunDir(str(broken)).config, "r+") as f:
        f.truncate(20)
    for name, change in (("lacking", lambda c: c["model"].pop("upsample")),
                         ("wordy", lambda c: c["model"].update(gen_filters="four")),
                         ("groupless", lambda c: c.pop("data"))):
        shutil.copytree(source_run, root / name)
        with open(workdir.RunDir(str(root / name)).config) as f:
            config = json.load(f)
        change(config)
        with open(workdir.RunDir(str(root / name)).config, "w") as f:
            json.dump(config, f)
    torn = root / "torn"
    shutil.copytree(source_run, torn)
    for data in glob.glob(str(torn / "checkpoints" / "ckpt-*.data-*")):
        with open(data, "r+b") as f:
            f.truncate(8)
    os.makedirs(root / "pictures")
    return root


@pytest.mark.parametrize("case, override, words", [
    ("not a run", "pictures", ["is not a run", "config.json not found"]),
    ("missing", "nowhere", ["no such run folder or checkpoint"]),
    ("no checkpoint", "unsaved", ["holds no checkpoint", "checkpoint_every_steps"]),
    ("itself", "own", ["this run's own folder"]),
    ("other shapes", "source", ["model.gen_filters is 4 there and 8 here",
                                "--config.model.gen_filters=4"]),
    ("several shapes", "source", ["model.gen_filters is 4 there and 8 here, model.disc_filters "
                                  "is 4 there and 8 here", "set --config.model.gen_filters=4 "
                                  "--config.model.disc_filters=4 to copy them"]),
    ("a file", "index file", ["is a file", "without its file ending"]),
    ("not kept", "not kept", ["no such checkpoint", "keeps ckpt-2, ckpt-4"]),
    ("itself before its start", "own", ["this run's own folder"]),
    ("every checkpoint torn", "torn", ["no checkpoint in", "reads back whole",
                                       "start from another run"]),
    ("the checkpoint named torn", "torn ckpt-4", ["checkpoint", "ckpt-4 cannot be read",
                                                  "give another checkpoint of the run"]),
    ("its config cut short", "broken", ["training.init_from=", "config.json",
                                        "restore it, or start from another run"]),
    ("a network setting missing from its config", "lacking", [
        "config.json has no model.upsample", "restore it, or start from another run"]),
    ("a network setting of the wrong kind", "wordy", [
        "config.json has model.gen_filters='four'", "restore it, or start from another run"]),
    ("a group missing from its config", "groupless", [
        "config.json has no data.image_size", "restore it, or start from another run"]),
])
def test_a_source_that_cannot_be_copied_is_refused_in_one_line_before_anything_is_written(
        source_run, cli_runs, tmp_path, case, override, words):
    run = str(cli_runs / "run") if case == "itself" else str(tmp_path / "run")
    if case == "itself":  # the run folder already holds the config and a checkpoint's index
        shutil.copytree(source_run, run, dirs_exist_ok=True)
        shutil.rmtree(workdir.RunDir(run).checkpoints)
        os.makedirs(workdir.RunDir(run).checkpoints)
    before = helpers.files_under(run) if os.path.isdir(run) else None
    named = {"source": source_run, "own": run, "not kept": checkpoint(source_run, 3),
             "index file": checkpoint(source_run, 4) + ".index",
             "torn ckpt-4": checkpoint(str(cli_runs / "torn"), 4)}
    source = named.get(override, str(cli_runs / override))
    result = helpers.run_cli(
        "dcgan.main", "--config=configs/demo.py", f"--workdir={run}",
        f"--config.data.source={SOURCE}", "--config.data.image_size=28",
        "--config.model.noise_dim=8", "--config.model.kernel_size=3",
        f"--config.model.gen_filters={8 if case.endswith('shapes') else 4}",
        f"--config.model.disc_filters={8 if case == 'several shapes' else 4}",
        "--config.model.init=glorot_uniform",
        f"--config.training.init_from={source}")
    helpers.assert_one_line_error(result, *words)
    assert (helpers.files_under(run) if os.path.isdir(run) else None) == before


def dry_run(run, source, *overrides):
    """`dcgan.main --dry_run` of a tiny run in `run` started from `source`."""
    return helpers.run_cli(
        "dcgan.main", "--config=configs/demo.py", f"--workdir={run}", "--dry_run",
        f"--config.data.source={SOURCE}", "--config.model.noise_dim=8",
        "--config.model.kernel_size=3", "--config.model.gen_filters=4",
        "--config.model.disc_filters=4", f"--config.training.init_from={source}", *overrides)


def test_dry_run_names_the_checkpoint_it_would_copy(source_run, tmp_path):
    result = dry_run(tmp_path / "run", source_run)
    assert result.returncode == 0, result.stderr
    assert f"copies the generator, discriminator and EMA generator of {source_run} (newest " \
        "checkpoint, step 4)" in result.stdout
    assert not os.path.exists(tmp_path / "run")


def test_dry_run_reads_the_source_checkpoint_and_refuses_a_torn_one(cli_runs, tmp_path):
    result = dry_run(tmp_path / "run", cli_runs / "torn")
    helpers.assert_one_line_error(result, "reads back whole")
    assert not os.path.exists(tmp_path / "run")


def test_dry_run_of_a_conditional_run_from_an_unconditional_one_says_its_class_layers_start_fresh(
        source_run, tmp_path):
    result = dry_run(tmp_path / "run", source_run, "--config.model.conditional=True")
    assert result.returncode == 0, result.stderr
    assert "; its class layers start fresh (the source is unconditional)" in result.stdout
    assert not os.path.exists(tmp_path / "run")


def test_a_conditional_run_from_an_unconditional_one_starts_its_class_layers_fresh(
        source_run, tmp_path, caplog, training):
    config = fine_tune_config(source_run)
    config.model.conditional = True
    config.model.class_norm = True
    run = str(tmp_path / "conditional")
    with caplog.at_level(logging.INFO, logger="dcgan"):
        training.run(config, run)
    fresh = [r.getMessage() for r in caplog.records if "start fresh" in r.getMessage()]
    assert fresh == ["training.init_from: class embedding, class projection, class scale and "
                     "shift start fresh (the source is unconditional); the rest is copied"]
    source = networks(workdir.read_config(source_run), checkpoint(source_run, 4))
    start = networks(workdir.read_config(run), checkpoint(run, 0), num_classes=10)
    # The discriminator: its trunk and logits as the source's, then the class projection.
    d_source, d_start = source["discriminator"], start["discriminator"]
    assert len(d_start) == len(d_source) + 1
    copied = [w for w in d_start if w.shape[:1] != (10,)]
    for theirs, ours in zip(d_source, copied, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    # The generator's first layer reads the noise as the source's did, and the class not yet.
    kernel = next(w for w in start["generator"] if w.shape == (16, 7 * 7 * 4 * 4))
    np.testing.assert_array_equal(kernel[:8], source["generator"][0])
    assert not kernel[8:].any()


@pytest.mark.parametrize("frozen", [1, 2])
def test_freeze_d_layers_keeps_the_first_discriminator_blocks_as_copied(
        source_run, tmp_path, frozen, training, caplog):
    run = str(tmp_path / "frozen")
    with caplog.at_level(logging.INFO, logger="dcgan"):
        training.run(fine_tune_config(source_run, freeze_d_layers=frozen), run)
    assert f"fine-tuning: the discriminator's first {frozen} of 2 convolution blocks keep the " \
        "copied weights (training.freeze_d_layers)" in caplog.text
    config = workdir.read_config(run)
    start, end = (networks(config, checkpoint(run, s))["discriminator"] for s in (0, 2))
    # 28 px: two blocks of a kernel and a bias each, then the logits' kernel and bias.
    assert len(start) == 6
    for i, (before, after) in enumerate(zip(start, end, strict=True)):
        kept = i < 2 * frozen
        assert np.array_equal(before, after) == kept, (i, frozen)


def test_init_lr_scale_lowers_both_learning_rates_of_a_run_started_from_another(source_run):
    rates = {}
    for scale in (1.0, 0.25):
        gan = TrainingState(fine_tune_config(source_run, init_lr_scale=scale), "float32")
        gan.set_learning_rates()
        rates[scale] = gan.learning_rates()
    assert rates[1.0] == pytest.approx({"g_learning_rate": 1e-4, "d_learning_rate": 1e-4})
    assert rates[0.25] == pytest.approx({"g_learning_rate": 2.5e-5, "d_learning_rate": 2.5e-5})


def test_ada_start_p_is_where_an_adaptive_p_starts(tmp_path, training):
    config = helpers.tiny_config(SOURCE, num_steps=1, log_every_steps=1, augment="translation",
                                 ada_target=0.6, ada_start_p=0.4)
    training.run(config, str(tmp_path))
    with open(workdir.RunDir(str(tmp_path)).metrics) as f:
        logged = json.loads(f.readline())
    # One step of 8 images moves p by at most 8 / 500k from where it started.
    assert logged["augment_p"] == pytest.approx(0.4, abs=1e-4)


@pytest.mark.parametrize("fields, words", [
    ({"freeze_d_layers": 1}, "training.freeze_d_layers=1 applies to a run started from "
                             "another, but training.init_from is ''"),
    ({"init_lr_scale": 0.5}, "training.init_lr_scale=0.5 applies to a run started from another"),
    ({"init_from": "runs/x", "freeze_d_layers": 3},
     "training.freeze_d_layers=3 is more than the 2 convolution blocks of a 28 px"),
    ({"ada_start_p": 0.2}, "training.ada_start_p=0.2 starts an adaptive p, but neither"),
    ({"init_lr_scale": 0.0}, "training.init_lr_scale=0.0 is not valid"),
])
def test_fine_tuning_settings_that_mean_nothing_are_refused(fields, words):
    config = helpers.tiny_config(**fields)
    with pytest.raises(UserError, match=words.replace("(", r"\(")):
        config_check.check_config(config)


STARTER = os.path.join(helpers.ROOT, "scripts", "make_starter.py")
# dcgan.main's flags after make_starter's `--`: networks small enough for a test.
TINY_STARTER = ["--", "--config.model.gen_filters=4", "--config.model.disc_filters=4",
                "--config.training.batch_size=8", "--config.data.holdout=4",
                "--config.training.precision=float32"]


def write_theme(root, count=16):
    """An icon theme of `count` distinct 64 px PNG icons in two contexts."""
    from PIL import Image

    for i, image in enumerate(helpers.random_digits(count, size=64, channels=3, seed=3)):
        folder = os.path.join(root, "64x64", ("apps", "places")[i % 2])
        os.makedirs(folder, exist_ok=True)
        Image.fromarray(image).save(os.path.join(folder, f"icon{i}.png"))


@pytest.mark.slow
def test_make_starter_trains_a_starter_on_an_icon_theme_within_its_budget(tmp_path):
    theme, run = str(tmp_path / "theme"), str(tmp_path / "starter")
    write_theme(theme)
    result = helpers.run_script(STARTER, f"--workdir={run}", f"--theme={theme}",
                                "--minutes=0.02", *TINY_STARTER)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"--config.training.init_from={workdir.RunDir(run).best_checkpoint}" in result.stdout
    config = workdir.read_config(run)
    assert config["data"]["source"] == f"folder:{run}-icons"
    assert config["data"]["image_size"] == 64 and config["training"]["max_seconds"] == 1.2
    assert len(os.listdir(os.path.join(run + "-icons", "apps"))) == 8
    assert any(name.endswith(".index") for name in os.listdir(workdir.RunDir(run).checkpoints))


@pytest.mark.slow
def test_make_starter_trains_a_number_of_steps_when_given_one(tmp_path):
    theme, run = str(tmp_path / "theme"), str(tmp_path / "starter")
    write_theme(theme)
    result = helpers.run_script(STARTER, f"--workdir={run}", f"--theme={theme}", "--steps=3",
                                *TINY_STARTER)
    assert result.returncode == 0, result.stderr[-2000:]
    config = workdir.read_config(run)
    assert config["training"]["num_steps"] == 3 and config["training"]["max_seconds"] == 0
    assert "ckpt-3.index" in os.listdir(workdir.RunDir(run).checkpoints)
    # Scored as it trains, the starter keeps its best checkpoint: the one to fine-tune from.
    assert "ckpt-3.index" in os.listdir(workdir.RunDir(run).best_checkpoint)


def test_make_starter_refuses_a_negative_number_of_steps_in_one_line(tmp_path):
    result = helpers.run_script(STARTER, f"--workdir={tmp_path / 'starter'}", "--steps=-1")
    helpers.assert_one_line_error(result, "--steps=-1 must be positive")
    assert not os.listdir(tmp_path)


def test_make_starter_refuses_a_budget_of_nothing_in_one_line(tmp_path):
    result = helpers.run_script(STARTER, f"--workdir={tmp_path / 'starter'}", "--minutes=0")
    helpers.assert_one_line_error(result, "--minutes=0 must be positive")
    assert not os.listdir(tmp_path)


def test_make_starter_refuses_icons_that_are_a_file_in_one_line(tmp_path):
    icons = tmp_path / "icons.txt"
    icons.write_text("not pictures")
    result = helpers.run_script(STARTER, f"--workdir={tmp_path / 'starter'}", f"--icons={icons}")
    helpers.assert_one_line_error(result, f"--icons={icons} is a file")
    assert sorted(os.listdir(tmp_path)) == ["icons.txt"]


@pytest.mark.parametrize("extra, words", [
    ("--config.model.gen_filter=8", ["unknown config field 'model.gen_filter'",
                                     "did you mean model.gen_filters?",
                                     "-- --dry_run lists the fields"]),
    ("--config.training.batch_size=0", ["training.batch_size=0 is not valid"]),
    ("--config=configs/folder32.py", ["trains configs/folder64.py",
                                      "give its fields after `--` as --config.FIELD=VALUE"]),
])
def test_make_starter_refuses_settings_for_dcgan_main_before_drawing_an_icon(
        tmp_path, extra, words):
    theme = str(tmp_path / "theme")
    write_theme(theme)
    result = helpers.run_script(STARTER, f"--workdir={tmp_path / 'starter'}", f"--theme={theme}",
                                "--", extra)
    helpers.assert_one_line_error(result, *words)
    assert sorted(os.listdir(tmp_path)) == ["theme"]  # no icons drawn, no run folder


def test_make_starter_dry_run_checks_and_says_no_starter_is_ready(tmp_path):
    theme, run = str(tmp_path / "theme"), str(tmp_path / "starter")
    write_theme(theme)
    result = helpers.run_script(STARTER, f"--workdir={run}", f"--theme={theme}", "--steps=3",
                                *TINY_STARTER, "--dry_run")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "image_size: 64" in result.stdout
    assert "starter in" not in result.stdout and not os.path.exists(run)


def conditional_source(tmp_path, training):
    """A tiny conditional run of two steps on the ten digit classes; returns its folder."""
    config = helpers.tiny_config(SOURCE, num_steps=2)
    config.model.conditional = True
    source = str(tmp_path / "source")
    training.run(config, source)
    return source


def test_a_conditional_run_from_one_with_other_classes_of_the_same_number_starts_them_fresh(
        tmp_path, caplog, training):
    source = conditional_source(tmp_path, training)
    other = [f"kind{k}" for k in range(10)]  # as if trained on ten other class folders
    workdir.record_classes(source, other)
    config = fine_tune_config(source)
    config.model.conditional = True
    with caplog.at_level(logging.INFO, logger="dcgan"):
        training.run(config, str(tmp_path / "fine"))
    fresh = [r.getMessage() for r in caplog.records if "start fresh" in r.getMessage()]
    assert len(fresh) == 1 and "the source's classes are 0 kind0, 1 kind1" in fresh[0], fresh


def test_a_conditional_run_from_one_with_the_same_classes_copies_its_class_layers_too(
        tmp_path, caplog, training):
    source = conditional_source(tmp_path, training)
    config = fine_tune_config(source)
    config.model.conditional = True
    run = str(tmp_path / "fine")
    with caplog.at_level(logging.INFO, logger="dcgan"):
        training.run(config, run)
    assert not [r for r in caplog.records if "start fresh" in r.getMessage()]
    theirs = networks(workdir.read_config(source), checkpoint(source, 2), num_classes=10)
    ours = networks(workdir.read_config(run), checkpoint(run, 0), num_classes=10)
    for part in ("generator", "discriminator"):
        assert any(w.shape[:1] == (10,) for w in ours[part])  # the class embeddings
        for a, b in zip(theirs[part], ours[part], strict=True):
            np.testing.assert_array_equal(b, a, err_msg=part)
