#!/usr/bin/env bash
# Runs the Python package's tests (python/tests) against the emalog binary of the debug build, in a
# virtualenv of their own (.build-venv: numpy, safetensors, pytest, torch CPU; pandas when pip has it).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.build-venv
if [[ ! -x $venv/bin/python ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip >/dev/null 2>&1 || true
fi
"$venv/bin/python" -c "import numpy, safetensors, pytest, torch" 2>/dev/null \
  || "$venv/bin/pip" install -q numpy safetensors pytest torch
"$venv/bin/python" -c "import pandas" 2>/dev/null || "$venv/bin/pip" install -q pandas 2>/dev/null || true
"$venv/bin/pip" install -q --no-deps -e python >/dev/null
bin=$(swift build --show-bin-path)/emalog
[[ -x $bin ]] || swift build --product emalog 2>&1 | tail -n 1
EMALOG=$bin "$venv/bin/python" -m pytest python/tests "$@"
