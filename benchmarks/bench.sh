#!/usr/bin/env bash
# Measures single-node figures quoted in the README, on a release build:
#   - CSV ingest throughput (strata ingest of ROWS rows, 3 features, batches of 5000)
#   - the bare gRPC round trip (GetStatus) and online lookup latency over one connection
#     (strata bench-get), 1 and 100 entities per call
#   - point-in-time join throughput (strata join of LABELS label rows)
#   - online lookup latency while exports of 5x LABELS labels run back to back
# Usage: benchmarks/bench.sh [ROWS] [LABELS]     (defaults 1000000 and 200000)
# EXPORT_NICE="nice -n 10" runs the export client at a lower priority (a stand-in for a client on
# another machine) when measuring lookups during exports.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${1:-1000000}"
LABELS="${2:-200000}"
ENTITIES=100000
dev/install-deps.sh
swift build -c release --product strata >/dev/null
BIN="$(swift build -c release --show-bin-path)/strata"
WORK="$(mktemp -d)"
PORT="${STRATA_BENCH_PORT:-7490}"
export STRATA_SERVER="127.0.0.1:$PORT"
"$BIN" serve --port "$PORT" --data-dir "$WORK/data" >"$WORK/node.out" 2>"$WORK/node.log" &
NODE=$!
trap 'kill -TERM $NODE 2>/dev/null || true; wait $NODE 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 100); do grep -q "listening on" "$WORK/node.out" 2>/dev/null && break; sleep 0.1; done

benchmarks/bench-data.sh "$WORK" "$ROWS" "$LABELS" "$ENTITIES"
"$BIN" apply "$WORK/defs.yaml" >/dev/null

echo "ingest:  $("$BIN" ingest --group bench "$WORK/rows.csv")"
echo "rpc:     $("$BIN" bench-get --features 'bench:*' --ping --iterations 5000)"
echo "lookup:  $("$BIN" bench-get --features 'bench:*' --entities $ENTITIES --batch 1 --iterations 5000)"
echo "lookup:  $("$BIN" bench-get --features 'bench:*' --entities $ENTITIES --batch 100 --iterations 1000)"
"$BIN" join --labels "$WORK/labels.csv" --features 'bench:*' --out "$WORK/joined.csv" 2>"$WORK/join.err"
echo "join:    $(head -1 "$WORK/join.err")"
# Online latency while an export runs: the join runs on the storage read threads, lookups must not starve.
for _ in 1 2 3 4 5; do cat "$WORK/labels.csv"; done | awk 'NR == 1 || !/^entity_id/' >"$WORK/labels5.csv"
# An export takes well under a second, so exports run back to back for as long as the lookups last.
(while [ ! -e "$WORK/stop" ]; do
  $EXPORT_NICE "$BIN" join --labels "$WORK/labels5.csv" --features 'bench:*' --out /dev/null 2>>"$WORK/join5.err" || break
done) &
EXPORTS=$!
sleep 0.5
echo "lookup during export:  $("$BIN" bench-get --features 'bench:*' --entities $ENTITIES --batch 1 --iterations 3000 --warmup 200)"
touch "$WORK/stop"
wait $EXPORTS
echo "export:  $(grep -c '^joined' "$WORK/join5.err") exports of $((5 * LABELS)) labels ran back to back during those lookups; last: $(grep '^joined' "$WORK/join5.err" | tail -1)"
echo "disk:    $(du -sh "$WORK/data" | cut -f1) for $ROWS rows (history + online + WAL)"
