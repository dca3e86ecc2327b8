#!/usr/bin/env bash
# Regenerates the protobuf-c code in clients/c/gen from Protos/ (the public messages: types.proto and
# feature_store.proto; shard.proto is the internode service and is not needed by clients).
#
# protoc-c 1.4 (Debian 12) does not support proto3 `optional`, so the protos are first copied to a
# temporary directory where each `optional T name = N;` becomes `oneof _name { T name = N; }`: that is
# exactly the synthetic oneof protoc itself uses for proto3 optional fields, identical on the wire. In C
# the field's presence is then `row->_created_timestamp_micros_case ==
# STRATA__V1__WRITE_ROW___CREATED_TIMESTAMP_MICROS_CREATED_TIMESTAMP_MICROS`.
#
#   clients/c/generate.sh          rewrite gen/
#   clients/c/generate.sh --check  fail (exit 1) if the committed files differ from fresh output
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
command -v protoc-c >/dev/null || { echo "protoc-c not found: apt-get install -y protobuf-c-compiler" >&2; exit 1; }

OUT="$HERE/gen"
if [[ "${1:-}" == "--check" ]]; then
  OUT="$(mktemp -d)"
  CHECK_DIR="$OUT"
else
  rm -rf "$OUT/strata"
fi
mkdir -p "$OUT"
SRC="$(mktemp -d)"
trap 'rm -rf "$SRC" ${CHECK_DIR:-}' EXIT
mkdir -p "$SRC/strata/v1"
for f in types feature_store; do
  sed -E 's/^([[:space:]]*)optional[[:space:]]+([a-z0-9_.]+)[[:space:]]+([a-z0-9_]+)[[:space:]]*=[[:space:]]*([0-9]+);/\1oneof _\3 { \2 \3 = \4; }/' \
    "$ROOT/Protos/strata/v1/$f.proto" >"$SRC/strata/v1/$f.proto"
done
(cd "$SRC" && protoc-c --proto_path=. --c_out="$OUT" strata/v1/types.proto strata/v1/feature_store.proto)

if [[ "${1:-}" == "--check" ]]; then
  if ! diff -ru "$OUT" "$HERE/gen"; then
    echo "error: clients/c/gen is stale: run clients/c/generate.sh and commit the result" >&2
    exit 1
  fi
  echo "generated C code is up to date"
fi
