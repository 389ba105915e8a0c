#!/usr/bin/env bash
# Renders an SVG or HTML file to PNG with headless Chromium (Debian's chromium package), to look at
# what emalog drew: scripts/screenshot.sh picture.svg out.png [width [height]].
# The height defaults to the SVG's own height (for HTML: 3000 px); nothing is fetched from the network.
set -euo pipefail
in=$1 out=$2 width=${3:-}
command -v chromium >/dev/null || { echo "chromium is not installed: apt-get install chromium" >&2; exit 1; }
if [[ -z $width ]]; then
  width=$(grep -o -m1 '<svg[^>]* width="[0-9]*"' "$in" | grep -o 'width="[0-9]*"' | tr -dc 0-9 || true)
  width=${width:-1040}
fi
height=${4:-}
if [[ -z $height ]]; then
  height=$(grep -o -m1 '<svg[^>]* height="[0-9]*"' "$in" | grep -o 'height="[0-9]*"' | tr -dc 0-9 || true)
  [[ $in == *.htm* ]] && height=3000
  height=${height:-3000}
fi
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$profile" \
  --screenshot="$out" --window-size="$width,$height" "file://$(realpath "$in")" 2>/dev/null
echo "$out (${width}x${height})"
