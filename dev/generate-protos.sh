#!/usr/bin/env bash
# Regenerates the committed Swift code from Protos/ with the system protoc and the protoc plugins built from
# this package's own pinned dependencies (swift-protobuf and grpc-swift-protobuf):
#   Protos/strata/v1/*.proto  ->  Sources/StrataProto  (messages, clients and servers)
#   Protos/etcd/**/*.proto    ->  Sources/EtcdProto    (messages and clients only; the protos are etcd 3.4.23's
#                                                        v3 API, imported by dev/import-etcd-protos.sh)
#
#   dev/generate-protos.sh          rewrite the generated files
#   dev/generate-protos.sh --check  fail (exit 1) if the committed files differ from fresh output
set -euo pipefail
cd "$(dirname "$0")/.."

command -v protoc >/dev/null || { echo "protoc not found: apt-get install -y protobuf-compiler" >&2; exit 1; }

# Debug builds share the compiled dependencies with `swift build`/`swift test`, so this adds seconds, not minutes.
# STRATA_SWIFT_FLAGS: extra `swift build` flags, the same as the build that follows uses (scripts/test.sh
# sets them), so that the dependencies are not compiled twice with different flags.
read -r -a FLAGS <<<"${STRATA_SWIFT_FLAGS:-}"
swift build "${FLAGS[@]}" --product protoc-gen-swift >/dev/null
swift build "${FLAGS[@]}" --product protoc-gen-grpc-swift-2 >/dev/null
BIN="$(swift build "${FLAGS[@]}" --show-bin-path)"

STRATA_OUT="Sources/StrataProto"
ETCD_OUT="Sources/EtcdProto"
if [[ "${1:-}" == "--check" ]]; then
  TMP="$(mktemp -d)"
  trap 'rm -rf "$TMP"' EXIT
  STRATA_OUT="$TMP/StrataProto"
  ETCD_OUT="$TMP/EtcdProto"
  mkdir -p "$STRATA_OUT" "$ETCD_OUT"
fi

PLUGINS=(
  --plugin=protoc-gen-swift="$BIN/protoc-gen-swift"
  --plugin=protoc-gen-grpc-swift-2="$BIN/protoc-gen-grpc-swift-2"
  --proto_path=Protos
)

protoc "${PLUGINS[@]}" \
  --swift_out="$STRATA_OUT" --swift_opt=Visibility=Public --swift_opt=FileNaming=PathToUnderscores \
  --grpc-swift-2_out="$STRATA_OUT" --grpc-swift-2_opt=Visibility=Public --grpc-swift-2_opt=FileNaming=PathToUnderscores \
  Protos/strata/v1/*.proto

# etcd: every service of rpc.proto gets a client (the plugin cannot pick services); no server stubs.
protoc "${PLUGINS[@]}" \
  --swift_out="$ETCD_OUT" --swift_opt=Visibility=Public --swift_opt=FileNaming=PathToUnderscores \
  --grpc-swift-2_out="$ETCD_OUT" --grpc-swift-2_opt=Visibility=Public --grpc-swift-2_opt=FileNaming=PathToUnderscores \
  --grpc-swift-2_opt=Server=false \
  Protos/etcd/etcdserver/etcdserverpb/rpc.proto Protos/etcd/mvcc/mvccpb/kv.proto Protos/etcd/auth/authpb/auth.proto

if [[ "${1:-}" == "--check" ]]; then
  stale=0
  diff -ru --exclude=StrataProto.swift "$STRATA_OUT" Sources/StrataProto || stale=1
  diff -ru --exclude=EtcdProto.swift "$ETCD_OUT" Sources/EtcdProto || stale=1
  if ((stale)); then
    echo "error: Sources/StrataProto or Sources/EtcdProto is stale: run dev/generate-protos.sh and commit the result" >&2
    exit 1
  fi
  echo "generated code is up to date"
fi
