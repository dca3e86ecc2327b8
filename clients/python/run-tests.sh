#!/usr/bin/env bash
# Runs the Python SDK's tests against real strata nodes.
#   STRATA_BIN=/path/to/strata clients/python/run-tests.sh [pytest args...]
# Installs the pinned packages of requirements-test.txt, installs the SDK from this repository (editable),
# checks that the committed stubs match Protos/ (generate.sh --check), then runs pytest. The tests start
# their own single node and 3-node cluster on free loopback ports with temporary data directories.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"

if [ -z "${STRATA_BIN:-}" ]; then
  echo "run-tests.sh: set STRATA_BIN to the strata binary, e.g. STRATA_BIN=\$(swift build --show-bin-path)/strata" >&2
  exit 2
fi
if [ ! -x "$STRATA_BIN" ]; then
  echo "run-tests.sh: STRATA_BIN=$STRATA_BIN is not an executable file" >&2
  exit 2
fi
STRATA_BIN="$(cd "$(dirname "$STRATA_BIN")" && pwd)/$(basename "$STRATA_BIN")"
export STRATA_BIN

# Everything the SDK, its stub generator and its tests need: exactly the pins of requirements-test.txt,
# in the environment dev/python-env.sh picks ($PYTHON if set, else the active virtual environment, else
# the repository's .venv).
source "$HERE/../../dev/python-env.sh" "$HERE/requirements-test.txt"

# The SDK itself, from the repository (editable: the tests run the code in src/).
if ! "$PYTHON" -c 'import strata, os, sys; sys.exit(0 if os.path.realpath(strata.__file__).startswith(os.path.realpath(sys.argv[1])) else 1)' "$HERE/src" 2>/dev/null; then
  echo "run-tests.sh: installing the SDK from $HERE"
  "$PYTHON" -m pip install --quiet --disable-pip-version-check --no-build-isolation --no-deps -e "$HERE"
fi

PYTHON="$PYTHON" "$HERE/generate.sh" --check

cd "$HERE"
exec "$PYTHON" -m pytest -q -p no:cacheprovider "$@" tests
