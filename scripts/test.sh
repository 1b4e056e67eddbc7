#!/usr/bin/env bash
# Set up (scripts/setup.sh --test) and run every check: lint, types, the front-end type check,
# that every import is a declared dependency (deptry), and all tests in four rows: the main one
# (the newest packages; unit, widget, browser tests in JupyterLab 4 and Notebook 7), the demo one
# (the shipped notebooks under nbval, in the set-up scripts/demo.sh makes), the bare-install one
# (the wheel alone in a fresh venv with ipykernel, on the oldest and the newest Python:
# scripts/bare_env.sh, tests/bare) and the Colab one (Python 3.13 with Colab's own package set,
# scripts/colab_env.sh; the same tests and notebooks, browser tests in classic Notebook 6.5).
# Each row's time is printed at its end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
export HF_HUB_DISABLE_TELEMETRY=1

echo "== ruff"; .venv/bin/ruff format --check src tests benchmarks; .venv/bin/ruff check src tests benchmarks
echo "== mypy"; .venv/bin/mypy
echo "== tsc";  npm run --silent typecheck
echo "== deptry"; .venv/bin/deptry src
# a notebook cell may classify 240 reviews: pytest-timeout's limit there only catches a hang
NOTEBOOK_CELL_LIMIT=1800
export NOTEBOOK_CELL_LIMIT
# every row runs even when one fails (its results are worth having); the script fails at the end
failed=()
row() {
  local name=$1 began=$SECONDS; shift
  "$@" || failed+=("$name")
  echo "== row \"$name\" took $((SECONDS - began)) s"
}

echo "== pytest: main row ($(.venv/bin/python --version), JupyterLab 4 and Notebook 7; the xllamacpp engine)"
row "main row" env LLM_WIDGETS_TEST_ENGINES=xllamacpp \
  .venv/bin/python -m pytest -p no:cacheprovider "$@" tests
# each in-kernel engine in a process of its own: a native crash on one cannot hide the other's results
echo "== pytest: main row, the model path on the llama-cpp-python engine"
row "main row, llama-cpp-python" env LLM_WIDGETS_TEST_ENGINES=llama-cpp-python LLM_WIDGETS_TEST_ENGINE_TESTS_ONLY=1 \
  .venv/bin/python -m pytest -p no:cacheprovider -m "not browser" "$@" tests

echo "== pytest: demo row (the shipped notebooks under nbval, in the set-up scripts/demo.sh makes)"
row "demo set-up" env VENV=.venv-demo bash scripts/setup.sh --demo
row "demo row" env HF_HOME="$(mktemp -d)" bash -c '.venv-demo/bin/python -m pip install --quiet "nbval>=0.11" "pytest>=8" "pytest-timeout>=2" && .venv-demo/bin/python -m pytest -p no:cacheprovider --nbval-lax --timeout "$NOTEBOOK_CELL_LIMIT" "$@" notebooks' demo "$@"

echo "== pytest: bare-install rows (the wheel alone, Python 3.10 and 3.13)"
demo_gguf=$(.venv/bin/python -c "from llm_widgets.demo import packaged_model_path as p; print(p())")
row "bare-install set-up" bash scripts/bare_env.sh 3.10 3.13
for version in 3.10 3.13; do
  row "bare install, Python $version" env LLMW_BARE_ROW=1 LLMW_DEMO_GGUF="$demo_gguf" \
    ".venv-bare-$version/bin/python" -m pytest -p no:cacheprovider --confcutdir=tests/bare "$@" tests/bare
done

echo "== pytest: Colab row (Colab's package set, classic Notebook 6.5)"
row "Colab set-up" bash scripts/colab_env.sh
# the engine a Colab user gets (xllamacpp); the remote tests' server runs on the main row's Python
row "Colab row" env LLMW_HOSTS=classic LLM_WIDGETS_TEST_ENGINES=xllamacpp LLM_WIDGETS_TEST_SERVER_PYTHON="$PWD/.venv/bin/python" \
  .venv-colab/bin/python -m pytest -p no:cacheprovider -m "not extra_host" "$@" tests
row "Colab row, notebooks" env HF_HOME="$(mktemp -d)" LLM_WIDGETS_TEST_SERVER_PYTHON="$PWD/.venv/bin/python" \
  .venv-colab/bin/python -m pytest -p no:cacheprovider --nbval-lax --timeout "$NOTEBOOK_CELL_LIMIT" "$@" notebooks

if ((${#failed[@]})); then
  printf '== failed: %s\n' "${failed[@]}"
  exit 1
fi
echo "== every row passed ($SECONDS s in all)"
