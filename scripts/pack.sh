#!/usr/bin/env bash
# Packs Headstart for a NuGet feed:
#   Headstart            the library (+ .snupkg symbols); its dependency Microsoft.ML.DnnImageFeaturizer.ResNet18
#                        brings the default backbone, which the package's buildTransitive targets copy next to the app;
#   Headstart.Cli        the tool's pointer package, plus one Headstart.Cli.<rid> package per runtime identifier, each
#                        with only that platform's natives (libtorch, ONNX Runtime, SkiaSharp), ReadyToRun-compiled.
# Usage: scripts/pack.sh [--out DIR] [--rids linux-x64,win-x64,osx-arm64] [--version V]
#   --out      the feed folder (default artifacts/packages)
#   --rids     the tool's platforms (default all three; the packaging test packs linux-x64 only)
#   --version  overrides Directory.Build.props' Version (the packaging test uses a unique pre-release version)
# Builds into a separate tree (--artifacts, default artifacts/pack-build), so the working tree's bin/ and obj/ (what
# ./headstart and the tests run) are never rebuilt with other properties. With the default tree inside the checkout,
# ContinuousIntegrationBuild maps every path to /_/: two checkouts of one commit pack byte-identical assemblies.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/artifacts/packages"
RIDS="linux-x64;win-x64;osx-arm64"
VERSION=""
BUILD=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT="$2"; shift 2 ;;
    --rids) RIDS="$2"; shift 2 ;;
    --version) VERSION="$2"; shift 2 ;;
    --artifacts) BUILD="$2"; shift 2 ;;
    *) echo "usage: scripts/pack.sh [--out DIR] [--rids LIST] [--version V] [--artifacts DIR]" >&2; exit 2 ;;
  esac
done
RIDS="${RIDS//,/;}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
BUILD="${BUILD:-$ROOT/artifacts/pack-build}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
props=(-c Release -nologo -v q -clp:ErrorsOnly -o "$OUT"
  -p:UseArtifactsOutput=true "-p:ArtifactsPath=$BUILD" -p:ContinuousIntegrationBuild=true)
[ -n "$VERSION" ] && props+=("-p:Version=$VERSION")
t0=$SECONDS
dotnet pack "$ROOT/src/Headstart" "${props[@]}"
# The platforms go in through the environment, which Headstart.Cli.csproj reads: a global -p: property would also reach
# the library project, and a ';' list does not survive the command line.
HEADSTART_TOOL_RIDS="$RIDS" dotnet pack "$ROOT/src/Headstart.Cli" "${props[@]}"
echo "[pack] $(( SECONDS - t0 )) s into $OUT:" >&2
for f in "$OUT"/*.nupkg "$OUT"/*.snupkg; do
  [ -e "$f" ] && printf '[pack]   %-48s %8.1f MB\n' "$(basename "$f")" "$(( $(stat -c %s "$f") ))e-6" >&2
done
exit 0
