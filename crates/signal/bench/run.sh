#!/usr/bin/env bash
# Runs the signaling relay load benchmark: parlor-signal (release build)
# against the reference relay written with Node's `ws`, at 100, 1000 and
# 10000 connections. Prints a Markdown table with the ratios.
#   PARLOR_BENCH_SIZES=100,1000   fewer sizes
#   PARLOR_BENCH_SECONDS=5        load phase per run
# `run.sh cluster`: three `parlor-signal --redis` nodes and a redis-server
# (started and stopped by the bench) against one node, at 30000
# connections; needs Debian's redis-server, not Node.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ "${1:-}" = cluster ]; then
  export PARLOR_BENCH_CLUSTER=1
elif [ ! -d "$here/reference-relay/node_modules/ws" ]; then
  (cd "$here/reference-relay" && npm install --no-audit --no-fund)
fi
cd "$here/../../.."
exec cargo bench -p parlor-signal --bench relay_load
