#!/usr/bin/env bash
# Scale-out on this machine: 3 nodes at RF 3 (a local etcd, cluster/start.sh) holding ENTITIES entities
# x 10 features, then a fourth node added (`--join`) and removed again (`strata cluster remove-node`),
# each while the C client's strata-bench measures online lookups (1 and 100 entities per call, through
# n1). Reports: the time from the change's start until the switch and until it is over, the rows and
# megabytes the receiving nodes got and at what rate, and the lookup p50/p99 before, during the
# transfer and after, side by side. Rounds of lookups count as "during" only when the change was in
# its transfer phase both before and after the round.
# The receiving node's throttle (--stream-mb-per-s) is varied: n4 is added once per rate in ADD_RATES
# (and removed again each time, the remaining nodes receiving at REMOVE_RATE).
# Usage: benchmarks/bench-scaleout.sh [ENTITIES] [ADD_RATES] [REMOVE_RATE]   (defaults 1000000, "32 1 0.5", 0.5)
set -euo pipefail
cd "$(dirname "$0")/.."
ENTITIES="${1:-1000000}"
ADD_RATES="${2:-32 1 0.5}"
REMOVE_RATE="${3:-0.5}"
dev/install-deps.sh >/dev/null
swift build -c release --product strata >/dev/null
BIN="$(swift build -c release --show-bin-path)/strata"
make -s -C clients/c build/strata-bench >/dev/null
BENCH="$PWD/clients/c/build/strata-bench"
WORK="$(mktemp -d)"
RUN="$WORK/run"
export STRATA_BIN="$BIN" STRATA_RF=3 STRATA_BASE_PORT=7700 ETCD_PORT=2679
export STRATA_SERVE_ARGS="--stream-mb-per-s $REMOVE_RATE --cleanup-grace 5 --repair-interval 0"
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

# Let the ingest's compactions and the history images settle before the baseline.
sleep 30
read -r b1 b1p b100 b100p <<<"$(quiet)"

changes=()
lookups=("| before (3 nodes, median of 3 rounds) | $b1 / $b1p | 1.00x | $b100 / $b100p | 1.00x |")
# One change: "label" start-command; prints nothing, appends to the tables.
change() { # label rate(for the table) command...
  local label="$1" rate="$2"
  shift 2
  local t0; t0=$(date +%s.%N)
  "$@" >/dev/null
  local d1 d1p d100 d100p n1 n100
  read -r d1 d1p d100 d100p n1 n100 <<<"$(during)"
  local tx; tx="$(transfer)"
  local switched; switched=$(wait_for "$t0" switched)
  local final; final="$(transfer)"
  [ "${final%% *}" != "0" ] && tx="$final"
  "$BIN" cluster cleanup --server "$S" >/dev/null 2>&1 || true
  local done_s; done_s=$(wait_for "$t0" done)
  local r m rate_seen
  read -r r m rate_seen <<<"$tx"
  changes+=("| $label | $rate | $switched | $done_s | $r | $m | $rate_seen |")
  lookups+=("| while $label ($n1 + $n100 rounds) | $d1 / $d1p | $(ratio "$d1p" "$b1p") | $d100 / $d100p | $(ratio "$d100p" "$b100p") |")
}
rows4=""
for rate in $ADD_RATES; do
  rm -rf "$RUN/data/n4"
  change "n4 joins" "$rate" env STRATA_SERVE_ARGS="--stream-mb-per-s $rate --cleanup-grace 5 --repair-interval 0" \
    cluster/start-node.sh n4 --join "$RUN"
  if [ -z "$rows4" ]; then
    read -r a1 a1p a100 a100p <<<"$(quiet)"
    lookups+=("| after (4 nodes, median of 3 rounds) | $a1 / $a1p | $(ratio "$a1p" "$b1p") | $a100 / $a100p | $(ratio "$a100p" "$b100p") |")
    rows4=$("$BIN" status --server "$S" | awk '$1 ~ /^n[0-9]+$/ && NF >= 5 { printf "%s %s  ", $1, $4 }')
  fi
  change "n4 leaves" "$REMOVE_RATE" "$BIN" cluster remove-node n4 --server "$S"
  for _ in $(seq 1 100); do kill -0 "$(cat "$RUN/n4.pid")" 2>/dev/null || break; sleep 0.1; done
  rm -f "$RUN/n4.pid"
done

echo
echo "Scale-out on one machine ($(nproc) CPUs), release build, RF 3: $ENTITIES entities x 10 features (ingested in $ingest_s s)"
echo
echo "| change | --stream-mb-per-s of the receivers | until switched (s) | until done (s) | rows received | MB received | MB/s (sum over receivers) |"
echo "|---|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${changes[@]}"
echo
echo "Rows per node with 4 nodes: $rows4"
echo
echo "| online lookups through n1 (C client) | 1 entity p50 / p99 (µs) | p99 vs before | 100 entities p50 / p99 (µs) | p99 vs before |"
echo "|---|---:|---:|---:|---:|"
printf '%s\n' "${lookups[@]}"
