#!/usr/bin/env bash
# One node vs a 3-node cluster on this machine, same data: online lookups through a coordinator
# (1 and 100 entities per call, p50/p99), a point-in-time export, and how the export's labels split
# over the nodes. On one machine three nodes cannot be faster than one: the figures show the
# coordination overhead as ratios. The 3-node cluster sends its internode lookups on the lookup lanes
# (the default); a second one runs with `--internode-lookups stream` (multiplexed gRPC streams), so the
# table also shows what the lanes save. Latencies are measured with the C client's strata-bench, the
# median over 3 interleaved rounds (1 node, lanes, streams).
# Usage: benchmarks/bench-cluster.sh [ROWS] [LABELS]     (defaults 1000000 and 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${1:-1000000}"
LABELS="${2:-1000000}"
ENTITIES=100000
dev/install-deps.sh
swift build -c release --product strata >/dev/null
BIN="$(swift build -c release --show-bin-path)/strata"
make -s -C clients/c build/strata-bench >/dev/null
BENCH="$PWD/clients/c/build/strata-bench"
WORK="$(mktemp -d)"
BASE="${STRATA_BENCH_PORT:-7520}"
SINGLE="127.0.0.1:$BASE"
cluster_file() { # first port
  # One copy per entity: this script measures the cost of coordination (bench-replication.sh: of RF 3).
  printf 'epoch: 1\nreplication_factor: 1\nnodes:\n'
  for i in 1 2 3; do
    printf '  - id: n%s\n    address: 127.0.0.1:%s\n    internode_port: %s\n' "$i" $(($1 + i - 1)) $(($1 + i + 4))
  done
}
cluster_file $((BASE + 1)) >"$WORK/cluster.yaml"
cluster_file $((BASE + 11)) >"$WORK/stream.yaml"
"$BIN" serve --port "$BASE" --data-dir "$WORK/single" >"$WORK/single.log" 2>&1 &
PIDS=($!)
cleanup() {
  STRATA_BIN="$BIN" cluster/stop.sh "$WORK/run" >/dev/null 2>&1 || true
  STRATA_BIN="$BIN" cluster/stop.sh "$WORK/run-stream" >/dev/null 2>&1 || true
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
STRATA_BIN="$BIN" cluster/start.sh "$WORK/cluster.yaml" "$WORK/run" >/dev/null
STRATA_BIN="$BIN" STRATA_SERVE_ARGS="--internode-lookups stream" cluster/start.sh "$WORK/stream.yaml" "$WORK/run-stream" >/dev/null
for _ in $(seq 1 100); do grep -q "listening on" "$WORK/single.log" 2>/dev/null && break; sleep 0.1; done
N1="127.0.0.1:$((BASE + 1))"
S1="127.0.0.1:$((BASE + 11))"

benchmarks/bench-data.sh "$WORK" "$ROWS" "$LABELS" "$ENTITIES"

for target in "$SINGLE" "$N1" "$S1"; do
  "$BIN" apply "$WORK/defs.yaml" --server "$target" >/dev/null
  echo "ingest via $target: $("$BIN" ingest --group bench "$WORK/rows.csv" --server "$target")"
done
sleep 3  # let each node build its history image in the background (writes paused)

# Latency as the C client sees it (clients/c: about 25 µs of its own CPU per call, against 250-350 µs for
# `strata bench-get`), so the ratios are not diluted by client overhead.
lat() { # target batch iterations -> "p50 p99" in µs
  "$BENCH" --features 'bench:*' --entities $ENTITIES --batch "$2" --requests "$3" --warmup 200 --server "$1" \
    | sed -E 's/.* p50 ([0-9]+) µs.* p99 ([0-9]+) µs.*/\1 \2/'
}
median3() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
declare -A P50 P99
for shape in 1 100; do
  iterations=$([ "$shape" = 1 ] && echo 5000 || echo 3000)
  for who in single lane stream; do P50[$who$shape]=""; P99[$who$shape]=""; done
  for round in 1 2 3; do
    for who in single lane stream; do
      case $who in single) t=$SINGLE ;; lane) t=$N1 ;; stream) t=$S1 ;; esac
      read -r a b <<<"$(lat "$t" "$shape" "$iterations")"
      P50[$who$shape]+="$a "; P99[$who$shape]+="$b "
    done
  done
  for who in single lane stream; do
    # shellcheck disable=SC2086
    P50[$who$shape]=$(median3 ${P50[$who$shape]}); P99[$who$shape]=$(median3 ${P99[$who$shape]})
  done
done
export_s() { /usr/bin/time -f "%e" "$BIN" join --labels "$WORK/labels.csv" --features 'bench:*' --discard --server "$1" 2>&1 >/dev/null | tail -1; }
joined() { "$BIN" status --server "$1" | sed -nE 's/.* ([0-9]+) label rows joined.*/\1/p'; }
export_s "$SINGLE" >/dev/null; export_s "$N1" >/dev/null   # warm-up (image builds, connections)
before=(); for p in 1 2 3; do before+=("$(joined "127.0.0.1:$((BASE + p))")"); done
es=$(export_s "$SINGLE")
ec=$(export_s "$N1")
split=""; for p in 1 2 3; do
  after=$(joined "127.0.0.1:$((BASE + p))"); split+="n$p $(( (after - before[p - 1]) * 100 / LABELS ))% "
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
row() { # label shape
  local s="single$2" c="lane$2" u="stream$2"
  echo "| $1 | ${P50[$s]} / ${P99[$s]} | ${P50[$c]} / ${P99[$c]} | $(ratio "${P50[$c]}" "${P50[$s]}") / $(ratio "${P99[$c]}" "${P99[$s]}") | ${P50[$u]} / ${P99[$u]} | $(ratio "${P50[$u]}" "${P50[$s]}") / $(ratio "${P99[$u]}" "${P99[$s]}") |"
}
echo
echo "Same data on 1 node and on 3 nodes (one machine, $(nproc) CPUs): $ROWS rows x 3 features over $ENTITIES entities, $LABELS labels; through node n1 as coordinator"
echo
echo "| measurement | 1 node | 3 nodes (lookup lanes) | ratio | 3 nodes (lookup streams) | ratio |"
echo "|---|---:|---:|---:|---:|---:|"
row "online lookup, 1 entity: p50 / p99 (µs)" 1
row "online lookup, 100 entities: p50 / p99 (µs)" 100
echo "| export of $LABELS labels, rows received (s) | $es | $ec | $(ratio "$ec" "$es") | | |"
echo
echo "Labels joined per node during the cluster export: $split"
echo "How n1's lookups went: lanes cluster: $("$BIN" status --server "$N1" | sed -n 's/^internode: *//p'); streams cluster: $("$BIN" status --server "$S1" | sed -n 's/^internode: *//p')"
