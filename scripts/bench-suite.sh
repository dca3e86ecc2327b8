#!/usr/bin/env bash
# Strata's benchmark suite, one command:
#   scripts/bench-suite.sh [small|medium|all] [--quick] [bench_suite.py options]
# Installs what is missing (Debian: the build packages of install-deps.sh, redis-server, libhiredis-dev,
# linux-perf; pip: duckdb, polars, numpy, redis, grpcio, protobuf, pandas, pyarrow, PyYAML), builds
# `strata` in release mode once (unless STRATA_BIN names a binary), builds the C client and its load
# generators, then runs scripts/bench_suite.py: it starts a Strata node and a redis-server on free
# loopback ports, generates the data (seeded), measures, stops exactly what it started and writes
# bench-results/<date>-<commit>.md and .json (the markdown also goes to standard output).
# Method and limits: scripts/README-bench.md. --quick: small workload shapes with fewer rounds.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"

scripts/install-deps.sh >&2
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
if ! "$PY" -c 'import duckdb, polars, numpy, redis, grpc, google.protobuf, pandas, pyarrow, yaml' 2>/dev/null; then
  pkgs=(duckdb polars numpy redis "grpcio>=1.85.1" "protobuf>=7.35.1" pandas pyarrow PyYAML)
  echo "installing with pip: ${pkgs[*]}" >&2
  "$PY" -m pip install --quiet "${pkgs[@]}" >&2 || "$PY" -m pip install --quiet --break-system-packages "${pkgs[@]}" >&2
fi

if [[ -z "${STRATA_BIN:-}" ]]; then
  echo "building strata (release)" >&2
  swift build -c release --product strata >&2
  STRATA_BIN="$(swift build -c release --show-bin-path)/strata"
fi
make -s -C clients/c all build/redis-bench >&2
exec "$PY" scripts/bench_suite.py --strata "$STRATA_BIN" "$@"
