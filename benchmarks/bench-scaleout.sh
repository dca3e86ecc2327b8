#!/usr/bin/env bash
# Scale-out on this machine: 3 nodes at RF 3 (a local etcd, cluster/start.sh) holding ENTITIES entities
# x 10 features, then a fourth node added (`--join`) and removed again (`strata cluster remove-node`),
# each while the C client's strata-bench measures online lookups (1 and 100 entities per call, through
# n1). Reports: the time from the change's start until the switch and until it is over, the rows and
# megabytes the receiving nodes got and at what rate, and the lookup p50/p99 before, during the
# transfer and after, side by side. Rounds of lookups count as "during" only when the change was in
# its transfer phase both before and after the round.
# Usage: benchmarks/bench-scaleout.sh [ENTITIES] [STREAM_MB_PER_S]      (defaults 1000000 and 32)
set -euo pipefail
cd "$(dirname "$0")/.."
ENTITIES="${1:-1000000}"
RATE="${2:-32}"
dev/install-deps.sh >/dev/null
swift build -c release --product strata >/dev/null
BIN="$(swift build -c release --show-bin-path)/strata"
make -s -C clients/c build/strata-bench >/dev/null
BENCH="$PWD/clients/c/build/strata-bench"
WORK="$(mktemp -d)"
RUN="$WORK/run"
export STRATA_BIN="$BIN" STRATA_RF=3 STRATA_BASE_PORT=7700 ETCD_PORT=2679
export STRATA_SERVE_ARGS="--stream-mb-per-s $RATE --cleanup-grace 5 --repair-interval 0"
cleanup() {
  cluster/stop.sh "$RUN" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
cluster/start.sh "$RUN" >/dev/null
S="127.0.0.1:7701"

# 10 features: 5 INT, 5 FLOAT; one row per entity.
{
  echo "groups:"
  echo "  - name: wide"
  echo "    features:"
  for i in 0 1 2 3 4; do echo "      - {name: i$i, dtype: INT}"; done
  for i in 0 1 2 3 4; do echo "      - {name: f$i, dtype: FLOAT}"; done
} >"$WORK/defs.yaml"
awk -v n="$ENTITIES" 'BEGIN {
  srand(7); print "entity_id,event_timestamp,i0,i1,i2,i3,i4,f0,f1,f2,f3,f4"
  for (e = 0; e < n; e++) {
    printf "u%d,2024-05-01T00:00:00Z,%d,%d,%d,%d,%d,%.4f,%.4f,%.4f,%.4f,%.4f\n", e, e % 1000, e % 7, e % 13, e % 101, e % 997, \
      rand(), rand() * 10, rand() * 100, rand() * 1000, rand() * 10000
  }
}' >"$WORK/rows.csv"
"$BIN" apply "$WORK/defs.yaml" --server "$S" >/dev/null
ingest_start=$(date +%s.%N)
"$BIN" ingest --group wide "$WORK/rows.csv" --server "$S" >/dev/null
ingest_s=$(awk -v s="$ingest_start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')

median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
lat() { # batch requests -> "p50 p99"
  "$BENCH" --features 'wide:*' --entities "$ENTITIES" --batch "$1" --requests "$2" --warmup 50 --server "$S" \
    | sed -E 's/.* p50 ([0-9]+) µs.* p99 ([0-9]+) µs.*/\1 \2/'
}
phase() { "$BIN" cluster status --server "$S" 2>/dev/null | sed -nE 's/^change: .*, phase ([a-z_]+) .*/\1/p'; }
# Three rounds of each shape when quiet: "p50_1 p99_1 p50_100 p99_100".
quiet() {
  local a="" b="" c="" d="" x y
  for _ in 1 2 3; do
    read -r x y <<<"$(lat 1 2000)"; a+="$x "; b+="$y "
    read -r x y <<<"$(lat 100 500)"; c+="$x "; d+="$y "
  done
  # shellcheck disable=SC2086
  echo "$(median $a) $(median $b) $(median $c) $(median $d)"
}
# While the change transfers ranges: short rounds, alternating shapes; a round counts when the change
# was still in dual_write or streaming when it ended (it was when the previous one ended).
# Prints "p50_1 p99_1 p50_100 p99_100 rounds_1 rounds_100".
during() {
  local a="" b="" c="" d="" x y p k=0 waited=0
  while true; do
    p=$(phase)
    case "$p" in dual_write | streaming) break ;; esac
    if [ -n "$p" ] || [ "$waited" -gt 200 ]; then echo "0 0 0 0 0 0"; return; fi
    sleep 0.1
    waited=$((waited + 1))
  done
  while true; do
    if [ $((k % 2)) -eq 0 ]; then read -r x y <<<"$(lat 1 300)"; else read -r x y <<<"$(lat 100 60)"; fi
    p=$(phase)
    case "$p" in dual_write | streaming) ;; *) break ;; esac
    if [ $((k % 2)) -eq 0 ]; then a+="$x "; b+="$y "; else c+="$x "; d+="$y "; fi
    k=$((k + 1))
  done
  # shellcheck disable=SC2086
  echo "$(median ${a:-0}) $(median ${b:-0}) $(median ${c:-0}) $(median ${d:-0}) $(echo $a | wc -w) $(echo $c | wc -w)"
}
# Seconds from START until the phase is PHASE (or the change is over, for "done").
wait_for() { # start phase
  while true; do
    local now; now=$(date +%s.%N)
    if [ "$2" = "done" ]; then
      "$BIN" cluster status --server "$S" 2>/dev/null | grep -q "no membership change in progress" && break
    else
      local p; p=$(phase)
      case "$p" in "$2" | switched | cleanup) break ;; esac
      "$BIN" cluster status --server "$S" 2>/dev/null | grep -q "no membership change in progress" && break
    fi
    sleep 0.1
  done
  awk -v s="$1" -v e="$now" 'BEGIN { printf "%.1f", e - s }'
}
transfer() { # -> "rows MB MB/s" summed over the receiving nodes, from the last status of the change
  "$BIN" cluster status --server "$S" 2>/dev/null | awk '
    /^  n[0-9]+: .* rows, / {
      for (i = 1; i <= NF; i++) { if ($(i + 1) == "rows,") r += $i; if ($(i + 1) == "MB") { m += $i; rate += $(i + 3) } }
    } END { printf "%d %.1f %.1f", r, m, rate }'
}

