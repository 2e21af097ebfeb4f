#!/usr/bin/env bash
# Train a small MLP on scikit-learn's digits with axon (examples/train_digits_mlp.py).
# Builds .venv on first use; extra arguments go to the example.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/_venv.sh"
cd "$ROOT"
ensure_venv .stamp-demo -e . "scikit-learn>=1.4"
exec "$ROOT/.venv/bin/python" examples/train_digits_mlp.py "$@"
