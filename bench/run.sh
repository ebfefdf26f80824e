#!/usr/bin/env bash
# The benchmark harness (issue 4): builds Release (and the ReadyToRun CLI users run), then runs Headstart.Bench.
#   bench/run.sh [IMAGEFOLDER] [options]   default ../shared/datasets/flowers-small; --help lists the options
#   bench/run.sh --large                   peak RSS on 20,000 generated images (slow, opt-in)
#   bench/run.sh generate DIR              a small generated ImageFolder (2 classes x 20 images) for a quick check
#   bench/run.sh fashion-mnist DIR         a Fashion-MNIST subset (50 + 50 images per class) as an ImageFolder
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [ -z "${HEADSTART_BENCH_NO_BUILD:-}" ]; then
  dotnet build Headstart.slnx -c Release -nologo -v q -clp:ErrorsOnly >&2
  "$ROOT/scripts/publish-cli.sh"
fi
exec dotnet "$ROOT/bench/Headstart.Bench/bin/Release/net10.0/Headstart.Bench.dll" "$@"
