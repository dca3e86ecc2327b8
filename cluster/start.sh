#!/usr/bin/env bash
# Starts a local cluster on this machine, each node with its own data directory.
#   cluster/start.sh [RUN_DIR]                 N nodes (STRATA_NODES, default 3) on 127.0.0.1:7401...,
#                                              internode ports 7501... (STRATA_BASE_PORT, default 7400,
#                                              moves both: BASE+i and BASE+100+i), with their metadata (layout,
#                                              registry) in a local etcd that this script starts first
#                                              (client port ETCD_PORT, default 2479; data in RUN_DIR/etcd)
#   cluster/start.sh FILE.yaml [RUN_DIR]       the nodes of a cluster file instead (no etcd)
# RUN_DIR (default ./cluster-run) gets <node>.log, <node>.pid, data/<node>/ (and etcd.log, etcd.pid).
# STRATA_BIN overrides the binary (default: the debug build, built if missing); STRATA_SERVE_ARGS adds
# `strata serve` options to every node (e.g. "--internode-lookups unary"); STRATA_RF sets the
# replication factor of a new etcd cluster. Waits until every node listens; exits non-zero if one does not.
set -euo pipefail
cd "$(dirname "$0")/.."
FILE=""
if [[ "${1:-}" == *.yaml || "${1:-}" == *.yml ]]; then FILE="$1"; shift; fi
RUN="${1:-cluster-run}"
BIN="${STRATA_BIN:-}"
if [ -z "$BIN" ]; then
  swift build --product strata >/dev/null
  BIN="$(swift build --show-bin-path)/strata"
fi
mkdir -p "$RUN/data"

running() { [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

if [ -n "$FILE" ]; then
  NODES=$(awk '/- id:/ {print $3}' "$FILE")
  for node in $NODES; do
    if running "$node"; then echo "$node already running (pid $(cat "$RUN/$node.pid"))"; continue; fi
    # shellcheck disable=SC2086 # STRATA_SERVE_ARGS is a list of options
    "$BIN" serve --cluster "$FILE" --node "$node" --data-dir "$RUN/data/$node" ${STRATA_SERVE_ARGS:-} >"$RUN/$node.log" 2>&1 &
    echo $! >"$RUN/$node.pid"
  done
else
  command -v etcd >/dev/null || { echo "etcd not found: apt-get install -y etcd-server (dev/install-deps.sh installs it)" >&2; exit 1; }
  ETCD_PORT="${ETCD_PORT:-2479}"
  COUNT="${STRATA_NODES:-3}"
  if running etcd; then
    echo "etcd already running (pid $(cat "$RUN/etcd.pid"))"
  else
    etcd --name strata-local --data-dir "$RUN/etcd" \
      --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
      --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
      --initial-cluster "strata-local=http://127.0.0.1:$((ETCD_PORT + 1))" >"$RUN/etcd.log" 2>&1 &
    echo $! >"$RUN/etcd.pid"
    for _ in $(seq 1 100); do grep -q "ready to serve client requests" "$RUN/etcd.log" 2>/dev/null && break; sleep 0.1; done
    grep -q "ready to serve client requests" "$RUN/etcd.log" || { echo "etcd did not start; see $RUN/etcd.log" >&2; exit 1; }
    echo "etcd: 127.0.0.1:$ETCD_PORT (data in $RUN/etcd)"
  fi
  RF_ARGS=()
  if [ -n "${STRATA_RF:-}" ]; then RF_ARGS=(--replication-factor "$STRATA_RF"); fi
  NODES=$(seq -f "n%g" 1 "$COUNT")
  BASE_PORT="${STRATA_BASE_PORT:-7400}"
  i=0
  for node in $NODES; do
    i=$((i + 1))
    if running "$node"; then echo "$node already running (pid $(cat "$RUN/$node.pid"))"; continue; fi
    # shellcheck disable=SC2086 # STRATA_SERVE_ARGS is a list of options
    "$BIN" serve --etcd "127.0.0.1:$ETCD_PORT" --node "$node" --address "127.0.0.1:$((BASE_PORT + i))" \
      --internode-port "$((BASE_PORT + 100 + i))" --initial-nodes "$COUNT" "${RF_ARGS[@]}" --data-dir "$RUN/data/$node" \
      ${STRATA_SERVE_ARGS:-} >"$RUN/$node.log" 2>&1 &
    echo $! >"$RUN/$node.pid"
  done
fi
for node in $NODES; do
  for _ in $(seq 1 300); do grep -q "listening on" "$RUN/$node.log" 2>/dev/null && break; sleep 0.1; done
  if ! grep -q "listening on" "$RUN/$node.log"; then
    echo "node $node did not start; see $RUN/$node.log" >&2
    exit 1
  fi
  echo "$node: $(grep -m1 "listening on" "$RUN/$node.log")"
done
