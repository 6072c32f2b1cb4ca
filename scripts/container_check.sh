#!/usr/bin/env bash
# Build the image from the project's own Dockerfile and prove it works, through
# scripts/docker_run.sh as a user runs it: every entry point's --help; a short demo run written
# into a host folder as the calling user; a resume to more steps that ends on the same tensors
# as an uninterrupted run on the host; dcgan-sample and a SavedModel export that the host
# reloads and that reproduces the container's images; TensorBoard answering HTTP; a bad config's
# one-line error and exit 2, as on the host; SIGTERM stopping training with a checkpoint that
# resumes. Prints the seconds of each step; exits non-zero on the first failure, and when this
# machine cannot run containers at all.
#
# The engine is docker when its daemon answers, else podman (installed with apt-get when run as
# root). The image is built on a Debian bookworm base made here with mmdebstrap (no image
# registry needed), cached under ~/.cache/dcgan and keyed on the recipe that made it; the
# engine's layer cache keeps the dependency layer, so a second run only rebuilds what changed.
#
# Environment:
#   DCGAN_CHECK_BASE    build on this image instead of the local Debian base ("default": the
#                       Dockerfile's own BASE, the TensorFlow GPU image)
#   DCGAN_ENGINE        docker or podman, skipping the choice
#   DCGAN_CHECK_NO_INSTALL=1  never install an engine with apt-get
#   DCGAN_CHECK_KEEP=1  keep the scratch folder with the runs (its path is printed)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
cache_dir="${XDG_CACHE_HOME:-$HOME/.cache}/dcgan"
image="dcgan:check"
host_python="$repo_root/.venv/bin/python"
docker_run=(bash "$repo_root/scripts/docker_run.sh")
# A few demo steps: enough to save, resume and sample, small enough for two shared cores.
demo=(--config=configs/demo.py --config.training.log_every_steps=5
  --config.training.sample_every_steps=10 --config.training.checkpoint_every_steps=10)

fail() {
  echo "container check: FAILED: $*" >&2
  exit 1
}

started=$EPOCHREALTIME
step_started=$EPOCHREALTIME
# Prints the seconds since the previous step ended, and the step's name.
done_step() {
  local now=$EPOCHREALTIME
  awk -v name="$1" -v t="$now" -v t0="$step_started" \
    'BEGIN { printf "container check: %-40s %7.1fs\n", name, t - t0 }'
  step_started=$now
}

if [[ ! -x "$host_python" ]]; then
  fail "$host_python is missing; run: make .venv/.installed (the host side of each comparison)"
fi

# --- The engine -------------------------------------------------------------------------------

answers() { "$1" info >/dev/null 2>&1; }

