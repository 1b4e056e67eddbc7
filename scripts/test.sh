#!/usr/bin/env bash
# Set up (scripts/setup.sh --test) and run every check: lint, types, the front-end type check,
# and all tests (unit, widget, notebooks under nbval, browser tests in JupyterLab and Notebook 7).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
export HF_HUB_DISABLE_TELEMETRY=1

echo "== ruff"; .venv/bin/ruff format --check src tests benchmarks; .venv/bin/ruff check src tests benchmarks
echo "== mypy"; .venv/bin/mypy
echo "== tsc";  npm run --silent typecheck
echo "== pytest"
.venv/bin/python -m pytest -p no:cacheprovider "$@" tests notebooks --nbval-lax
