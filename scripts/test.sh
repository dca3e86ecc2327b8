#!/usr/bin/env bash
# Runs every test: checks that the committed generated code matches Protos/, then the whole
# swift-testing suite (unit, storage conformance on both engines, in-process gRPC, and the
# multi-process tests that start real `strata serve` processes on loopback), then the differential
# test of the point-in-time join against DuckDB's ASOF JOIN (100k labels, every value compared), then
# the Python SDK's tests (pytest against a real node and a 3-node cluster; installs its pip packages)
# and the C client's tests (built with make, run against a real node).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/generate-protos.sh --check
swift test --disable-xctest "$@"
python3 -c "import duckdb" 2>/dev/null || python3 -m pip install -q duckdb
python3 scripts/pit_differential.py --strata "$(swift build --show-bin-path)/strata" --labels 100000
STRATA_BIN="$(swift build --show-bin-path)/strata" clients/python/run-tests.sh
STRATA_BIN="$(swift build --show-bin-path)/strata" clients/c/run-tests.sh
