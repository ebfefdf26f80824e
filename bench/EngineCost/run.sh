#!/usr/bin/env bash
# The engine guard's cost: EngineCost under HEADSTART_ENGINE_GUARD=off and =force, alternated PAIRS times, then the
# median of each figure and the ratio force/off. Usage: bench/EngineCost/run.sh [PAIRS] [ROUNDS]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
pairs=${1:-3}
rounds=${2:-3}
dotnet build "$root/bench/EngineCost" -c Release -nologo -v q -clp:ErrorsOnly >/dev/null
dll="$root/bench/EngineCost/bin/Release/net10.0/EngineCost.dll"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for i in $(seq "$pairs"); do
  for mode in off force; do
    HEADSTART_ENGINE_GUARD=$mode dotnet "$dll" "$rounds" 2>/dev/null | tail -1 >> "$out"
  done
done
python3 - "$out" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {m: [r["results"] for r in runs if r["mode"] == m] for m in ("off", "force")}
print("| figure (ms per batch of 32) | oneDNN (guard off) | native convolutions (workaround) | ratio |")
print("|---|---:|---:|---:|")
for key in by["off"][0]:
    off = statistics.median(r[key] for r in by["off"])
    force = statistics.median(r[key] for r in by["force"])
    print(f"| {key} | {off:.0f} | {force:.0f} | {force / off:.2f} x |")
PY
