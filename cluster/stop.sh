#!/usr/bin/env bash
# Stops the nodes that cluster/start.sh started (only the pids in RUN_DIR), gracefully (SIGTERM), and
# then its etcd (when it started one).
#   cluster/stop.sh [RUN_DIR] [NODE...]      (default RUN_DIR ./cluster-run; no NODE = all of them)
set -euo pipefail
cd "$(dirname "$0")/.."
RUN="${1:-cluster-run}"
shift || true
PIDS=()
if [ "$#" -gt 0 ]; then NODES="$*"; else
  # The nodes first, etcd last (nodes shutting down still talk to it).
  NODES=$(ls "$RUN"/*.pid 2>/dev/null | xargs -n1 basename 2>/dev/null | sed 's/\.pid$//' | grep -v '^etcd$' || true)
fi
for node in $NODES; do
  f="$RUN/$node.pid"
  [ -f "$f" ] || { echo "$node: no pid file in $RUN"; continue; }
  pid=$(cat "$f")
  if kill -TERM "$pid" 2>/dev/null; then PIDS+=("$pid"); echo "$node: stopping (pid $pid)"; else echo "$node: not running"; fi
  rm -f "$f"
done
for pid in "${PIDS[@]}"; do
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
done
if [ "$#" -eq 0 ] && [ -f "$RUN/etcd.pid" ]; then
  pid=$(cat "$RUN/etcd.pid")
  if kill -TERM "$pid" 2>/dev/null; then
    echo "etcd: stopping (pid $pid)"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$RUN/etcd.pid"
fi
