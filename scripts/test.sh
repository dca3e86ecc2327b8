#!/usr/bin/env bash
# Runs every test:
#   1. dev/install-deps.sh: the Debian packages (apt-get) the build and the tests need, if missing;
#   2. dev/generate-protos.sh --check: the committed generated code matches Protos/;
#      dev/check-doc-links.py: every relative link of the markdown documents resolves;
#   3. swift build --build-tests (debug, dependencies' debug-only asserts off: below), then, with that
#      `strata` binary:
#   4. Tests/Differential/pit_differential.py: the point-in-time join against DuckDB's ASOF JOIN
#      (100k labels, every value and status compared);
#      Tests/Differential/agg_differential.py: windowed stream aggregates (count, sum, avg, min, max,
#      last; 5m to 30d windows, known_at) against a DuckDB range join (1M events pushed with the
#      Python SDK, 100k labels, every value and status compared; about 3-4 minutes);
#   5. clients/python/run-tests.sh: the Python SDK's pytest suite against a real node and a 3-node
#      cluster;
#   6. clients/c/run-tests.sh: the C client's tests against a real node;
#      Tests/FaultBed/run.py --short: a 3-node RF-3 cluster (metadata in etcd) in network namespaces
#      under load while one node is killed, paused, partitioned and made lossy, and while etcd is down
#      (checks C1-C11, Tests/FaultBed/README.md); SKIPPED (exit 77, printed, not a failure) when not
#      root, network namespaces are refused, or etcd is missing;
#   7. swift test: the whole swift-testing suite (unit and property tests, storage conformance on both
#      engines, in-process gRPC, the simulated cluster), then, in runs of their own, the tests against
#      a real etcd and the multi-process tests that start real `strata serve` processes (and etcd) on
#      loopback.
# Python runs in the environment dev/python-env.sh picks (an active virtual environment, else .venv,
# created on first use) with exactly the pinned packages of Tests/Differential/requirements.txt and
# clients/python/requirements-test.txt. Extra arguments go to `swift test` (e.g. --filter Catalog).
set -euo pipefail
cd "$(dirname "$0")/.."
dev/install-deps.sh
source dev/python-env.sh Tests/Differential/requirements.txt clients/python/requirements-test.txt
# Debug build, with the debug-only `assert`s of the dependencies compiled out (`-assert-config Release`;
# Strata's own code has none, it checks with `precondition`, which stays, as do overflow checks):
# swift-nio-http2 1.46.0 asserts "Received flush data frames while buffering control frames"
# (ControlFrameBuffer.swift:59) when a connection's socket turns writable again while it holds
# unflushed control frames, a state its release build handles (it sends the DATA frame first); a debug
# node serving large responses to a client with 64 KiB windows died of it (the C client's tests, about
# 1 run in 40 on a busy machine). Users run release builds, whose `assert`s are always compiled out.
# Every `swift build`/`swift test` below (and the protoc plugins' build) uses the same flags, so the
# build is made once.
SWIFT_FLAGS=(-Xswiftc -assert-config -Xswiftc Release)
export STRATA_SWIFT_FLAGS="${SWIFT_FLAGS[*]}"
dev/generate-protos.sh --check
python3 dev/check-doc-links.py
# One debug build for everything below; the parts that need only the binary run first, so that a
# broken Python environment or client fails in minutes, not after the whole Swift suite.
swift build --build-tests "${SWIFT_FLAGS[@]}"
BIN="$(swift build "${SWIFT_FLAGS[@]}" --show-bin-path)/strata"
"$PYTHON" Tests/Differential/pit_differential.py --strata "$BIN" --labels 100000
"$PYTHON" Tests/Differential/agg_differential.py --strata "$BIN" --events 1000000 --labels 100000
STRATA_BIN="$BIN" clients/python/run-tests.sh
STRATA_BIN="$BIN" clients/c/run-tests.sh
faultbed=0
"$PYTHON" Tests/FaultBed/run.py --short --strata "$BIN" || faultbed=$?
if [ "$faultbed" -eq 77 ]; then
  echo "Tests/FaultBed: SKIPPED (see the reason above; needs root and network namespaces)"
elif [ "$faultbed" -ne 0 ]; then
  echo "Tests/FaultBed: FAILED (exit $faultbed)" >&2
  exit "$faultbed"
fi
# The multi-process tests block threads while they wait for `strata` processes; run apart from the
# in-process ones, whose timing assertions (a healthy node answers within a 1-3 s call timeout)
# would otherwise starve on a 2-core machine's two cooperative threads. The tests against a real etcd
# run apart too: their lease keep-alives must be answered within the lease's TTL, and the in-process
# suites' synchronous work (storage reads, oracles) held both cooperative threads for longer than
# that (a kept-alive lease expired in 2 of 3 full runs on 2026-12-07).
swift test --disable-xctest "${SWIFT_FLAGS[@]}" --skip StrataIntegrationTests --skip StrataEtcdTests "$@"
swift test --disable-xctest "${SWIFT_FLAGS[@]}" --filter StrataEtcdTests "$@"
swift test --disable-xctest "${SWIFT_FLAGS[@]}" --filter StrataIntegrationTests "$@"
