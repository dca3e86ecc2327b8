#!/usr/bin/env bash
# Shows each node of the cluster as the first reachable node sees it (strata status).
#   cluster/status.sh [CLUSTER_FILE]      (default cluster/local-3.yaml)
set -euo pipefail
cd "$(dirname "$0")/.."
FILE="${1:-cluster/local-3.yaml}"
BIN="${STRATA_BIN:-$(swift build --show-bin-path)/strata}"
for addr in $(awk '/address:/ {print $2}' "$FILE"); do
  if "$BIN" status --server "$addr" 2>/dev/null; then exit 0; fi
done
echo "no node of $FILE answers" >&2
exit 1
