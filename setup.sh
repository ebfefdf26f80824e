#!/usr/bin/env bash
# Headstart setup: idempotent, safe to run again.
#  1. libstdc++ with GLIBCXX_3.4.32 (TorchSharp 0.107's native lib needs it; Debian 12 ships 3.4.30)
#  2. dataset-fashion-mnist (the demo's embedded dataset)
#  3. chromium (tests only: renders report.html headless) when HEADSTART_SETUP_TESTS=1
#     and slurm-wlm + munge (tests only: the cluster integration test's one-node Slurm, scripts/slurm-local.sh)
#  4. dotnet restore + build, then the CLI published ReadyToRun into artifacts/cli (scripts/publish-cli.sh)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
APT_UPDATED=0
apt_update() { if [ "$APT_UPDATED" = 0 ]; then $SUDO apt-get update -qq; APT_UPDATED=1; fi; }

LIBSTDCXX=/lib/x86_64-linux-gnu/libstdc++.so.6
OS_ID="$(. /etc/os-release 2>/dev/null && echo "${ID:-}")"
if [ -e "$LIBSTDCXX" ] && ! grep -aq 'GLIBCXX_3\.4\.32' "$LIBSTDCXX" && [ "$OS_ID" != debian ]; then
  # The trixie recipe is for Debian only: never mix Debian's archive into Ubuntu or another distribution.
  echo "[setup] $LIBSTDCXX lacks GLIBCXX_3.4.32, which TorchSharp 0.107 needs; on $OS_ID install a libstdc++6 from GCC 13+ (Ubuntu 24.04+ has it)" >&2
  exit 1
fi
if [ "$OS_ID" = debian ] && [ -e "$LIBSTDCXX" ]; then
  if ! grep -aq 'GLIBCXX_3\.4\.32' "$LIBSTDCXX"; then
    log "libstdc++ lacks GLIBCXX_3.4.32: installing libstdc++6 from Debian 13 (trixie), pinned at priority 100"
    if [ ! -f /etc/apt/sources.list.d/headstart-trixie.list ]; then
      echo 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main' | $SUDO tee /etc/apt/sources.list.d/headstart-trixie.list >/dev/null
    fi
    if [ ! -f /etc/apt/preferences.d/headstart-trixie ]; then
      printf 'Package: *\nPin: release n=trixie\nPin-Priority: 100\n' | $SUDO tee /etc/apt/preferences.d/headstart-trixie >/dev/null
    fi
    apt_update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t trixie libstdc++6 >/dev/null
    grep -aq 'GLIBCXX_3\.4\.32' "$LIBSTDCXX" && log "libstdc++ now provides GLIBCXX_3.4.32"
  else
    log "libstdc++ already provides GLIBCXX_3.4.32"
  fi
fi

if [ -f /etc/debian_version ] && [ ! -d /usr/share/datasets/fashion-mnist ]; then
  log "installing dataset-fashion-mnist (demo data)"
  apt_update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null
fi

if [ "${HEADSTART_SETUP_TESTS:-0}" = 1 ] && [ -f /etc/debian_version ] && ! command -v chromium >/dev/null; then
  log "installing chromium (headless browser check of report.html, tests only)"
  apt_update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

if [ "${HEADSTART_SETUP_TESTS:-0}" = 1 ] && [ -f /etc/debian_version ] && ! command -v slurmctld >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    log "installing slurm-wlm and munge (the cluster integration test's one-node Slurm, tests only)"
    scripts/slurm-local.sh install
  else
    log "not root: the Slurm integration test will skip (scripts/slurm-local.sh runs its daemons as root)"
  fi
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
log "restoring and building (Release)"
dotnet build Headstart.slnx -c Release -nologo -v q -clp:ErrorsOnly
log "publishing the CLI ReadyToRun-compiled (faster start-up) into artifacts/cli"
scripts/publish-cli.sh
log "done"
