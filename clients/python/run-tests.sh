#!/usr/bin/env bash
# Runs the Python SDK's tests against real strata nodes.
#   STRATA_BIN=/path/to/strata clients/python/run-tests.sh [pytest args...]
# Installs what is missing with pip (versions below), installs the SDK from this repository (editable),
# checks that the committed stubs match Protos/ (generate.sh --check), then runs pytest. The tests start
# their own single node and 3-node cluster on free loopback ports with temporary data directories.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
PYTHON="${PYTHON:-python3}"

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

# Everything the SDK, its stub generator and its tests need. pip leaves satisfied requirements alone.
REQUIREMENTS=(
  "grpcio>=1.85.1,<2"
  "grpcio-tools==1.85.1"
  "protobuf>=7.35.1,<8"
  "numpy>=1.24"
  "pandas>=2.0"
  "pyarrow>=14"
  "PyYAML>=6.0"
  "pytest>=7"
  "tqdm>=4.60"
  "setuptools>=77.0.1"
)
if ! "$PYTHON" - "${REQUIREMENTS[@]}" <<'PY' >/dev/null 2>&1
import sys, importlib.metadata as m
from packaging.requirements import Requirement
for text in sys.argv[1:]:
    r = Requirement(text)
    if not r.specifier.contains(m.version(r.name), prereleases=True):
        sys.exit(1)
PY
then
  echo "run-tests.sh: installing missing Python packages"
  "$PYTHON" -m pip install --quiet --disable-pip-version-check "${REQUIREMENTS[@]}"
fi

# The SDK itself, from the repository (editable: the tests run the code in src/).
if ! "$PYTHON" -c 'import strata, os, sys; sys.exit(0 if os.path.realpath(strata.__file__).startswith(os.path.realpath(sys.argv[1])) else 1)' "$HERE/src" 2>/dev/null; then
  echo "run-tests.sh: installing the SDK from $HERE"
  "$PYTHON" -m pip install --quiet --disable-pip-version-check --no-build-isolation --no-deps -e "$HERE"
fi

PYTHON="$PYTHON" "$HERE/generate.sh" --check

cd "$HERE"
exec "$PYTHON" -m pytest -q -p no:cacheprovider "$@" tests