read -r b1 b1p b100 b100p <<<"$(quiet)"

# Grow: n4 joins.
t0=$(date +%s.%N)
STRATA_BIN="$BIN" cluster/start-node.sh n4 --join "$RUN" >/dev/null
read -r g1 g1p g100 g100p gn1 gn100 <<<"$(during)"
grow_tx="$(transfer)"
grow_switch=$(wait_for "$t0" switched)
grow_tx_final="$(transfer)"
[ "${grow_tx_final%% *}" != "0" ] && grow_tx="$grow_tx_final"
"$BIN" cluster cleanup --server "$S" >/dev/null 2>&1 || true
grow_done=$(wait_for "$t0" done)
read -r a1 a1p a100 a100p <<<"$(quiet)"
rows4=$("$BIN" status --server "$S" | awk '$1 ~ /^n[0-9]+$/ && NF >= 5 { printf "%s %s  ", $1, $4 }')

# Shrink: n4 leaves.
t1=$(date +%s.%N)
"$BIN" cluster remove-node n4 --server "$S" >/dev/null
read -r r1 r1p r100 r100p rn1 rn100 <<<"$(during)"
shrink_tx="$(transfer)"
shrink_switch=$(wait_for "$t1" switched)
shrink_tx_final="$(transfer)"
[ "${shrink_tx_final%% *}" != "0" ] && shrink_tx="$shrink_tx_final"
"$BIN" cluster cleanup --server "$S" >/dev/null 2>&1 || true
shrink_done=$(wait_for "$t1" done)

read -r gr gm grate <<<"$grow_tx"
read -r sr sm srate <<<"$shrink_tx"
echo
echo "Scale-out on one machine ($(nproc) CPUs), release build, RF 3: $ENTITIES entities x 10 features (ingested in $ingest_s s), --stream-mb-per-s $RATE"
echo
echo "| change | until switched (s) | until done (s) | rows received | MB received | MB/s (sum over receivers) |"
echo "|---|---:|---:|---:|---:|---:|"
echo "| add n4 to n1-n3 | $grow_switch | $grow_done | $gr | $gm | $grate |"
echo "| remove n4 | $shrink_switch | $shrink_done | $sr | $sm | $srate |"
echo
echo "Rows per node with 4 nodes: $rows4"
echo
echo "| online lookups through n1 (C client) | 1 entity p50 / p99 (µs) | vs before | 100 entities p50 / p99 (µs) | vs before |"
echo "|---|---:|---:|---:|---:|"
echo "| before (3 nodes, median of 3 rounds) | $b1 / $b1p | 1.00x | $b100 / $b100p | 1.00x |"
echo "| while n4 receives its ranges ($gn1 + $gn100 rounds) | $g1 / $g1p | $(ratio "$g1p" "$b1p") | $g100 / $g100p | $(ratio "$g100p" "$b100p") |"
echo "| after (4 nodes, median of 3 rounds) | $a1 / $a1p | $(ratio "$a1p" "$b1p") | $a100 / $a100p | $(ratio "$a100p" "$b100p") |"
echo "| while n4's ranges move back ($rn1 + $rn100 rounds) | $r1 / $r1p | $(ratio "$r1p" "$b1p") | $r100 / $r100p | $(ratio "$r100p" "$b100p") |"
