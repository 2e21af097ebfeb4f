#!/usr/bin/env bash
# Run the whole test suite (unit tests and the doctests in docstrings).
# Builds .venv with the `test` extra on first use; extra arguments go to pytest:
#   scripts/test.sh -x -k conv
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/_venv.sh"
cd "$ROOT"
ensure_venv .stamp-test -e ".[test]"
exec "$ROOT/.venv/bin/python" -m pytest -q src/axon tests --doctest-modules "$@"
