#!/usr/bin/env bash
# Installs everything Parlor needs to build, run and test on Debian 12, and
# nothing that is already there. Safe to run again: each step checks first.
# Run as root (or with sudo available).
set -euo pipefail

say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# Debian packages: the compiler toolchain, WebKitGTK for the Tauri window,
# Xvfb and the WebKit WebDriver for window tests, Chromium and ChromeDriver as
# the browser peer in interop tests, a few X11 tools and an emoji font (safety
# codes) for screenshots, the desktop tools the app registers its parlor://
# link handler with; iproute2, nftables and iproute2's tc for the network
# namespaces, NAT routers and bad links of the simulated internet tests make,
# ethtool to hand its bad lines whole frames, coturn as its TURN server, and
# socat to reach a browser inside it.
DEBIAN_PACKAGES=(
  build-essential pkg-config libssl-dev curl ca-certificates git
  libwebkit2gtk-4.1-dev libxdo-dev
  xvfb xauth dbus dbus-x11 fonts-dejavu-core webkit2gtk-driver
  chromium chromium-driver
  imagemagick x11-utils xdotool fonts-noto-color-emoji
  desktop-file-utils xdg-utils
  iproute2 nftables ethtool coturn socat
  # parlor-signal's cluster tests (tests/cluster.rs) start their own
  # redis-server on loopback; the package's system service is not used.
  redis-server
  # A real notification server for the window tests: the app's
  # notifications land there, and dunstctl clicks one.
  dunst
)
if ! command -v node >/dev/null 2>&1; then DEBIAN_PACKAGES+=(nodejs npm); fi

missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# axe-core: the accessibility rules tests/ui_a11y.rs runs over every view of
# the window's page (ui/), from npm into a cache outside the clone.
AXE_DIR=/var/cache/parlor/npm
if [ ! -f "$AXE_DIR/node_modules/axe-core/axe.min.js" ]; then
  say "installing axe-core into $AXE_DIR"
  $SUDO mkdir -p "$AXE_DIR"
  $SUDO npm install --prefix "$AXE_DIR" --no-save --no-audit --no-fund --no-package-lock \
    --loglevel=error axe-core@4 >/dev/null
fi

# Rust: Debian 12's own rustc is too old for the 2024 edition, so a fresh
# machine gets the stable toolchain from rustup.
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
  say "installing the Rust toolchain with rustup"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component clippy,rustfmt
  export PATH="$HOME/.cargo/bin:$PATH"
fi
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    say "adding rustup component $component"
    rustup component add "$component"
  fi
done

# tauri-driver: the WebDriver bridge between the window tests and Debian's
# WebKitWebDriver. Pinned to the Tauri 2 line (newer releases are 3.0 alphas).
if ! command -v tauri-driver >/dev/null 2>&1; then
  say "installing tauri-driver"
  cargo install tauri-driver --version 2.1.0 --locked
fi
