#!/usr/bin/env bash
# Streams and windowed aggregates (issue 15), one command:
#   benchmarks/bench-streaming.sh [--events N] [--labels N] [--entities N] [--quick] [bench_streaming.py options]
# Push throughput (Python SDK and `strata push`), event-to-visible latency at a steady 10k events/s, online
# lookups of 100 entities x 6 aggregates against 6 plain features (C client; on a quiet node, with the row
# cache off, and while 10k events/s of the same entities are pushed), and an export of labels x 6
# aggregates through the Python SDK against DuckDB on the same data, side by side in one run.
# Installs what is missing (the packages of dev/install-deps.sh; pip: the pinned benchmarks/requirements.txt
# into dev/python-env.sh's environment), builds `strata` in release mode once (unless STRATA_BIN names a
# binary) and the C client's strata-bench, then runs benchmarks/bench_streaming.py. Defaults: 10M events,
# 1M labels, 100k entities (about 15-20 minutes with a release build on 2 cores); --quick: 200k events, 20k
# labels, 10k entities (a smoke run of 1-2 minutes). Results: benchmarks/results/<date>-<time>-<commit>-streaming.md
# and .json (the markdown also goes to standard output). Method: benchmarks/README.md, "Streaming".
set -euo pipefail
cd "$(dirname "$0")/.."

dev/install-deps.sh >&2
source dev/python-env.sh benchmarks/requirements.txt   # duckdb, polars, numpy, the SDK's packages

if [[ -z "${STRATA_BIN:-}" ]]; then
  echo "building strata (release)" >&2
  swift build -c release --product strata >&2
  STRATA_BIN="$(swift build -c release --show-bin-path)/strata"
fi
make -s -C clients/c build/strata-bench >&2
exec "$PYTHON" benchmarks/bench_streaming.py --strata "$STRATA_BIN" "$@"
