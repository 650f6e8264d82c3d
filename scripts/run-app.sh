#!/usr/bin/env bash
# Builds and opens Parlor. Works on a fresh Debian 12, as root too:
#
#     bash scripts/run-app.sh                    # open the app
#     bash scripts/run-app.sh 'parlor://join/…'  # open it and join a room
#     bash scripts/run-app.sh --profile /tmp/p2  # a second, independent instance
#
# Installs what is missing (scripts/setup.sh), builds the app, and runs it.
# With no display ($DISPLAY unset, e.g. over SSH) it starts a virtual one
# (Xvfb) and says so: the app then runs but nothing is visible.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\033[1m[parlor]\033[0m %s\n' "$*" >&2; }

bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

say "building the app (the first build takes a few minutes)"
cargo build -p parlor-app --bin parlor

if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  display=":$((90 + RANDOM % 100))"
  say "no display found: starting a virtual one (Xvfb $display); the window will not be visible"
  Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
  xvfb_pid=$!
  trap 'kill "$xvfb_pid" 2>/dev/null || true' EXIT
  export DISPLAY="$display"
  sleep 1
fi

# The single-instance hand-over and link handling use the D-Bus session bus;
# start one for the app if the desktop session has none.
app=("$CARGO_TARGET_DIR/debug/parlor" "$@")
if [ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ] && command -v dbus-run-session >/dev/null 2>&1; then
  app=(dbus-run-session -- "${app[@]}")
fi
say "starting Parlor"
"${app[@]}"
