#!/usr/bin/env bash
# Builds Parlor's Debian package in one command, on a fresh Debian 12 too:
#
#     bash scripts/build-deb.sh
#
# Installs what is missing (scripts/setup.sh), builds the release binary and
# bundles it with the Tauri CLI (see scripts/bundle.sh for why it takes a few
# tricks), and prints the path of the .deb. Install it with
# `apt-get install ./parlor_*.deb` (or `dpkg -i`), then run `parlor`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

bash scripts/bundle.sh deb

deb=$(ls -t "$CARGO_TARGET_DIR"/release/bundle/deb/*.deb | head -n 1)
echo "built $deb"
