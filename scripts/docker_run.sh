#!/usr/bin/env bash
# Train, sample, evaluate or serve TensorBoard from the GPU image, with the host's runs and data
# directories mounted and every file written as the calling user.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/docker_run.sh [COMMAND] [ARGS...]
       scripts/docker_run.sh --help

Runs the dcgan image (building it first if it is missing) with ./runs mounted at
/runs and the data directory at /data, as your own user, on all GPUs. Uses
docker when its daemon answers, else podman.
ARGS go to the program inside the container; `COMMAND --help` shows its flags.
Inside the container runs/ and data/ point at the mounts, so host paths such as
--workdir=runs/mnist work unchanged.

Commands:
  train        dcgan-train ARGS (the default: ARGS may start right away)
  sample       dcgan-sample ARGS
  evaluate     dcgan-evaluate ARGS
  tensorboard  TensorBoard on the runs directory, at http://localhost:6006
  build        build (or rebuild) the image, then exit

Examples:
  scripts/docker_run.sh --config=configs/mnist.py --workdir=runs/mnist
  scripts/docker_run.sh sample --help
  scripts/docker_run.sh tensorboard
  DCGAN_GPUS= scripts/docker_run.sh --config=configs/demo.py --workdir=runs/demo

Environment:
  DCGAN_IMAGE       image tag (default dcgan:latest)
  DCGAN_BASE        base image to build on (default: the Dockerfile's, the TensorFlow GPU
                    image); any image with python3 and pip works, TensorFlow is then installed
  DCGAN_ENGINE      docker or podman (default: docker if its daemon answers, else podman)
  DCGAN_REBUILD=1   rebuild the image even if it exists
  DCGAN_GPUS        value of docker's --gpus (default all; set it empty to run on the CPU)
  DCGAN_RUNS_DIR    host directory mounted at /runs (default ./runs)
  DCGAN_DATA_DIR    host directory mounted at /data (default ./data); tensorflow-datasets
                    keeps its downloads in its tensorflow_datasets/ subdirectory
  DCGAN_ENTRYPOINT  program to run instead of the command's (e.g. dcgan-sample, bash)
  DCGAN_TB_PORT     host port for tensorboard (default 6006)
  DCGAN_DRY_RUN=1   print the docker commands instead of running them
EOF
}

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
image="${DCGAN_IMAGE:-dcgan:latest}"
# `-` rather than `:-`: an empty DCGAN_GPUS is a request for no GPUs, not for the default.
gpus="${DCGAN_GPUS-all}"
tb_port="${DCGAN_TB_PORT:-6006}"
dry_run="${DCGAN_DRY_RUN:-0}"

# docker -v needs absolute host paths.
absolute() {
  case "$1" in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s\n' "$PWD/$1" ;;
  esac
}
runs_dir="$(absolute "${DCGAN_RUNS_DIR:-runs}")"
data_dir="$(absolute "${DCGAN_DATA_DIR:-data}")"

# Runs a command, or only prints it (shell-quoted, one line) when DCGAN_DRY_RUN=1.
run() {
  if [[ "$dry_run" == 1 ]]; then
    printf '%s' "$1"
    shift
    if (($#)); then
      printf ' %q' "$@"
    fi
    printf '\n'
  else
    "$@"
  fi
}

build_image() {
  local build_args=(build --tag "$image")
  if [[ -n "${DCGAN_BASE:-}" ]]; then
    build_args+=(--build-arg "BASE=$DCGAN_BASE")
  fi
  run "$engine" "${build_args[@]}" "$repo_root"
}

ensure_image() {
  if [[ "${DCGAN_REBUILD:-0}" == 1 ]] || ! "$engine" image inspect "$image" >/dev/null 2>&1; then
    build_image
  fi
}

command="train"
case "${1:-}" in
  -h | --help | help)
    usage
    exit 0
    ;;
  train | sample | evaluate | tensorboard | build)
    command="$1"
    shift
    ;;
  *) ;; # anything else is already an argument for dcgan-train
esac

# A docker client on PATH is not enough: it installs without a daemon, and only a request to the
# daemon (`docker info`) tells whether it can run anything. Podman needs no daemon.
if [[ -n "${DCGAN_ENGINE:-}" ]]; then
  engine="$DCGAN_ENGINE"
elif [[ "$dry_run" != 1 ]] && ! docker info >/dev/null 2>&1 && command -v podman >/dev/null 2>&1; then
  engine=podman
else
  engine=docker
fi

if [[ "$dry_run" != 1 ]] && ! command -v "$engine" >/dev/null 2>&1; then
  echo "error: $engine not found on PATH; install Docker Engine and the NVIDIA Container Toolkit (or podman)" >&2
  exit 1
fi

if [[ "$command" == build ]]; then
  build_image
  exit 0
fi
ensure_image

docker_args=(run --rm --init --user "$(id -u):$(id -g)")
# Interactive only when attached to a terminal, so the script also works from cron or CI.
if [[ -t 0 && -t 1 ]]; then
  docker_args+=(--interactive --tty)
fi

# Create the mount points as the calling user; left to Docker they would be owned by root.
if [[ "$dry_run" != 1 ]]; then
  mkdir -p "$runs_dir" "$data_dir/tensorflow_datasets"
fi

if [[ "$command" == tensorboard ]]; then
  docker_args+=(
    --publish "$tb_port:6006"
    --volume "$runs_dir:/runs:ro"
    --entrypoint "${DCGAN_ENTRYPOINT:-tensorboard}"
    "$image" --logdir /runs --bind_all --port 6006
  )
  run "$engine" "${docker_args[@]}" "$@"
  exit 0
fi

case "$command" in
  sample) entrypoint="${DCGAN_ENTRYPOINT:-dcgan-sample}" ;;
  evaluate) entrypoint="${DCGAN_ENTRYPOINT:-dcgan-evaluate}" ;;
  *) entrypoint="${DCGAN_ENTRYPOINT:-}" ;;
esac

if [[ -n "$gpus" ]]; then
  docker_args+=(--gpus "$gpus")
fi
docker_args+=(--volume "$runs_dir:/runs" --volume "$data_dir:/data")
# Empty means the image's own entry point, dcgan-train.
if [[ -n "$entrypoint" ]]; then
  docker_args+=(--entrypoint "$entrypoint")
fi

run "$engine" "${docker_args[@]}" "$image" "$@"
