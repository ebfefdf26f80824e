#!/usr/bin/env bash
# Publishes the headstart CLI ReadyToRun-compiled (machine code ahead of time: about 0.1 s less start-up and JIT on
# every command; the same code as the Release build) into artifacts/cli, which ./headstart and the benchmarks prefer
# while it is at least as new as the build output. Run by setup.sh and bench/run.sh after building; a failure here
# only costs that speed-up.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
case "$(uname -m)" in
  x86_64) RID=linux-x64 ;;
  aarch64) RID=linux-arm64 ;;
  *) echo "[publish] no ReadyToRun build for $(uname -m); ./headstart runs the plain Release build" >&2; exit 0 ;;
esac
if ! dotnet publish "$ROOT/src/Headstart.Cli" -c Release -r "$RID" --self-contained false -p:PublishReadyToRun=true \
    -nologo -v q -clp:ErrorsOnly -o "$ROOT/artifacts/cli" >&2; then
  rm -rf "$ROOT/artifacts/cli"
  echo "[publish] ReadyToRun publish failed; ./headstart runs the plain Release build" >&2
fi
