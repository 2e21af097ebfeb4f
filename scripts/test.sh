#!/usr/bin/env bash
# Run the whole test suite (unit tests and the doctests in docstrings).
# Builds .venv with the `test` extra on first use; runs on every CPU (pytest-xdist, one process
# per core: most of the time is XLA compiling, which one process does on one core); extra
# arguments go to pytest:
#   scripts/test.sh -x -k conv
#   scripts/test.sh -n 0          # in this process only (for debugging)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/_venv.sh"
cd "$ROOT"
ensure_venv .stamp-test -e ".[test]"
# the ONNX converter without its pins (see the onnx extra in pyproject.toml)
ensure_venv .stamp-onnx --no-deps "jax2onnx==0.17.1"
exec "$ROOT/.venv/bin/python" -m pytest -q -n auto src/axon tests --doctest-modules "$@"
