#!/usr/bin/env bash
# install.sh - install Debian's SLURM packages for tests/test_slurm.py: slurmctld, slurmd,
# slurm-client and munge, plus slurmdbd and mariadb-server for `sacct`. Root and apt-get only;
# otherwise it says so and exits 0 (the test then skips and says why). Quiet and bounded; the
# packages' services are not started (policy-rc.d), tests/slurm/up.sh starts what the test needs.
set -uo pipefail
PKGS="slurmctld slurmd slurm-client munge slurmdbd mariadb-server"
say() { echo "[slurm install] $*"; }
[ "$(id -u)" = 0 ] || { say "not root: skipped"; exit 0; }
command -v apt-get >/dev/null || { say "no apt-get: skipped"; exit 0; }
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -n "$missing" ] || { say "already installed"; exit 0; }
log=$(mktemp)
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && own_policy=1
fi
export DEBIAN_FRONTEND=noninteractive
if timeout -k 10 300 apt-get update -qq >"$log" 2>&1 &&
  timeout -k 10 900 apt-get install -y -qq --no-install-recommends $missing >>"$log" 2>&1; then
  say "installed:$missing"
else
  say "apt-get failed, SLURM tests will skip; last lines:"
  tail -n 5 "$log"
fi
[ "$own_policy" = 1 ] && rm -f "$policy"
rm -f "$log"
exit 0
