#!/usr/bin/env bash
# One node vs a 3-node cluster on this machine, same data: online lookups through a coordinator
# (1 and 100 entities per call, p50/p99), a point-in-time export, and how the export's labels split
# over the nodes. On one machine three nodes cannot be faster than one: the figures show the
# coordination overhead as ratios.
# Usage: scripts/bench-cluster.sh [ROWS] [LABELS]     (defaults 1000000 and 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${1:-1000000}"
LABELS="${2:-1000000}"
ENTITIES=100000
scripts/install-deps.sh
swift build -c release --product strata >/dev/null
BIN="$(swift build -c release --show-bin-path)/strata"
WORK="$(mktemp -d)"
BASE="${STRATA_BENCH_PORT:-7520}"
SINGLE="127.0.0.1:$BASE"
cat >"$WORK/cluster.yaml" <<YAML
epoch: 1
nodes:
  - id: n1
    address: 127.0.0.1:$((BASE + 1))
  - id: n2
    address: 127.0.0.1:$((BASE + 2))
  - id: n3
    address: 127.0.0.1:$((BASE + 3))
YAML
"$BIN" serve --port "$BASE" --data-dir "$WORK/single" >"$WORK/single.log" 2>&1 &
PIDS=($!)
cleanup() {
  STRATA_BIN="$BIN" cluster/stop.sh "$WORK/run" >/dev/null 2>&1 || true
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
STRATA_BIN="$BIN" cluster/start.sh "$WORK/cluster.yaml" "$WORK/run" >/dev/null
for _ in $(seq 1 100); do grep -q "listening on" "$WORK/single.log" 2>/dev/null && break; sleep 0.1; done
N1="127.0.0.1:$((BASE + 1))"

scripts/bench-data.sh "$WORK" "$ROWS" "$LABELS" "$ENTITIES"

for target in "$SINGLE" "$N1"; do
  "$BIN" apply "$WORK/defs.yaml" --server "$target" >/dev/null
  echo "ingest via $target: $("$BIN" ingest --group bench "$WORK/rows.csv" --server "$target")"
done
sleep 3  # let each node build its history image in the background (writes paused)

lat() { # target batch iterations -> "p50 p99" in µs
  "$BIN" bench-get --features 'bench:*' --entities $ENTITIES --batch "$2" --iterations "$3" --warmup 200 --server "$1" \
    | sed -E 's/.*median ([0-9]+) µs.*p99 ([0-9]+) µs.*/\1 \2/'
}
read -r s1p50 s1p99 <<<"$(lat "$SINGLE" 1 3000)"
read -r c1p50 c1p99 <<<"$(lat "$N1" 1 3000)"
read -r s100p50 s100p99 <<<"$(lat "$SINGLE" 100 1000)"
read -r c100p50 c100p99 <<<"$(lat "$N1" 100 1000)"
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
echo
echo "Same data on 1 node and on 3 nodes (one machine, $(nproc) CPUs): $ROWS rows x 3 features over $ENTITIES entities, $LABELS labels; through node n1 as coordinator"
echo
echo "| measurement | 1 node | 3 nodes | 3 nodes / 1 node |"
echo "|---|---:|---:|---:|"
echo "| online lookup, 1 entity: p50 / p99 (µs) | $s1p50 / $s1p99 | $c1p50 / $c1p99 | $(ratio "$c1p50" "$s1p50") / $(ratio "$c1p99" "$s1p99") |"
echo "| online lookup, 100 entities: p50 / p99 (µs) | $s100p50 / $s100p99 | $c100p50 / $c100p99 | $(ratio "$c100p50" "$s100p50") / $(ratio "$c100p99" "$s100p99") |"
echo "| export of $LABELS labels, rows received (s) | $es | $ec | $(ratio "$ec" "$es") |"
echo
echo "Labels joined per node during the cluster export: $split"
