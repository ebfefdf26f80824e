#!/usr/bin/env bash
# The packaging test (run by ./test.sh): what a user gets from a NuGet feed, in a clean temporary folder.
#  1. scripts/pack.sh packs the library and the tool (linux-x64 only) under a unique pre-release version, so no
#     earlier package in the NuGet cache can stand in for it;
#  2. the tool: `dotnet tool install` to a tool path from that feed alone, then doctor, train on a generated set, predict;
#  3. a console app (tests/Packaging/Consumer) that references the Headstart package from the feed alone: it builds
#     (the embedded backbone must land in its output), trains, saves, loads and predicts with Classifier;
#  4. portable bundles: each side loads the other's bundle copied to another folder (the app with its embedded weights
#     deleted), and the app's prediction on the tool's bundle equals the tool's own; a bundle of the older format 2
#     loads in the tool and, in the app without the installation's files, fails saying how to upgrade it.
# Dependencies (TorchSharp, libtorch, ...) come from the NuGet cache that ./setup.sh's restore filled; the feed is the
# only source. HEADSTART_SKIP_PACKAGING=1 skips it (the last line says so).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [ "${HEADSTART_SKIP_PACKAGING:-0}" = 1 ]; then echo "packaging: skipped (HEADSTART_SKIP_PACKAGING=1)"; exit 0; fi
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
WORK="$(mktemp -d /tmp/headstart-packaging.XXXXXX)"
VERSION="$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' "$ROOT/Directory.Build.props")-test.$(date +%s).$$"
PKGS="$(dotnet nuget locals global-packages -l | sed 's/^global-packages: //')"
cleanup() {
  rm -rf "$WORK" "$PKGS/headstart/$VERSION" "$PKGS/headstart.cli/$VERSION" "$PKGS/headstart.cli.linux-x64/$VERSION"
}
trap cleanup EXIT
export HEADSTART_CACHE="$WORK/cache"
step() { printf '\033[1;34m[packaging]\033[0m %s\n' "$*"; }
fail() { echo "packaging: FAILED: $*" >&2; exit 1; }
t0=$SECONDS

step "pack $VERSION into $WORK/feed"
"$ROOT/scripts/pack.sh" --out "$WORK/feed" --rids linux-x64 --version "$VERSION" --artifacts "$WORK/build"
cat > "$WORK/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources><clear /><add key="test-feed" value="$WORK/feed" /></packageSources>
</configuration>
XML
cd "$WORK"

for nupkg in "$WORK/feed/Headstart.$VERSION.nupkg" "$WORK/feed/Headstart.Cli.$VERSION.nupkg"; do
  nuspec="$(unzip -p "$nupkg" '*.nuspec')"
  for want in '<readme>README.md</readme>' '<license type="expression">MIT</license>' '<repository type="git" url="https://' '<projectUrl>https://'; do
    grep -qF "$want" <<<"$nuspec" || fail "$(basename "$nupkg") lacks $want"
  done
  unzip -l "$nupkg" README.md >/dev/null || fail "$(basename "$nupkg") carries no README.md"
done
unzip -l "$WORK/feed/Headstart.$VERSION.nupkg" lib/net10.0/Headstart.xml >/dev/null || fail "the library package has no XML docs"
[ -f "$WORK/feed/Headstart.$VERSION.snupkg" ] || fail "the library package has no symbols package"

step "tool: install from the feed"
t_install=$SECONDS
dotnet tool install Headstart.Cli --version "$VERSION" --tool-path "$WORK/tool" --configfile "$WORK/nuget.config" >/dev/null
t_install=$(( SECONDS - t_install ))
HS="$WORK/tool/headstart"
[ -x "$HS" ] || fail "the tool installed no 'headstart' command"
"$HS" doctor --json > doctor.out 2> doctor.err || fail "headstart doctor failed: $(tail -c 2000 doctor.err)"
tail -1 doctor.out | grep -q '"ok":true' || fail "doctor's JSON is not ok: $(tail -1 doctor.out)"

step "app: build a console app that references the Headstart package"
cp -r "$ROOT/tests/Packaging/Consumer" "$WORK/app"
cp "$ROOT/tests/Headstart.Tests/TestSupport/SyntheticImages.cs" "$WORK/app/"   # the image generator the tests use
sed -i "s/@HEADSTART_VERSION@/$VERSION/" "$WORK/app/Consumer.csproj"
dotnet build "$WORK/app" -c Release -nologo -v q -clp:ErrorsOnly -o "$WORK/app/out" >/dev/null \
  || fail "the consumer app did not build against the package"
