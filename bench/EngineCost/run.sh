#!/usr/bin/env bash
# The engine guard's cost: EngineCost under HEADSTART_ENGINE_GUARD=off (libtorch as it is), =force (convolutions on
# libtorch's own kernels: the first process's workaround) and auto with a warm verdict cache (on a defective engine,
# oneDNN capped at SSE4.1: every later process's workaround), alternated PAIRS times; then the median of each figure
# and the ratios to "off". Usage: bench/EngineCost/run.sh [PAIRS] [ROUNDS]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
pairs=${1:-3}
rounds=${2:-3}
dotnet build "$root/bench/EngineCost" -c Release -nologo -v q -clp:ErrorsOnly >/dev/null
dll="$root/bench/EngineCost/bin/Release/net10.0/EngineCost.dll"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HEADSTART_CACHE="$work/cache"
# Two short runs fill the verdict cache: the first checks the engine, the second proves the ISA cap (if defective).
dotnet "$dll" 0 >/dev/null 2>&1 || true
dotnet "$dll" 0 >/dev/null 2>&1 || true
for i in $(seq "$pairs"); do
  for mode in off force auto; do
    HEADSTART_ENGINE_GUARD=$mode dotnet "$dll" "$rounds" 2>/dev/null | tail -1 >> "$work/runs.jsonl"
  done
done
python3 - "$work/runs.jsonl" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {m: [r for r in runs if r["mode"] == m] for m in ("off", "force", "auto")}
auto_workaround = by["auto"][0]["workaround"] or "none"
print(f"| figure (ms per batch of 32) | oneDNN as it is (guard off) | native convolutions (force) | auto: {auto_workaround} |")
print("|---|---:|---:|---:|")
for key in by["off"][0]["results"]:
    med = {m: statistics.median(r["results"][key] for r in by[m]) for m in by}
    print(f"| {key} | {med['off']:.0f} | {med['force']:.0f} ({med['force'] / med['off']:.2f} x) | {med['auto']:.0f} ({med['auto'] / med['off']:.2f} x) |")
PY
