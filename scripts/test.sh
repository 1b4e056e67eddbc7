#!/usr/bin/env bash
# Set up (scripts/setup.sh --test) and run every check: lint, types, the front-end type check,
# and all tests in two rows: the main one (the newest packages; unit, widget, notebooks under
# nbval, browser tests in JupyterLab 4 and Notebook 7) and the Colab one (Python 3.13 with Colab's
# own package set, scripts/colab_env.sh; the same tests, browser tests in classic Notebook 6.5).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
export HF_HUB_DISABLE_TELEMETRY=1

echo "== ruff"; .venv/bin/ruff format --check src tests benchmarks; .venv/bin/ruff check src tests benchmarks
echo "== mypy"; .venv/bin/mypy
echo "== tsc";  npm run --silent typecheck
# every row runs even when one fails (its results are worth having); the script fails at the end
failed=()
row() { local name=$1; shift; "$@" || failed+=("$name"); }

echo "== pytest: main row ($(.venv/bin/python --version), JupyterLab 4 and Notebook 7; the xllamacpp engine)"
row "main row" env LLM_WIDGETS_TEST_ENGINES=xllamacpp \
  .venv/bin/python -m pytest -p no:cacheprovider "$@" tests notebooks --nbval-lax
# each in-kernel engine in a process of its own: a native crash on one cannot hide the other's results
echo "== pytest: main row, the model path on the llama-cpp-python engine"
row "main row, llama-cpp-python" env LLM_WIDGETS_TEST_ENGINES=llama-cpp-python LLM_WIDGETS_TEST_ENGINE_TESTS_ONLY=1 \
  .venv/bin/python -m pytest -p no:cacheprovider -m "not browser" "$@" tests

echo "== pytest: Colab row (Colab's package set, classic Notebook 6.5)"
bash scripts/colab_env.sh
# the engine a Colab user gets (xllamacpp); the remote tests' server runs on the main row's Python
row "Colab row" env LLMW_HOSTS=classic LLM_WIDGETS_TEST_ENGINES=xllamacpp LLM_WIDGETS_TEST_SERVER_PYTHON="$PWD/.venv/bin/python" \
  .venv-colab/bin/python -m pytest -p no:cacheprovider -m "not extra_host" "$@" tests notebooks --nbval-lax

if ((${#failed[@]})); then
  printf '== failed: %s\n' "${failed[@]}"
  exit 1
fi
echo "== every row passed"
