# Sourced by scripts/test.sh and scripts/demo.sh: create the project's .venv if it is missing and
# install into it once. Usage: ensure_venv STAMP_NAME PIP_ARGS...
# The install is skipped while .venv/STAMP_NAME is newer than pyproject.toml.

ensure_venv() {
    local stamp="$ROOT/.venv/$1"
    shift
    if [[ ! -x "$ROOT/.venv/bin/python" ]]; then
        local python
        python="$(command -v python3.11 || command -v python3)"
        echo "axon: creating .venv with $python" >&2
        "$python" -m venv "$ROOT/.venv"
    fi
    if [[ ! -f "$stamp" || "$ROOT/pyproject.toml" -nt "$stamp" ]]; then
        echo "axon: installing into .venv: $*" >&2
        "$ROOT/.venv/bin/python" -m pip install --quiet "$@"
        touch "$stamp"
    fi
}
