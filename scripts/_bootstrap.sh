# Sourced by scripts/serve and scripts/test: make .venv current, then put it first on PATH.
# The venv is rebuilt when missing, when pyproject.toml changed, or when the Python moved.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

find_python() {
    for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    echo "Sen needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
    return 1
}

PY="$(find_python)"
STAMP="$("$PY" -c 'import sys; print(sys.version)' | cksum | cut -d' ' -f1)-$(cksum < pyproject.toml | cut -d' ' -f1)"

if [ ! -x .venv/bin/python ] || [ "$(cat .venv/.sen-stamp 2>/dev/null)" != "$STAMP" ]; then
    echo "==> preparing .venv (first run or pyproject.toml changed)" >&2
    rm -rf .venv
    "$PY" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e '.[dev]'
    echo "$STAMP" > .venv/.sen-stamp
fi

export PATH="$ROOT/.venv/bin:$PATH"
export SEN_DATA_DIR="${SEN_DATA_DIR:-$ROOT/.sen}"
