#!/usr/bin/env bash
# Regenerates Sources/StrataProto from Protos/ with the system protoc and the protoc plugins built from
# this package's own pinned dependencies (swift-protobuf and grpc-swift-protobuf).
#
#   dev/generate-protos.sh          rewrite the generated files
#   dev/generate-protos.sh --check  fail (exit 1) if the committed files differ from fresh output
set -euo pipefail
cd "$(dirname "$0")/.."

command -v protoc >/dev/null || { echo "protoc not found: apt-get install -y protobuf-compiler" >&2; exit 1; }

# Debug builds share the compiled dependencies with `swift build`/`swift test`, so this adds seconds, not minutes.
swift build --product protoc-gen-swift >/dev/null
swift build --product protoc-gen-grpc-swift-2 >/dev/null
BIN="$(swift build --show-bin-path)"

OUT="Sources/StrataProto"
if [[ "${1:-}" == "--check" ]]; then
  OUT="$(mktemp -d)"
  trap 'rm -rf "$OUT"' EXIT
fi

protoc \
  --plugin=protoc-gen-swift="$BIN/protoc-gen-swift" \
  --plugin=protoc-gen-grpc-swift-2="$BIN/protoc-gen-grpc-swift-2" \
  --proto_path=Protos \
  --swift_out="$OUT" --swift_opt=Visibility=Public --swift_opt=FileNaming=PathToUnderscores \
  --grpc-swift-2_out="$OUT" --grpc-swift-2_opt=Visibility=Public --grpc-swift-2_opt=FileNaming=PathToUnderscores \
  Protos/strata/v1/*.proto

if [[ "${1:-}" == "--check" ]]; then
  if ! diff -ru --exclude=StrataProto.swift "$OUT" Sources/StrataProto; then
    echo "error: Sources/StrataProto is stale: run dev/generate-protos.sh and commit the result" >&2
    exit 1
  fi
  echo "generated code is up to date"
fi
