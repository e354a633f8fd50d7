#!/usr/bin/env bash
# The one test command (README "Install", step 2; CI runs exactly this through .ci/run).
#
# On a fresh machine it sets up everything it needs, then runs every test:
#   1. a virtualenv (.venv-tests, or $NESTED_TEST_VENV) with CPU torch, numpy, pytest, hypothesis
#      and ruff
#   2. ruff check .
#   3. node --check on every web/**/*.js and node --test tests/web/*.test.mjs, the extension's logic
#      (only if node is on PATH)
#   4. pytest tests (core tests; without COMFYUI_PATH the host tests are not collected
#      except one gate test, which skips with a one-line reason)
#   5. only if COMFYUI_PATH is set: the host tests against that real ComfyUI checkout, run
#      with ComfyUI's own Python, ${COMFYUI_PYTHON:-python3}
#
# Usage (from any directory):
#   bash tests/run.sh
#   COMFYUI_PATH=/path/to/ComfyUI COMFYUI_PYTHON=/path/to/comfy/venv/bin/python bash tests/run.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Paths given relative to the caller's directory stay valid after the cd below.
abspath() {
    case "$1" in
        /*) printf '%s\n' "$1" ;;
        *) printf '%s\n' "$PWD/$1" ;;
    esac
}
if [ -n "${NESTED_TEST_VENV:-}" ]; then NESTED_TEST_VENV="$(abspath "$NESTED_TEST_VENV")"; fi
if [ -n "${COMFYUI_PATH:-}" ]; then COMFYUI_PATH="$(abspath "$COMFYUI_PATH")"; fi
case "${COMFYUI_PYTHON:-}" in
    */*) COMFYUI_PYTHON="$(abspath "$COMFYUI_PYTHON")" ;;  # a path; a bare command name is left to PATH
esac

cd "$ROOT"

VENV="${NESTED_TEST_VENV:-$ROOT/.venv-tests}"
# torch==2.13.0 is pinned on purpose: it is the CPU wheel these machines hold on disk (pip's
# configured find-links). A plain "torch" would pull a multi-GB CUDA build.
TORCH_PIN="torch==2.13.0"

header() {
    printf '\n==> %s\n' "$*"
}

header "[1/5] test virtualenv: $VENV"
if [ ! -x "$VENV/bin/python" ]; then
    echo "creating $VENV with $(command -v python3) ($(python3 --version 2>&1))"
    if ! python3 -m venv "$VENV"; then
        echo "error: 'python3 -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)" >&2
        exit 1
    fi
fi
PYV="$VENV/bin/python"
# numpy: ComfyUI always has it, and torch warns at import without it. pip's "Location ... is
# ignored" lines (empty local index folders on these machines) are noise and filtered out;
# pipefail still reports pip's own exit code.
"$PYV" -m pip install --quiet "$TORCH_PIN" numpy pytest hypothesis ruff 2>&1 \
    | { grep -v "^WARNING: Location '.*' is ignored: it is neither a file nor a directory\.$" || true; }
"$PYV" -c 'import sys, torch, pytest, hypothesis; print("python", sys.version.split()[0], "| torch", torch.__version__, "| pytest", pytest.__version__, "| hypothesis", hypothesis.__version__)'

header "[2/5] ruff check ."
"$VENV/bin/ruff" --version
"$VENV/bin/ruff" check .

header "[3/5] node --check web/**/*.js; node --test tests/web/*.test.mjs"
if command -v node >/dev/null 2>&1; then
    n_js=0
    if [ -d web ]; then
        while IFS= read -r -d '' js; do
            node --check "$js"
            echo "ok  $js"
            n_js=$((n_js + 1))
        done < <(find web -type f -name '*.js' -not -path '*/node_modules/*' -print0 | sort -z)
    fi
    echo "node $(node --version): $n_js JS file(s) checked"
    # The extension's pure logic (run state, status text, planned cost), with Node's own runner.
    node --test tests/web/*.test.mjs
else
    echo "skipped: node is not on PATH"
fi

header "[4/5] pytest tests (test venv; host tests gated on COMFYUI_PATH)"
# COMFYUI_PATH is withheld here: this venv has torch only, not ComfyUI's requirements.
# The host tests run in stage 5 with ComfyUI's own Python. pytest's exit code is not masked:
# 5 ("no tests collected") fails the script like any other failure.
# --confcutdir keeps the pack root out of pytest's collection tree: the root __init__.py is
# ComfyUI's entry point, and pytest would otherwise import it as a top-level "__init__" module,
# where its relative imports fail.
env -u COMFYUI_PATH "$PYV" -m pytest tests -q -rs --confcutdir "$ROOT/tests"

header "[5/5] host tests against a real ComfyUI (COMFYUI_PATH)"
if [ -n "${COMFYUI_PATH:-}" ]; then
    PY="${COMFYUI_PYTHON:-python3}"
    export COMFYUI_PATH
    echo "COMFYUI_PATH=$COMFYUI_PATH"
    echo "python: $PY ($("$PY" --version 2>&1))"
    # Only pytest: the host tests do not use hypothesis (the property tests are core tests).
    if ! "$PY" -c "import pytest" >/dev/null 2>&1; then
        echo "installing pytest into $PY"
        "$PY" -m pip install --quiet pytest
    fi
    "$PY" -m pytest tests/host -q -rs --confcutdir "$ROOT/tests"
else
    echo "skipped: COMFYUI_PATH is not set (see README, 'Install', step 2)"
fi

header "all stages passed"
