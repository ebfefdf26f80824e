#!/usr/bin/env bash
# The test command: setup (with the test-only browser), the whole xunit suite, then the packaging test (the library
# package and the tool from a temporary feed, in a clean folder: tests/Packaging/run.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
HEADSTART_SETUP_TESTS=1 ./setup.sh
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
dotnet test tests/Headstart.Tests/Headstart.Tests.csproj -c Release --no-build -nologo \
  --logger "console;verbosity=normal" "$@" 2>&1 | tee "$log" || status=$?
# One plain closing line: "N passed, N failed, N skipped".
count() { grep -E "^\s+$1:\s+[0-9]+" "$log" | tail -1 | grep -oE "[0-9]+" || echo 0; }
packaging=0
tests/Packaging/run.sh || packaging=$?
[ "$packaging" = 0 ] || echo "packaging: FAILED (exit $packaging)"
echo "tests: $(count Passed) passed, $(count Failed) failed, $(count Skipped) skipped"
[ "$status" = 0 ] || exit "$status"
exit "$packaging"
