#!/usr/bin/env bash
# up.sh DIR - bring up a real one-node SLURM cluster (SLURM 22.05 from Debian) on loopback, as root,
# for tests/test_slurm.py. Does not install packages (tests/slurm/install.sh does).
#
# Everything lives under DIR (configs, state, logs, PID files, the MariaDB datadir, fake GPU
# devices); outside it only /etc/slurm/{slurm,gres,slurmdbd}.conf become symlinks into DIR (the
# jobstep plugin strips SLURM_CONF from the job environment, so the config has to be at the
# compiled-in path; an existing regular file is moved aside and put back by down.sh), and munged's
# socket in /run/munge. Every wait is bounded. DIR/cluster.env tells the caller what came up.
#
#   WITH_DBD=auto|1|0  slurmdbd + MariaDB so that `sacct` works (the plugin's default status
#                      command) and accounts are real; auto: when slurmdbd and mariadbd are installed.
#                      0: accounting_storage/none, the caller must use `slurm-status-command: squeue`.
#   FAKE_GPUS=2        advertise N gres/gpu backed by character devices made with mknod
#                      (/dev/null and /dev/zero where mknod is not allowed).
set -euo pipefail

ROOT=${1:?usage: up.sh DIR}
WITH_DBD=${WITH_DBD:-auto}
FAKE_GPUS=${FAKE_GPUS:-2}
CLUSTER=t2v
ACCOUNT=t2v
PARTITION=t2v
DB_PORT=${DB_PORT:-3307}
MIN_JOB_AGE=300 # seconds a finished job stays visible to squeue: >= 3 x the plugin's first status delay

if [ "$WITH_DBD" = auto ]; then
  if command -v slurmdbd >/dev/null && command -v mariadbd >/dev/null; then WITH_DBD=1; else WITH_DBD=0; fi
fi
[ "$(id -u)" = 0 ] || { echo "up.sh: must run as root" >&2; exit 2; }
mkdir -p "$ROOT"
ROOT=$(cd "$ROOT" && pwd)
chmod 755 "$ROOT" # mysql and munge users must traverse it
ETC=$ROOT/etc RUN=$ROOT/run LOG=$ROOT/log STATE=$ROOT/state DB=$ROOT/mysql
mkdir -p "$ETC" "$RUN" "$LOG" "$STATE/ctld" "$STATE/d" "$ROOT/dev"
HOST=$(hostname -s)
CPUS=$(nproc)
MEM_MB=$(($(awk '/MemTotal/{print $2}' /proc/meminfo) / 1024 * 80 / 100))

