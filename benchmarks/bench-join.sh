#!/usr/bin/env bash
# Point-in-time join benchmark: Strata (release) vs DuckDB ASOF JOIN vs polars join_asof on the same data.
# Also Strata through the Python SDK (`get_historical_features(...).to_arrow()` / `.to_df()`), and each export
# right after an ingest as well as with the history image built.
# Installs the pinned Python packages of benchmarks/requirements.txt (dev/python-env.sh), builds the release binary
# (unless STRATA_BIN names one) and runs benchmarks/bench_join.py with it. Every argument is passed to bench_join.py, e.g.
#   benchmarks/bench-join.sh                                   # workload "medium": 100k entities x 20 rows, 1M labels
#   benchmarks/bench-join.sh --repeat 3                        # median of three runs of each join
#   benchmarks/bench-join.sh --entities 10000 --labels 100000  # a quick, smaller run
#   STRATA_BIN=.build-bench/release/strata benchmarks/bench-join.sh   # skip the Swift build
# The table goes to standard output, progress to standard error.
set -euo pipefail
cd "$(dirname "$0")/.."
dev/install-deps.sh >&2   # librocksdb-dev, pkg-config, protobuf-compiler, python3-venv if missing
source dev/python-env.sh benchmarks/requirements.txt
if [[ -n "${STRATA_BIN:-}" ]]; then
  BIN="$STRATA_BIN"   # a release binary built elsewhere (e.g. --scratch-path): no build here
else
  echo "building strata (release)" >&2
  swift build -c release --product strata >&2
  BIN="$(swift build -c release --show-bin-path)/strata"
fi
exec "$PYTHON" benchmarks/bench_join.py --strata "$BIN" "$@"
