#!/usr/bin/env bash
# Draws Parlor's icon (two overlapping speech bubbles on a rounded square)
# with ImageMagick, then lets the Tauri CLI derive every size and format the
# bundles need (PNG, ICO for Windows, ICNS for macOS) into src-tauri/icons/.
# The results are committed; run this again only to change the icon.
set -euo pipefail
cd "$(dirname "$0")/.."
src="$(mktemp --suffix=.png)"
trap 'rm -f "$src"' EXIT
convert \( -size 1024x1024 gradient:'#5b6cf0-#2f3fb8' \) \
  \( -size 1024x1024 xc:black -fill white -draw "roundrectangle 64,64 960,960 200,200" \) \
  -alpha off -compose CopyOpacity -composite -compose Over \
  -fill 'rgba(255,255,255,0.55)' -draw "roundrectangle 370,330 820,650 90,90" \
  -draw "polygon 700,640 780,760 640,640" \
  -fill white -draw "roundrectangle 210,250 660,570 90,90" \
  -draw "polygon 300,560 250,690 400,560" \
  -fill '#3d4ed8' -draw "circle 330,410 330,448" -draw "circle 435,410 435,448" -draw "circle 540,410 540,448" \
  -define png:color-type=6 "$src"
npx --yes @tauri-apps/cli@2.12 icon "$src" --output src-tauri/icons
# Only the desktop formats are bundled; drop the mobile and Windows Store sets.
rm -rf src-tauri/icons/android src-tauri/icons/ios src-tauri/icons/Square*.png src-tauri/icons/StoreLogo.png