log() { echo "[up.sh $(date +%T)] $*"; }
die() {
  log "ERROR: $*"
  tail -n 5 "$LOG"/*.log 2>/dev/null || true
  exit 1
}
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
wait_for() { # wait_for SECONDS WHAT COMMAND...
  local seconds=$1 what=$2
  shift 2
  for _ in $(seq 1 $((seconds * 4))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.25
  done
  die "timed out after ${seconds}s waiting for $what"
}

# A slurmctld that is not ours would answer our clients: refuse rather than mix clusters.
if pgrep -x slurmctld >/dev/null && ! alive "$RUN/slurmctld.pid"; then
  die "another slurmctld is running on this machine (pid $(pgrep -x slurmctld | tr '\n' ' ')); stop it first"
fi

# ---------------------------------------------------------------- configs
gres_node="" gres_lines=""
for i in $(seq 0 $((FAKE_GPUS - 1))); do
  dev=$ROOT/dev/nvidia$i
  [ -c "$dev" ] || mknod "$dev" c 195 "$i" 2>/dev/null || true
  if [ ! -c "$dev" ]; then # no mknod (a container without CAP_MKNOD): existing character devices
    fallback=(/dev/null /dev/zero)
    [ "$i" -lt 2 ] || die "mknod failed and FAKE_GPUS > 2"
    dev=${fallback[$i]}
  fi
  gres_lines+="NodeName=$HOST Name=gpu File=$dev"$'\n'
done
[ "$FAKE_GPUS" -gt 0 ] && gres_node=" Gres=gpu:$FAKE_GPUS"

if [ "$WITH_DBD" = 1 ]; then
  accounting="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=6819
AccountingStorageEnforce=associations
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30"
else
  accounting="AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none"
fi

changed=0
put() { # put FILE: write stdin to FILE, changed=1 when its content differs
  local tmp
  tmp=$(mktemp)
  cat >"$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else
    mv "$tmp" "$1"
    changed=1
  fi
  chmod 644 "$1"
}
put "$ETC/slurm.conf" <<CONF
ClusterName=$CLUSTER
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=500
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
EnforcePartLimits=ALL
$accounting
MinJobAge=$MIN_JOB_AGE
InactiveLimit=0
KillWait=5
Waittime=0
SlurmctldTimeout=120
SlurmdTimeout=300
GresTypes=gpu
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN$gres_node
PartitionName=$PARTITION Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
put "$ETC/gres.conf" < <(printf 'AutoDetect=off\n%s' "$gres_lines")
if [ "$WITH_DBD" = 1 ]; then
  cat >"$ETC/slurmdbd.conf" <<CONF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=t2v-test-only
StorageLoc=slurm_acct_db
LogFile=$LOG/slurmdbd.log
PidFile=$RUN/slurmdbd.pid
DebugLevel=info
CONF
  chmod 600 "$ETC/slurmdbd.conf"
fi

mkdir -p /etc/slurm
for f in slurm.conf gres.conf slurmdbd.conf; do
  [ -e "$ETC/$f" ] || continue
  if [ -e "/etc/slurm/$f" ] && [ ! -L "/etc/slurm/$f" ]; then mv "/etc/slurm/$f" "/etc/slurm/$f.before-t2v"; fi
  ln -sfn "$ETC/$f" "/etc/slurm/$f"
done

# ---------------------------------------------------------------- munge
if timeout 10 bash -c 'munge -n | unmunge' >/dev/null 2>&1; then
  log "munge already running (not ours, left alone)"
else
  if [ ! -s /etc/munge/munge.key ]; then
    mungekey -c -f -k /etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key
    chmod 600 /etc/munge/munge.key
  fi
  install -d -o munge -g munge -m 755 /run/munge "$RUN/munge"
  runuser -u munge -- /usr/sbin/munged --pid-file="$RUN/munge/munged.pid" --log-file="$RUN/munge/munged.log"
  wait_for 20 munged timeout 10 bash -c 'munge -n | unmunge'
  log "munged started (pid $(cat "$RUN/munge/munged.pid"))"
fi

# ---------------------------------------------------------------- MariaDB + slurmdbd
if [ "$WITH_DBD" = 1 ]; then
  SOCK=$DB/run/mysqld.sock
  install -d -o mysql -g mysql "$DB" "$DB/run"
  if [ ! -d "$DB/data/mysql" ]; then
    install -d -o mysql -g mysql "$DB/data"
    timeout 120 mariadb-install-db --no-defaults --user=mysql --datadir="$DB/data" \
      --auth-root-authentication-method=socket --skip-test-db >"$LOG/mariadb-install.log" 2>&1 ||
      die "mariadb-install-db failed (see $LOG/mariadb-install.log)"
  fi
  if ! alive "$DB/run/mysqld.pid"; then
    /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$DB/data" --socket="$SOCK" \
      --pid-file="$DB/run/mysqld.pid" --bind-address=127.0.0.1 --port="$DB_PORT" --skip-name-resolve \
      --innodb-buffer-pool-size=32M --log-error="$LOG/mariadb.log" </dev/null >/dev/null 2>&1 &
    wait_for 60 mariadbd timeout 10 mariadb --socket="$SOCK" -e 'select 1'
    log "mariadbd started (pid $(cat "$DB/run/mysqld.pid"))"
  fi
  timeout 30 mariadb --socket="$SOCK" -e "
    CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 't2v-test-only';
    CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 't2v-test-only';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
  if ! alive "$RUN/slurmdbd.pid"; then
    slurmdbd
    wait_for 60 slurmdbd timeout 10 sacctmgr -n show cluster
    log "slurmdbd started (pid $(cat "$RUN/slurmdbd.pid"))"
  fi
  timeout 10 sacctmgr -n -P show cluster format=cluster | grep -qx "$CLUSTER" || timeout 30 sacctmgr -i add cluster "$CLUSTER" >/dev/null
  timeout 10 sacctmgr -n -P show account format=account | grep -qx "$ACCOUNT" ||
    timeout 30 sacctmgr -i add account "$ACCOUNT" Cluster="$CLUSTER" Description=t2v Organization=t2v >/dev/null
  timeout 10 sacctmgr -n -P show assoc where user=root account="$ACCOUNT" cluster="$CLUSTER" format=user | grep -q . ||
    timeout 30 sacctmgr -i add user root Account="$ACCOUNT" DefaultAccount="$ACCOUNT" Cluster="$CLUSTER" >/dev/null
fi

# ---------------------------------------------------------------- slurmctld + slurmd
if ! alive "$RUN/slurmctld.pid"; then
  slurmctld
  log "slurmctld started"
elif [ "$changed" = 1 ]; then
  timeout 30 scontrol reconfigure || die "scontrol reconfigure failed"
  log "slurmctld reconfigured"
fi
wait_for 30 slurmctld timeout 10 scontrol ping
if ! alive "$RUN/slurmd.pid"; then
  slurmd
  log "slurmd started"
fi
node_ready() {
  local state
  state=$(timeout 10 sinfo -h -n "$HOST" -o %T 2>/dev/null || true)
  case "$state" in
  idle | mixed | allocated | completing) return 0 ;;
  *drain* | *inval* | down* | *fail*)
    timeout 10 scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true
    return 1
    ;;
  *) return 1 ;;
  esac
}
wait_for 60 "node $HOST to become idle" node_ready
[ "$WITH_DBD" = 1 ] && acct_arg="-A $ACCOUNT" || acct_arg=""
# shellcheck disable=SC2086
timeout 60 srun $acct_arg -t 1 true || die "srun smoke test failed"

cat >"$ROOT/cluster.env" <<ENV
WITH_DBD=$WITH_DBD
ACCOUNT=$ACCOUNT
PARTITION=$PARTITION
CPUS=$CPUS
MEM_MB=$MEM_MB
GPUS=$FAKE_GPUS
MIN_JOB_AGE=$MIN_JOB_AGE
ENV
sinfo -o '%P %a %l %D %T %N %c %m %G'
log "cluster '$CLUSTER' up in $ROOT (WITH_DBD=$WITH_DBD FAKE_GPUS=$FAKE_GPUS)"
