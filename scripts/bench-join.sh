#!/usr/bin/env bash
# Point-in-time join benchmark: Strata (release) vs DuckDB ASOF JOIN vs polars join_asof on the same data.
# Installs the Python packages duckdb and polars (pip) if missing, builds the release binary and runs
# scripts/bench_join.py with it. Every argument is passed to bench_join.py, e.g.
#   scripts/bench-join.sh                                   # workload "medium": 100k entities x 20 rows, 1M labels
#   scripts/bench-join.sh --repeat 3                        # median of three runs of each join
#   scripts/bench-join.sh --entities 10000 --labels 100000  # a quick, smaller run
# The table goes to standard output, progress to standard error.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if ! "$PY" -c 'import duckdb, polars, numpy' 2>/dev/null; then
  echo "installing duckdb, polars and numpy with pip" >&2
  "$PY" -m pip install --quiet duckdb polars numpy || "$PY" -m pip install --quiet --user duckdb polars numpy \
    || "$PY" -m pip install --quiet --break-system-packages duckdb polars numpy
fi
scripts/install-deps.sh >&2   # librocksdb-dev, pkg-config, protobuf-compiler if missing
echo "building strata (release)" >&2
swift build -c release --product strata >&2
BIN="$(swift build -c release --show-bin-path)/strata"
exec "$PY" scripts/bench_join.py --strata "$BIN" "$@"
