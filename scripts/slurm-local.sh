#!/usr/bin/env bash
# Brings up / tears down a one-node Slurm cluster on this machine (Debian's slurm-wlm + munge, no systemd needed),
# for the integration test that submits job arrays.
# Usage: scripts/slurm-local.sh install
#        scripts/slurm-local.sh start  [STATE_DIR]          # default STATE_DIR=/tmp/headstart-slurm
#        scripts/slurm-local.sh status [STATE_DIR]          # exit 0 if up, 1 if not
#        scripts/slurm-local.sh stop   [--purge] [STATE_DIR]
# Client commands (sbatch, squeue, scancel, ...) must see the generated config: `start` prints, as its last line,
#   export SLURM_CONF=STATE_DIR/slurm.conf
# so a caller can do:  eval "$(scripts/slurm-local.sh start | tail -n1)"
# Runs as root (SlurmUser=root): it is meant for throwaway CI machines and containers.
set -euo pipefail

CMD="${1:-}"; shift || true
PURGE=0
if [ "${1:-}" = "--purge" ]; then PURGE=1; shift; fi
STATE="${1:-/tmp/headstart-slurm}"
CONF="$STATE/slurm.conf"
MUNGE_SOCK="$STATE/munge/munge.socket.2"
export SLURM_CONF="$CONF"

log() { echo "slurm-local: $*" >&2; }

have_all() { command -v slurmctld && command -v slurmd && command -v munged && command -v sbatch; } >/dev/null 2>&1

install() {
  have_all && return 0
  [ "$(id -u)" -eq 0 ] || { log "installing slurm-wlm and munge needs root"; exit 1; }
  export DEBIAN_FRONTEND=noninteractive
  # Wait for a concurrent apt/dpkg (CI images often run one at boot) instead of failing on its lock.
  local apt=(apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends slurm-wlm munge)
  # A stale package index only matters if the install fails; skip the slow update otherwise.
  "${apt[@]}" >/dev/null 2>&1 || { apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null && "${apt[@]}" >/dev/null; }
  have_all || { log "slurm-wlm/munge installed but daemons still not on PATH"; exit 1; }
}

# The daemon named $1 runs, by its pid file. kill -0 is not enough: a stale pid file may name a recycled pid, and here
# dead daemons linger as zombies for seconds (PID 1 of a container is often slow to reap, or never does).
proc_alive() { [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ] && ! grep -q '^[^)]*) Z' "/proc/$1/stat" 2>/dev/null; }
pid_alive() { local pid; pid="$(cat "$STATE/run/$1.pid" 2>/dev/null)" && [ -n "$pid" ] && proc_alive "$pid" "$1"; }

is_up() {
  [ -f "$CONF" ] && pid_alive munged && pid_alive slurmctld \
    && pid_alive slurmd && timeout 10 sinfo -h >/dev/null 2>&1
}

write_conf() {
  local node hw
  node="$(hostname -s 2>/dev/null || echo localhost)"
  # slurmd -C reports what slurmd itself will detect; a config that claims more (or less) drains the node.
  hw="$(slurmd -C 2>/dev/null | head -n1 | sed -e 's/^NodeName=[^ ]* //')"
  [ -n "$hw" ] || hw="CPUs=$(nproc) RealMemory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 ))"
  # Host names are pinned to 127.0.0.1: containers often cannot resolve their own hostname.
  cat > "$CONF" <<EOF
ClusterName=headstart
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCK
SlurmctldPort=${SLURMCTLD_PORT:-6817}
SlurmdPort=${SLURMD_PORT:-6818}
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
# No cgroups: containers rarely delegate cgroup v2 to us, and linuxproc/none need nothing from the kernel.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
# Debian's default MailProg (/usr/bin/mail) is usually absent and slurmctld logs an error about it.
MailProg=/bin/true
SwitchType=switch/none
# Cores, not whole nodes, are the unit: two 1-CPU array tasks run side by side on a 2-core machine.
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
# A node that was down (e.g. after stop/start) comes back by itself instead of waiting for an admin.
ReturnToService=2
SlurmctldTimeout=10
SlurmdTimeout=10
MessageTimeout=10
InactiveLimit=0
MinJobAge=300
KillWait=5
Waittime=0
NodeName=$node NodeAddr=127.0.0.1 $hw State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
}