for f in DnnImageModels/ResNet18Onnx/ResNet18.onnx DnnImageModels/ResNetPrepOnnx/ResNetPreprocess.onnx; do
  [ -f "$WORK/app/out/$f" ] || fail "the package did not put $f into the consumer's output"
done
APP=(dotnet "$WORK/app/out/Consumer.dll")
"${APP[@]}" gen "$WORK/data"

step "tool: train and predict on the generated set"
"$HS" train "$WORK/data" --out "$WORK/tool-bundle" --epochs 5 --json > train.out 2> train.err || fail "headstart train failed: $(tail -c 2000 train.err)"
IMG="$WORK/data/val/triangle/triangle_000.jpg"
"$HS" predict "$WORK/tool-bundle" "$IMG" --json > predict.out 2> predict.err || fail "headstart predict failed: $(tail -c 2000 predict.err)"
tool_label="$(tail -1 predict.out | grep -o '"label":"[^"]*"' | head -1 | cut -d'"' -f4)"
tool_prob="$(tail -1 predict.out | grep -o '"probability":[-0-9.eE+]*' | head -1 | cut -d: -f2)"
[ "$tool_label" = triangle ] || fail "the tool predicted '$tool_label' for a triangle"

step "app: train, save, load and predict with Classifier"
"${APP[@]}" train "$WORK/data" "$WORK/app-bundle" || fail "the consumer app's training failed"
"${APP[@]}" predict "$WORK/app-bundle" "$WORK/data/val/circle/circle_000.jpg" circle >/dev/null

step "portable bundles: each loads the other's bundle from another folder"
# Inference must read nothing from the installation: the app predicts without the embedded weights next to it.
rm -rf "$WORK/app/out/DnnImageModels"
mkdir -p "$WORK/elsewhere"
cp -r "$WORK/tool-bundle" "$WORK/elsewhere/from-tool"
cp -r "$WORK/app-bundle" "$WORK/elsewhere/from-app"
rm -rf "$WORK/tool-bundle" "$WORK/app-bundle"
app_out="$("${APP[@]}" predict "$WORK/elsewhere/from-tool" "$IMG" triangle)" || fail "the app could not use the tool's copied bundle"
app_prob="$(cut -f2 <<<"$app_out")"
awk -v a="$app_prob" -v b="$tool_prob" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 1e-5) }' \
  || fail "the app's probability $app_prob on the tool's bundle differs from the tool's $tool_prob"
"$HS" predict "$WORK/elsewhere/from-app" "$WORK/data/val/square/square_000.jpg" --json > predict2.out 2> predict2.err \
  || fail "the tool could not use the app's copied bundle: $(tail -c 2000 predict2.err)"
tail -1 predict2.out | grep -q '"label":"square"' || fail "the tool mislabelled a square with the app's bundle: $(tail -1 predict2.out)"

step "an older bundle (format 2, no mean image of its own): loads where Headstart is installed, says what to do elsewhere"
cp -r "$WORK/elsewhere/from-tool" "$WORK/elsewhere/format2"
sed -i -e 's/^  "format_version": [0-9]*,/  "format_version": 2,/' -e '/^  "mean_image_file":/d' -e '/^  "mean_image_sha256":/d' \
  "$WORK/elsewhere/format2/model.json"
rm "$WORK/elsewhere/format2/mean-image.safetensors"
"$HS" predict "$WORK/elsewhere/format2" "$IMG" --json > predict3.out 2> predict3.err \
  || fail "the tool could not load a format-2 bundle: $(tail -c 2000 predict3.err)"
tail -1 predict3.out | grep -q '"label":"triangle"' || fail "the format-2 bundle mislabelled a triangle: $(tail -1 predict3.out)"
if old_out="$("${APP[@]}" predict "$WORK/elsewhere/format2" "$IMG" 2>&1)"; then
  fail "the app loaded a format-2 bundle without the embedded mean image next to it: $old_out"
fi
grep -q "train it again" <<<"$old_out" || fail "a format-2 bundle without the installation's mean image should say how to upgrade it: $old_out"

echo "packaging: passed in $(( SECONDS - t0 )) s (tool package $(awk -v b="$(stat -c %s "$WORK/feed/Headstart.Cli.linux-x64.$VERSION.nupkg")" 'BEGIN { printf "%.1f", b / 1e6 }') MB, installed in $t_install s to $(du -sm "$WORK/tool" | cut -f1) MB)"
