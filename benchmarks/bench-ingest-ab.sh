#!/usr/bin/env bash
# Write throughput of two strata builds side by side: two 3-node RF 3 clusters on this machine, each with
# its own etcd (cluster/start.sh), `strata ingest` of ROWS rows x 3 features over 100k entities through n1
# at QUORUM, ROUNDS interleaved rounds (A then B), rows/s per round and the medians.
# Usage: benchmarks/bench-ingest-ab.sh A_BINARY B_BINARY [ROWS] [ROUNDS]     (default 300000, 5)
# Used for the cost of write intents (docs/benchmarks.md, Replication): A built without them, B with.
set -euo pipefail
cd "$(dirname "$0")/.."
A="$(realpath "${1:?usage: bench-ingest-ab.sh A_BINARY B_BINARY [ROWS] [ROUNDS]}")"
B="$(realpath "${2:?usage: bench-ingest-ab.sh A_BINARY B_BINARY [ROWS] [ROUNDS]}")"
ROWS="${3:-300000}"
ROUNDS="${4:-5}"
dev/install-deps.sh >/dev/null
WORK="$(mktemp -d)"
cleanup() {
  STRATA_BIN="$A" cluster/stop.sh "$WORK/a" >/dev/null 2>&1 || true
  STRATA_BIN="$B" cluster/stop.sh "$WORK/b" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
STRATA_BIN="$A" STRATA_RF=3 STRATA_BASE_PORT=7600 ETCD_PORT=2579 cluster/start.sh "$WORK/a" >/dev/null
STRATA_BIN="$B" STRATA_RF=3 STRATA_BASE_PORT=7650 ETCD_PORT=2589 cluster/start.sh "$WORK/b" >/dev/null
benchmarks/bench-data.sh "$WORK" "$ROWS" 1000 100000 >/dev/null
"$A" apply "$WORK/defs.yaml" --server 127.0.0.1:7601 >/dev/null
"$B" apply "$WORK/defs.yaml" --server 127.0.0.1:7651 >/dev/null
ingest() { "$1" ingest --group bench --consistency QUORUM "$WORK/rows.csv" --server "$2" | sed -nE 's/.*\(([0-9]+) rows\/s\).*/\1/p'; }
a=(); b=()
for round in $(seq 1 "$ROUNDS"); do
  a+=("$(ingest "$A" 127.0.0.1:7601)")
  b+=("$(ingest "$B" 127.0.0.1:7651)")
  echo "round $round: A ${a[-1]} rows/s, B ${b[-1]} rows/s"
done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
ma=$(median "${a[@]}"); mb=$(median "${b[@]}")
echo "median: A $ma rows/s, B $mb rows/s, B/A $(awk -v a="$ma" -v b="$mb" 'BEGIN { printf "%.2fx", b / a }')"
