#!/usr/bin/env bash
# Strata's benchmark suite, one command:
#   benchmarks/bench-suite.sh [small|medium|all] [--quick] [bench_suite.py options]
# Installs what is missing (Debian: the build packages of install-deps.sh, redis-server, libhiredis-dev,
# linux-perf; pip: the pinned benchmarks/requirements.txt, into dev/python-env.sh's environment), builds
# `strata` in release mode once (unless STRATA_BIN names a binary), builds the C client and its load
# generators, then runs benchmarks/bench_suite.py: it starts a Strata node and a redis-server on free
# loopback ports, generates the data (seeded), measures, stops exactly what it started and writes
# benchmarks/results/<date>-<commit>.md and .json (the markdown also goes to standard output).
# Method and limits: benchmarks/README.md. --quick: small workload shapes with fewer rounds.
set -euo pipefail
cd "$(dirname "$0")/.."

dev/install-deps.sh >&2
missing=()
for p in redis-server libhiredis-dev linux-perf; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}" >&2
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq >&2
  # linux-perf is optional (the profile says why it is missing); the others are not.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server libhiredis-dev >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq linux-perf >&2 || echo "linux-perf not installable: no profile" >&2
fi
source dev/python-env.sh benchmarks/requirements.txt   # redis[hiredis], duckdb, polars, the SDK's packages

if [[ -z "${STRATA_BIN:-}" ]]; then
  echo "building strata (release)" >&2
  swift build -c release --product strata >&2
  STRATA_BIN="$(swift build -c release --show-bin-path)/strata"
fi
make -s -C clients/c all build/redis-bench >&2
exec "$PYTHON" benchmarks/bench_suite.py --strata "$STRATA_BIN" "$@"