choose_engine() {
  local wanted=()
  if [[ -n "${DCGAN_ENGINE:-}" ]]; then
    engine="$DCGAN_ENGINE"
  # A docker client on PATH is not enough: it installs without a daemon, and only a request to
  # the daemon (`docker info`) tells whether containers can run.
  elif command -v docker >/dev/null 2>&1 && answers docker; then
    engine=docker
  else
    engine=podman
    command -v podman >/dev/null 2>&1 || wanted+=(podman runc)
  fi
  [[ -n "${DCGAN_CHECK_BASE:-}" ]] || command -v mmdebstrap >/dev/null 2>&1 || wanted+=(mmdebstrap)
  ((${#wanted[@]})) || return 0
  if [[ "$(id -u)" != 0 || "${DCGAN_CHECK_NO_INSTALL:-0}" == 1 ]] \
    || ! command -v apt-get >/dev/null 2>&1; then
    if [[ "${wanted[0]}" == podman ]]; then
      fail "this machine cannot run containers: no docker daemon answers and ${wanted[*]} missing (install them, or run this check as root to have apt-get do it)"
    fi
    fail "mmdebstrap is missing to make the base image: install it, or set DCGAN_CHECK_BASE to an image with python3 and pip"
  fi
  echo "container check: installing ${wanted[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  # A fresh machine has no package lists yet; fetch them only if the first try needs them.
  apt-get install -y -qq "${wanted[@]}" >/dev/null \
    || { apt-get update -qq && apt-get install -y -qq "${wanted[@]}" >/dev/null; } \
    || fail "this machine cannot run containers: apt-get could not install ${wanted[*]}"
}

# Settings podman needs on machines like this one, each applied only where its cause is found.
# They go into a containers.conf of our own (CONTAINERS_CONF), so that every podman command,
# docker_run.sh's included, gets them without a flag. Docker needs none of them: its daemon
# holds its own runtime, cgroup and limit settings.
podman_engine=()
podman_ulimits=()
podman_build_flags=()
write_podman_conf() {
  {
    echo "[containers]"
    if ((${#podman_ulimits[@]})); then
      printf 'default_ulimits = [%s]\n' "$(printf '"%s",' "${podman_ulimits[@]}" | sed 's/,$//')"
    fi
    echo "[engine]"
    printf '%s\n' "${podman_engine[@]}"
  } >"$scratch/containers.conf"
  export CONTAINERS_CONF="$scratch/containers.conf"
}

podman_runtime() {
  # crun refuses cgroup v1 and "hybrid" hierarchies ("cgroups in hybrid mode not supported");
  # runc handles every layout. A unified (cgroup v2) machine keeps podman's default runtime.
  if [[ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" != cgroup2fs ]] && command -v runc >/dev/null; then
    podman_engine+=('runtime = "runc"')
  fi
  # The systemd cgroup manager needs systemd running as init; without it, cgroupfs.
  if [[ ! -d /run/systemd/system ]]; then
    podman_engine+=('cgroup_manager = "cgroupfs"')
  fi
  write_podman_conf
}

# Podman gives a rootful container open-file and process limits above the ones it runs under
# itself; raising them needs CAP_SYS_RESOURCE, and without it every start fails ("error setting
# rlimit ... operation not permitted"). Then the container gets the shell's hard limits
# (`ulimit -Hn`, `ulimit -Hu`), halved until a container starts: podman lowers its own process
# limit below the shell's on some machines, and no container can be given more.
podman_limits() {
  local cap_eff nofile nproc
  cap_eff=$(awk '/^CapEff:/ {print $2}' /proc/self/status)
  (((0x$cap_eff >> 24 & 1) == 0)) || return 0
  nofile=$(ulimit -Hn) nproc=$(ulimit -Hu)
  [[ "$nofile" != unlimited ]] || nofile=1048576
  [[ "$nproc" != unlimited ]] || nproc=1048576
  while ((nproc >= 1024)); do
    podman_ulimits=("nofile=$nofile:$nofile" "nproc=$nproc:$nproc")
    write_podman_conf
    if podman run --rm --network=none "$base" true >/dev/null 2>"$scratch/limits.err"; then
      break
    fi
    grep -q rlimit "$scratch/limits.err" || break # another failure: reported by the caller
    if grep -q 'rlimit type 7' "$scratch/limits.err"; then
      nofile=$((nofile / 2))
    else
      nproc=$((nproc / 2))
    fi
  done
  # `podman build` takes its RUN steps' limits from its --ulimit flags, not from the conf.
  local limit
  for limit in "${podman_ulimits[@]}"; do
    podman_build_flags+=(--ulimit "$limit")
  done
}

# pip inside the build reaches its index the way pip on this host does. The host's pip settings
# that decide how the index is reached (index URLs, proxy, trusted hosts, timeouts; from
# /etc/pip.conf, /etc/xdg/pip, ~/.config/pip and PIP_* alike, as `pip config list` merges them)
# become the Dockerfile's PIP_* build arguments, which the RUN steps see and the image does not
# keep. Local settings (find-links, file:// indexes, constraints) are left out: their paths do
# not exist in the image.
pip_build_args() {
  local line key value
  local -A setting=()
  # Files first, in the order pip reads them (later ones win), then PIP_* variables, which win.
  while IFS= read -r line; do
    key=${line%%=*} value=${line#*=}
    key=${key#*.} value=${value#\'} value=${value%\'}
    [[ "$key" != timeout ]] || key=default-timeout
    case "$key" in
      index-url | proxy | trusted-host | default-timeout | retries) ;;
      extra-index-url) value=$(tr ' ' '\n' <<<"$value" | grep -E '^https?://' | paste -sd ' ' - || true) ;;
      *) continue ;;
    esac
    setting[$key]=$value
  done < <(python3 -m pip config list 2>/dev/null \
    | awk -F. '{ print index("global user site :env:", $1) "\t" $0 }' | sort -s -n -k1,1 | cut -f2-)
  for key in "${!setting[@]}"; do
    [[ -z "${setting[$key]}" ]] || printf -- '--build-arg\nPIP_%s=%s\n' "$(tr 'a-z-' 'A-Z_' <<<"$key")" "${setting[$key]}"
  done
}

# With podman the build's RUN steps share the host's network (a proxy or firewall set up for
# the host applies) and trust the host's certificate authorities, which is what fails first
# behind a TLS-inspecting proxy: the image's own CA list does not hold the proxy's. The host's
# bundle is mounted over the image's for the build only (mounts are not saved in layers), and
# PIP_CERT points pip there whatever CA list its own build would use.
podman_build_network() {
  local bundle=/etc/ssl/certs/ca-certificates.crt
  podman_build_flags+=(--network=host)
  if [[ -f "$bundle" ]]; then
    podman_build_flags+=(--volume "$bundle:$bundle:ro" --build-arg "PIP_CERT=$bundle")
  fi
}

# --- The base ---------------------------------------------------------------------------------

# A minimal Debian with Python and pip: made with mmdebstrap from Debian's archive, so no image
# registry is needed. The tarball and the imported image are named by a hash of the recipe, so
# a changed recipe makes a new base and an unchanged one is reused, across runs and clones.
base_packages=python3,python3-venv,python3-pip,ca-certificates
base_recipe=(--variant=minbase "--include=$base_packages" bookworm)

local_base() {
  local key tarball
  key=$(printf '%s\n' "mmdebstrap ${base_recipe[*]} $(uname -m)" | sha256sum | cut -c1-12)
  base="localhost/dcgan-base:$key"
  tarball="$cache_dir/base-$key.tar"
  if "$engine" image inspect "$base" >/dev/null 2>&1; then
    echo "container check: base $base reused"
    return
  fi
  if [[ ! -f "$tarball" ]]; then
    echo "container check: making the base with mmdebstrap (a few minutes, once)"
    mkdir -p "$cache_dir"
    # mmdebstrap picks the output format by the name's ending; the rename makes it whole.
    mmdebstrap --quiet "${base_recipe[@]}" "$cache_dir/base-$key.tmp.tar"
    mv "$cache_dir/base-$key.tmp.tar" "$tarball"
  fi
  "$engine" import --quiet "$tarball" "$base" >/dev/null
  echo "container check: base $base imported from $tarball"
}

# --- Host-side comparisons --------------------------------------------------------------------

# Exits non-zero unless both runs' latest checkpoints hold the same tensors, bit for bit (the
# count of saves and the seconds trained left out: a resumed run saves more often).
same_checkpoints() {
  "$host_python" - "$1" "$2" <<'EOF'
import sys

import numpy as np
import tensorflow as tf


def tensors(run):
    reader = tf.train.load_checkpoint(f"{run}/checkpoints")
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if not name.startswith(("_CHECKPOINTABLE_OBJECT_GRAPH", "save_counter",
                                    "train_seconds"))}


a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
assert a.keys() == b.keys() and len(a) > 20, (sorted(a), sorted(b))
different = [name for name in a if not np.array_equal(a[name], b[name])]
assert not different, f"tensors differ: {different[:5]}"
print(f"{len(a)} tensors equal")
EOF
}

# The exported SavedModel, loaded on the host, turns the container's noise into its images.
export_reproduces_samples() {
  "$host_python" - "$1" "$2" <<'EOF'
import sys

import numpy as np
import tensorflow as tf

samples = np.load(sys.argv[2])
serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
images = serve(noise=tf.constant(samples["noise"]))["images"].numpy()
assert images.dtype == np.uint8 and images.shape == samples["images"].shape, images.shape
worst = int(np.abs(images.astype(int) - samples["images"].astype(int)).max())
# Another batch size may round a pixel the other way; a real difference is far larger.
assert worst <= 1, f"the host's images differ from the container's by up to {worst} levels"
print(f"{len(images)} images reproduced on the host (largest difference {worst})")
EOF
}

# The step of a run's latest checkpoint, from the index file TensorFlow keeps beside them.
latest_step() {
  sed -n 's/^model_checkpoint_path: ".*-\([0-9]*\)"$/\1/p' "$1/checkpoints/checkpoint" 2>/dev/null
}

# --- The check --------------------------------------------------------------------------------

scratch=$(mktemp -d "${TMPDIR:-/tmp}/dcgan-container-check.XXXXXX")
cleanup() {
  # A check that fails part way leaves no container running: ending docker_run.sh alone would
  # not stop the container its engine client started.
  if [[ -n "${image_id:-}" ]]; then
    local left=()
    mapfile -t left < <(containers 2>/dev/null)
    ((${#left[@]} == 0)) || "$engine" stop --time 10 "${left[@]}" >/dev/null 2>&1 || true
  fi
  if [[ "${DCGAN_CHECK_KEEP:-0}" == 1 ]]; then
    echo "container check: runs kept in $scratch"
  else
    rm -rf "$scratch"
  fi
}
trap cleanup EXIT

choose_engine
if [[ "$engine" == podman ]]; then
  podman_runtime
  podman_build_network
fi
answers "$engine" || fail "this machine cannot run containers: '$engine info' fails: $("$engine" info 2>&1 | tail -n 1)"
echo "container check: engine $engine"
done_step engine

if [[ "${DCGAN_CHECK_BASE:-}" == default ]]; then
  base=""
elif [[ -n "${DCGAN_CHECK_BASE:-}" ]]; then
  base="$DCGAN_CHECK_BASE"
else
  local_base
fi
if [[ "$engine" == podman && -n "$base" ]]; then
  podman_limits
  echo "container check: podman settings: $(grep -v '^\[' "$CONTAINERS_CONF" | paste -sd ';' -)"
fi
if [[ -n "$base" ]]; then
  out=$("$engine" run --rm --network=none "$base" python3 --version 2>&1) \
    || fail "this machine cannot run containers: $engine run fails: $(tail -n 1 <<<"$out")"
fi
done_step base

build_flags=(--tag "$image")
[[ -z "$base" ]] || build_flags+=(--build-arg "BASE=$base")
mapfile -t pip_flags < <(pip_build_args)
build_flags+=("${pip_flags[@]}")
"$engine" build "${build_flags[@]}" "${podman_build_flags[@]}" "$repo_root" >"$scratch/build.log" 2>&1 \
  || { tail -n 30 "$scratch/build.log" >&2; fail "$engine build failed (its last lines above)"; }
done_step "build ($(grep -c -E -i 'using cache|CACHED' "$scratch/build.log" || true) cached steps)"

export DCGAN_ENGINE="$engine" DCGAN_IMAGE="$image" DCGAN_GPUS="" \
  DCGAN_RUNS_DIR="$scratch/runs" DCGAN_DATA_DIR="$scratch/data"
runs="$scratch/runs"
# The running containers of the image, by its id (a short name such as dcgan:check is not
# matched by podman's ancestor filter).
image_id=$("$engine" image inspect --format '{{.Id}}' "$image")
containers() { "$engine" ps --quiet --filter "ancestor=$image_id"; }
# The host runs the same commands from a folder laid out like the image's /app, so that every
# argument, relative paths included, is the same on both sides.
host="$scratch/host"
host_train="$repo_root/.venv/bin/dcgan-train"
mkdir -p "$host/runs"
ln -s "$repo_root/configs" "$host/configs"

pin=$(grep -oE '"tensorflow==[^"]+"' pyproject.toml | tr -d '"')
have=$(DCGAN_ENTRYPOINT=python3 "${docker_run[@]}" -c 'import tensorflow as tf; print("tensorflow==" + tf.__version__)' 2>"$scratch/pin.log") \
  || { cat "$scratch/pin.log" >&2; fail "python3 in the image cannot import tensorflow"; }
[[ "$have" == "$pin" ]] || fail "the image has $have, pyproject.toml pins $pin"
done_step "tensorflow pin ($have)"

# The flags each program lists, one name a line: the same set in the image as on the host.
flag_names() { grep -oE '^ +--(\[no\])?[a-z_.]+' | sed 's/^ *--\(\[no\]\)\{0,1\}//' | sort -u; }
for entry in dcgan-train dcgan-sample dcgan-evaluate dcgan-report; do
  DCGAN_ENTRYPOINT=$entry "${docker_run[@]}" train --help >"$scratch/help.txt" 2>&1 \
    || { cat "$scratch/help.txt" >&2; fail "$entry --help exits non-zero in the container"; }
  "$repo_root/.venv/bin/$entry" --help >"$scratch/host_help.txt" 2>&1
  flags=$(flag_names <"$scratch/help.txt")
  if ! grep -qx workdir <<<"$flags" || [[ "$flags" != "$(flag_names <"$scratch/host_help.txt")" ]]; then
    fail "$entry --help in the container does not list the host's flags: $(head -c 300 "$scratch/help.txt")"
  fi
done
done_step "--help of the 4 entry points"

"${docker_run[@]}" "${demo[@]}" --config.training.num_steps=20 --workdir=runs/demo \
  >"$scratch/train.log" 2>&1 || { tail -n 20 "$scratch/train.log" >&2; fail "training in the container failed"; }
[[ "$(latest_step "$runs/demo")" == 20 ]] || fail "the demo run left no checkpoint at step 20"
strangers=$(find "$runs" ! -user "$(id -u)" | head -n 3)
[[ -z "$strangers" ]] || fail "files written by the container are not owned by uid $(id -u): $strangers"
done_step "train 20 steps (files owned by uid $(id -u))"

"${docker_run[@]}" "${demo[@]}" --config.training.num_steps=40 --workdir=runs/demo \
  >"$scratch/resume.log" 2>&1 || { tail -n 20 "$scratch/resume.log" >&2; fail "the resume in the container failed"; }
done_step "resume to 40 steps"
(cd "$host" && "$host_train" "${demo[@]}" --config.training.num_steps=40 --workdir=runs/demo \
  >"$scratch/host.log" 2>&1) || { tail -n 20 "$scratch/host.log" >&2; fail "the uninterrupted run on the host failed"; }
same_checkpoints "$runs/demo" "$host/runs/demo" 2>"$scratch/compare.log" \
  || { tail -n 5 "$scratch/compare.log" >&2; fail "the container's resumed run does not end where the host's uninterrupted run does"; }
done_step "host: 40 steps straight, compared"

"${docker_run[@]}" sample --workdir=runs/demo --num_images=16 --output=runs/demo/check.npz \
  --export=runs/demo/export >"$scratch/sample.log" 2>&1 \
  || { cat "$scratch/sample.log" >&2; fail "dcgan-sample in the container failed"; }
export_reproduces_samples "$runs/demo/export/saved_model" "$runs/demo/check.npz" 2>"$scratch/reload.log" \
  || { tail -n 5 "$scratch/reload.log" >&2; fail "the exported SavedModel does not reproduce the container's samples on the host"; }
done_step "sample + export, reloaded on host"

tb_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DCGAN_TB_PORT=$tb_port "${docker_run[@]}" tensorboard >"$scratch/tensorboard.log" 2>&1 &
tensorboard_pid=$!
for _ in $(seq 120); do
  if curl --silent --fail --max-time 2 "http://localhost:$tb_port/" >/dev/null 2>&1; then
    break
  fi
  kill -0 "$tensorboard_pid" 2>/dev/null \
    || { cat "$scratch/tensorboard.log" >&2; fail "tensorboard's container exited"; }
  sleep 0.5
done
curl --silent --fail --max-time 2 "http://localhost:$tb_port/data/runs" | grep -q demo \
  || fail "tensorboard does not answer on http://localhost:$tb_port with the demo run"
tensorboard_container=$(containers)
[[ -n "$tensorboard_container" ]] || fail "no container of $image is running TensorBoard"
"$engine" stop --time 10 "$tensorboard_container" >/dev/null
wait "$tensorboard_pid" || true
tensorboard_pid=""
[[ -z "$(containers)" ]] || fail "tensorboard's container is still running"
done_step "tensorboard over HTTP, stopped"

bad=(--config=configs/demo.py --config.training.batch_size=0 --workdir=runs/bad)
status=0
"${docker_run[@]}" "${bad[@]}" >"$scratch/bad.out" 2>"$scratch/bad.err" || status=$?
host_status=0
(cd "$host" && "$host_train" "${bad[@]}") >"$scratch/host_bad.out" 2>"$scratch/host_bad.err" || host_status=$?
[[ "$status" == 2 && "$host_status" == 2 ]] || fail "a bad config exits $status in the container, $host_status on the host (want 2)"
if [[ "$(wc -l <"$scratch/bad.err")" != 1 ]] || ! grep -q '^error: ' "$scratch/bad.err"; then
  fail "a bad config's message in the container is not one 'error:' line: $(head -c 300 "$scratch/bad.err")"
fi
cmp -s "$scratch/bad.err" "$scratch/host_bad.err" \
  || fail "a bad config's error differs: container '$(cat "$scratch/bad.err")' host '$(cat "$scratch/host_bad.err")'"
[[ ! -e "$runs/bad" && ! -e "$host/runs/bad" ]] || fail "a bad config left a run folder behind"
done_step "bad config: same error, exit 2"

# Checkpoints only when stopped: the one found after SIGTERM is the signal's.
"${docker_run[@]}" "${demo[@]}" --config.training.checkpoint_every_steps=100000 \
  --config.training.num_steps=100000 --workdir=runs/stop >"$scratch/stop.log" 2>&1 &
train_pid=$!
for _ in $(seq 240); do
  [[ -s "$runs/stop/metrics.jsonl" ]] && break
  kill -0 "$train_pid" 2>/dev/null || { tail -n 20 "$scratch/stop.log" >&2; fail "the run to stop exited early"; }
  sleep 0.5
done
[[ -s "$runs/stop/metrics.jsonl" ]] || fail "the run to stop logged no step in 2 minutes"
train_container=$(containers)
[[ -n "$train_container" ]] || fail "no container of $image is running the training to stop"
# What `docker stop` does: SIGTERM, and SIGKILL only if the container is still up at --time.
"$engine" stop --time 120 "$train_container" >/dev/null
status=0
wait "$train_pid" || status=$?
[[ "$status" == 143 ]] || { tail -n 20 "$scratch/stop.log" >&2; fail "SIGTERM ended training with exit $status, not 143"; }
stopped=$(latest_step "$runs/stop") || fail "SIGTERM left no checkpoint"
"${docker_run[@]}" "${demo[@]}" --config.training.checkpoint_every_steps=100000 \
  --config.training.num_steps=$((stopped + 5)) --workdir=runs/stop >"$scratch/stop_resume.log" 2>&1 \
  || { tail -n 20 "$scratch/stop_resume.log" >&2; fail "the stopped run does not resume"; }
[[ "$(latest_step "$runs/stop")" == $((stopped + 5)) ]] || fail "the stopped run did not reach step $((stopped + 5))"
done_step "SIGTERM at step $stopped, checkpoint, resumed"

awk -v t="$EPOCHREALTIME" -v t0="$started" 'BEGIN { printf "container check: passed in %.0fs\n", t - t0 }'
