#!/usr/bin/env bash
# down.sh DIR - stop what `up.sh DIR` started, by the PID files its daemons wrote under DIR:
# cancel the jobs, then slurmd, slurmctld, slurmdbd, mariadbd and munged (only if up.sh started
# it). Every wait is bounded (TERM, then KILL). Removes the /etc/slurm links into DIR and puts back
# what they replaced. PURGE=1 also deletes DIR.
set -uo pipefail
ROOT=${1:?usage: down.sh DIR}
ROOT=$(cd "$ROOT" 2>/dev/null && pwd) || exit 0
RUN=$ROOT/run

running() { kill -0 "$1" 2>/dev/null && [ "$(ps -o stat= -p "$1" | cut -c1)" != Z ]; }
stop() { # stop NAME PIDFILE
  local pid
  [ -s "$2" ] || return 0
  pid=$(cat "$2")
  if running "$pid"; then
    kill -TERM "$pid"
    for _ in $(seq 1 60); do
      running "$pid" || break
      sleep 0.25
    done
    running "$pid" && kill -KILL "$pid"
    echo "[down.sh] stopped $1 ($pid)"
  fi
  rm -f "$2"
}

if [ -s "$RUN/slurmctld.pid" ] && running "$(cat "$RUN/slurmctld.pid")"; then
  jobs=$(timeout 10 squeue -h -o %A 2>/dev/null)
  if [ -n "$jobs" ]; then
    # shellcheck disable=SC2086
    timeout 10 scancel $jobs
    for _ in $(seq 1 40); do
      [ -z "$(timeout 10 squeue -h -o %A 2>/dev/null)" ] && break
      sleep 0.25
    done
  fi
fi
stop slurmd "$RUN/slurmd.pid"
stop slurmctld "$RUN/slurmctld.pid"
stop slurmdbd "$RUN/slurmdbd.pid"
stop mariadbd "$ROOT/mysql/run/mysqld.pid"
stop munged "$RUN/munge/munged.pid"

for f in slurm.conf gres.conf slurmdbd.conf; do
  if [ -L "/etc/slurm/$f" ] && [ "$(readlink "/etc/slurm/$f")" = "$ROOT/etc/$f" ]; then
    rm -f "/etc/slurm/$f"
    [ -e "/etc/slurm/$f.before-t2v" ] && mv "/etc/slurm/$f.before-t2v" "/etc/slurm/$f"
  fi
done
if [ "${PURGE:-0}" = 1 ]; then rm -rf "$ROOT"; fi
exit 0
