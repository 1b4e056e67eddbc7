#!/usr/bin/env bash
# The bare-install row: the built wheel installed alone into a fresh venv, with the newest
# packages it pulls in, ipykernel and the test runner — nothing else (no JupyterLab, no pandas, no
# pydantic): what VS Code with a bare kernel, a script or a CI job has. One venv per Python given
# (default: the oldest and the newest supported), made anew on every run: .venv-bare-3.10, ...
# Usage: scripts/bare_env.sh [3.10 3.13]   (after scripts/setup.sh, which built the front end)
set -euo pipefail
cd "$(dirname "$0")/.."

versions=("$@"); ((${#versions[@]})) || versions=(3.10 3.13)

find_python() {  # a pyenv shim answers `command -v` but may refuse to run: try each for real
  local want=$1 candidate
  for candidate in "$HOME"/.pyenv/versions/"$want"*/bin/python"$want" /usr/bin/python"$want" python"$want"; do
    if "$candidate" -c "import sys; assert sys.version_info[:2] == tuple(map(int, '$want'.split('.')))" >/dev/null 2>&1; then
      command -v "$candidate"; return
    fi
  done
  echo "The bare-install row needs Python $want (apt-get install python$want, or pyenv)" >&2; return 1
}

# the wheel, as `pip install llm-widgets` gets it from PyPI (the front end is already built)
rm -rf dist/bare && .venv/bin/python -m pip wheel --quiet --no-deps -w dist/bare .
wheel=$(ls dist/bare/llm_widgets-*.whl)
for version in "${versions[@]}"; do
  venv=".venv-bare-$version"
  rm -rf "$venv"
  "$(find_python "$version")" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet "$wheel" ipykernel "pytest>=8" "pytest-timeout>=2"
  "$venv/bin/python" -m pip check
  echo "bare-install row ready: $venv ($("$venv/bin/python" --version); $("$venv/bin/python" -m pip list --format=freeze | wc -l) packages)"
done
