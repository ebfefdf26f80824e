#!/usr/bin/env bash
# Writes the demo's photo set (src/Headstart.Cli/DemoData/flowers) from ../shared/datasets/flowers-small: every image
# shrunk so its short side is at most 256 px (the 256 → 224 resize and crop Headstart's ImageNet preprocessing does
# anyway), re-encoded as JPEG quality 75 with metadata stripped; ATTRIBUTION.md links each file to its Flickr page and
# SHA256SUMS pins the bytes (a test checks both). Needs ImageMagick (apt-get install imagemagick): a maintainer's tool,
# never run by setup, the demo or the tests.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src="${1:-$root/../shared/datasets/flowers-small}"
out="$root/src/Headstart.Cli/DemoData/flowers"
im=/usr/bin/convert
[ -x "$im" ] || { echo "needs ImageMagick: apt-get install imagemagick" >&2; exit 1; }
rm -rf "$out"
mkdir -p "$out"
for split in train val; do
  for dir in "$src/$split"/*/; do
    class="$(basename "$dir")"
    mkdir -p "$out/$split/$class"
    for f in "$dir"*.jpg; do
      "$im" "$f" -auto-orient -resize '256x256^>' -strip -quality 75 "$out/$split/$class/$(basename "$f")"
    done
  done
done
{
  echo "# Demo photos: attribution"
  echo
  echo "These $(find "$out" -name '*.jpg' | wc -l) photos are a downscaled copy (short side at most 256 px, JPEG quality 75) of"
  echo "a 600-photo subset of the TensorFlow \"flower_photos\" collection of Flickr photos. The collection is licensed under"
  echo "the Creative Commons Attribution 2.0 licence (CC BY 2.0, https://creativecommons.org/licenses/by/2.0/); each photo's"
  echo "author and own licence are named on its Flickr page, linked below. The Flickr photo id is the first number in each"
  echo "file name. The photos were resized and re-encoded; nothing else was changed."
  echo
  echo "| file | Flickr page |"
  echo "|---|---|"
  (cd "$out" && find . -name '*.jpg' | sed 's|^\./||' | LC_ALL=C sort | while read -r f; do
    id="$(basename "$f" | cut -d_ -f1)"
    echo "| $f | https://www.flickr.com/photo.gne?id=$id |"
  done)
} > "$out/ATTRIBUTION.md"
(cd "$out" && find . -name '*.jpg' | sed 's|^\./||' | LC_ALL=C sort | xargs sha256sum > SHA256SUMS)
du -sh "$out"
