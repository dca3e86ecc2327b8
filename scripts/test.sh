#!/usr/bin/env bash
# Runs every test: checks that the committed generated code matches Protos/, then the whole
# swift-testing suite (unit, storage conformance on both engines, in-process gRPC, and the
# multi-process tests that start real `strata serve` processes on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/generate-protos.sh --check
swift test --disable-xctest "$@"
