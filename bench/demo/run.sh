#!/usr/bin/env bash
# The demo's budget (issue 17): `headstart demo` as a newcomer runs it, cold (an empty cache: no engine verdict, no
# features), under /usr/bin/time; prints wall time, CPU time and peak RSS against the budget (5 min, 2 GB on 2 cores).
#   bench/demo/run.sh [RUNS] [-- extra demo options]     default 1 run; HEADSTART_BENCH_NO_BUILD=1 reuses the build;
#   HEADSTART_BENCH_KEEP=DIR keeps the last run's bundle (comparison.html, report.html) in DIR
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUNS="${1:-1}"; shift || true
[ "${1:-}" = "--" ] && shift
if [ -z "${HEADSTART_BENCH_NO_BUILD:-}" ]; then
  dotnet build "$ROOT/Headstart.slnx" -c Release -nologo -v q -clp:ErrorsOnly >&2
  "$ROOT/scripts/publish-cli.sh"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for i in $(seq 1 "$RUNS"); do
  rm -rf "$work/cache" "$work/out"
  HEADSTART_CACHE="$work/cache" /usr/bin/time -f '%e %U %S %M' -o "$work/time" \
    "$ROOT/headstart" demo --out "$work/out" --json "$@" > "$work/stdout" 2> "$work/stderr" || { cat "$work/stderr" >&2; exit 1; }
  read -r wall user sys rss < "$work/time"
  python3 - "$wall" "$user" "$sys" "$rss" "$work/stdout" <<'PY'
import json, sys
wall, user, sys_, rss = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
r = json.loads(open(sys.argv[5]).read().strip().splitlines()[-1])
print(f"demo cold: {wall:.1f} s wall ({wall / 300:.2f} x the 300 s budget), {user + sys_:.1f} core-s, "
      f"peak RSS {rss / 1024:.0f} MB ({rss / 1024 / 2048:.2f} x the 2 GB budget)")
for name, panel in (("photos", r["results"]), ("contrast", r.get("contrast"))):
    if not panel: continue
    for run in panel["runs"]:
        print(f"  {name:8} {run['name']:28} {run['val_accuracy'] * 100:5.1f}%  {run['seconds']:6.1f} s  {run['cpu_seconds']:6.1f} core-s  "
              f"passes {run['backbone_passes']['inference']}+{run['backbone_passes']['training']}  "
              f"all runs {run['all_runs']['count']}: {run['all_runs']['cpu_seconds']:.0f} core-s")
    for p in sorted(panel["curve"], key=lambda p: (p["recipe"], p["per_class"])):
        lo, hi = p["interval"]
        print(f"  {name:8} {p['recipe']:10} {p['per_class']:4} per class: {p['val_accuracy'] * 100:5.1f}% [{lo * 100:.1f}, {hi * 100:.1f}] "
              f"over {len(p['seeds'])} seed(s)")
    for f in panel["findings"]: print(f"  {name:8} {f}")
PY
  if [ -n "${HEADSTART_BENCH_KEEP:-}" ]; then rm -rf "$HEADSTART_BENCH_KEEP"; cp -r "$work/out" "$HEADSTART_BENCH_KEEP"; fi
done
