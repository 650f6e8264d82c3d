#!/usr/bin/env bash
# Builds Parlor's installers with the Tauri CLI: `scripts/bundle.sh deb`,
# `scripts/bundle.sh deb,appimage`, `scripts/bundle.sh msi`, `scripts/bundle.sh dmg`.
# Used by scripts/build-deb.sh and the release workflow.
#
# The Tauri CLI expects tauri.conf.json inside the app crate, while Parlor
# keeps it at the top level beside ui/. Three things make the CLI accept that
# layout: a copy of the config in src-tauri/ (removed afterwards),
# TAURI_APP_PATH pointing at the crate, and a --config patch giving the
# frontend, icon and desktop-template paths as absolute paths (the CLI would
# otherwise read them relative to src-tauri/).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
bundles="${1:?usage: scripts/bundle.sh BUNDLES (deb, appimage, msi, dmg; comma-separated)}"

cp tauri.conf.json src-tauri/tauri.conf.json
trap 'rm -f "$root/src-tauri/tauri.conf.json"' EXIT

patch=$(cat <<JSON
{
  "build": { "frontendDist": "$root/ui" },
  "bundle": { "icon": [
    "$root/src-tauri/icons/32x32.png",
    "$root/src-tauri/icons/128x128.png",
    "$root/src-tauri/icons/128x128@2x.png",
    "$root/src-tauri/icons/icon.png",
    "$root/src-tauri/icons/icon.icns",
    "$root/src-tauri/icons/icon.ico"
  ],
  "linux": { "deb": { "desktopTemplate": "$root/src-tauri/parlor.desktop" } } }
}
JSON
)

TAURI_APP_PATH="$root/src-tauri" npx --yes @tauri-apps/cli@2.12 build \
  --bundles "$bundles" --config "$patch"
