#!/usr/bin/env bash
# Runs the signaling relay load benchmark: parlor-signal (release build)
# against the reference relay written with Node's `ws`, at 100, 1000 and
# 10000 connections. Prints a Markdown table with the ratios.
#   PARLOR_BENCH_SIZES=100,1000   fewer sizes
#   PARLOR_BENCH_SECONDS=5        load phase per run
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ ! -d "$here/reference-relay/node_modules/ws" ]; then
  (cd "$here/reference-relay" && npm install --no-audit --no-fund)
fi
cd "$here/../../.."
exec cargo bench -p parlor-signal --bench relay_load