dump_logs() {
  local f
  # Debian's slurm loads the PMIx plugins unasked and logs errors for the missing library: noise, not the cause.
  for f in "$STATE"/log/*.log; do
    [ -f "$f" ] && { echo "--- tail $f" >&2; grep -v -e pmix -e 'MPI: Cannot' "$f" | tail -n 25 >&2; }
  done
}

# A half-started cluster is torn down so that a failed start leaves no daemons behind; the logs stay.
fail() { log "$*"; dump_logs; stop_pid slurmd; stop_pid slurmctld; stop_pid munged; log "start failed, see $STATE/log"; exit 1; }

start() {
  if is_up; then log "already running ($STATE)"; echo "export SLURM_CONF=$CONF"; return 0; fi
  install
  # munged refuses group/world-writable dirs on its key and socket paths, yet clients need +x to reach the socket.
  mkdir -p "$STATE"/{munge,run,log,ctld,spool}
  chmod 0755 "$STATE" "$STATE/munge"
  [ -s "$STATE/munge/munge.key" ] || { dd if=/dev/urandom of="$STATE/munge/munge.key" bs=1024 count=1 2>/dev/null; }
  chmod 0400 "$STATE/munge/munge.key"
  # Regenerated every start so it follows the machine, ports included; job state lives in ctld/, not here.
  write_conf

  # Our own munged on our own socket: a system munged (at /run/munge) is left untouched and not relied on.
  if ! pid_alive munged; then
    rm -f "$MUNGE_SOCK" "$MUNGE_SOCK.lock"
    munged --force --socket="$MUNGE_SOCK" --key-file="$STATE/munge/munge.key" \
      --pid-file="$STATE/run/munged.pid" --log-file="$STATE/log/munged.log" \
      --seed-file="$STATE/munge/munged.seed" || fail "munged did not start"
  fi
  # Only what is not running is started, so `start` also repairs a cluster where one daemon died.
  pid_alive slurmctld || slurmctld -f "$CONF" || fail "slurmctld did not start"
  pid_alive slurmd || slurmd -f "$CONF" -N "$(sed -n "s/^NodeName=\([^ ]*\).*/\1/p" "$CONF")" || fail "slurmd did not start"

  local deadline=$((SECONDS + ${SLURM_START_TIMEOUT:-60})) state="" d
  while [ $SECONDS -lt $deadline ]; do
    # Daemons fork before they bind ports or read state, so most startup errors only show up as a dead pid.
    for d in munged slurmctld slurmd; do pid_alive "$d" || fail "$d exited during startup"; done
    state="$(timeout 5 sinfo -h -N -o %T 2>/dev/null | head -n1 || true)"
    case "$state" in idle|mixed|allocated) break ;; esac
    sleep 0.5
  done
  case "$state" in idle|mixed|allocated) ;; *) fail "node not idle after ${SLURM_START_TIMEOUT:-60}s (state: '${state:-none}')" ;; esac
  # An idle node can still fail to launch (munge creds, spool dirs), so prove a real step runs.
  timeout 30 srun -N1 -n1 -t 1 true >/dev/null 2>&1 || fail "srun smoke test failed"
  log "up ($STATE)"
  echo "export SLURM_CONF=$CONF"
}

stop_pid() {
  local f="$STATE/run/$1.pid" pid
  pid_alive "$1" || { rm -f "$f"; return 0; }
  pid="$(cat "$f")"
  kill "$pid" 2>/dev/null || true
  # The pid file goes before the process does, so watch the pid itself.
  for _ in $(seq 1 100); do proc_alive "$pid" "$1" || break; sleep 0.1; done
  if proc_alive "$pid" "$1"; then kill -9 "$pid" 2>/dev/null || true; sleep 0.5; fi
  rm -f "$f"
}

stop() {
  # Cancel jobs first: with proctrack/linuxproc, slurmstepd and job processes outlive a killed slurmd.
  if is_up; then
    local jobs
    jobs="$(timeout 10 squeue -h -o %i 2>/dev/null || true)"
    if [ -n "$jobs" ]; then
      timeout 10 scancel $jobs 2>/dev/null || true
      for _ in $(seq 1 60); do [ -z "$(timeout 5 squeue -h 2>/dev/null)" ] && break; sleep 0.25; done
    fi
  fi
  stop_pid slurmd; stop_pid slurmctld; stop_pid munged
  [ "$PURGE" -eq 1 ] && rm -rf "$STATE"
  log "stopped ($STATE)"
}

case "$CMD" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) if is_up; then echo "running ($CONF)"; else echo "not running ($STATE)"; exit 1; fi ;;
  *) sed -n '2,11p' "$0" >&2; exit 2 ;;
esac
