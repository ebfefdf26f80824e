#!/usr/bin/env bash
# The test command: setup (with the test-only browser), then the whole xunit suite.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
HEADSTART_SETUP_TESTS=1 ./setup.sh
dotnet test tests/Headstart.Tests/Headstart.Tests.csproj -c Release --no-build -nologo \
  --logger "console;verbosity=normal" "$@"
