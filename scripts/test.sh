#!/usr/bin/env bash
# Runs every Parlor test on a fresh Debian 12 machine: installs what is
# missing, builds, and runs unit, integration and end-to-end tests (real
# sockets on loopback, real WebRTC peers, headless Chromium, the app window
# under Xvfb). Ends with one summary line: "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

# Builds are large (Tauri + webrtc): keep them outside the clone so that
# repeated runs on one machine reuse them.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/parlor/target}"
mkdir -p "$CARGO_TARGET_DIR"
export CARGO_TERM_COLOR=never

# The shared target directory may hold artifacts built from another clone of
# this repository, which cargo can mistake for fresh (fingerprints are
# relative to the workspace, freshness is judged by file times). Rebuilding
# our own crates every run costs a few minutes; the dependencies stay cached.
members=$(cargo metadata --no-deps --format-version 1 |
  grep -o '"name":"[^"]*","version"' | sed 's/"name":"\([^"]*\)".*/\1/')
cargo clean --quiet $(printf -- '-p %s ' $members)
export RUST_BACKTRACE=1

echo "== format"
cargo fmt --all -- --check

echo "== build (binaries the end-to-end tests start)"
cargo build --workspace --bins --quiet

echo "== lint"
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo "== build tests"
cargo test --workspace --tests --no-run --quiet

echo "== tests"
log="$(mktemp)"
status=0
# Tests run in a private network namespace (loopback plus a veth pair), so
# nothing they send — browsers' mDNS included — leaves the machine; cargo must
# not try the network from in there. Window tests need a display: xvfb-run
# gives them one without a screen.
CARGO_NET_OFFLINE=true bash scripts/isolated-net.sh \
  xvfb-run -a --server-args="-screen 0 1280x800x24" \
  cargo test --workspace --tests --no-fail-fast 2>&1 | tee "$log" || status=$?

# -a: the log is text with a stray byte or two from the programs under test
# (a NUL in a TURN server's error reason), which would make grep say "binary
# file matches" instead of counting.
passed=$(grep -aEo '[0-9]+ passed' "$log" | awk '{s+=$1} END {print s+0}')
failed=$(grep -aEo '[0-9]+ failed' "$log" | awk '{s+=$1} END {print s+0}')
rm -f "$log"
echo
echo "${passed} passed, ${failed} failed"
# A run that counted nothing did not test anything.
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$passed" -eq 0 ]; then exit 1; fi
