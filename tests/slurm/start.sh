#!/usr/bin/env bash
# Start a one-node Slurm cluster on 127.0.0.1 (as root): munged, slurmctld, slurmd.
# Usage: tests/slurm/start.sh STATE_DIR     (stop: tests/slurm/stop.sh STATE_DIR)
# Needs Debian's slurm-wlm and munge. Writes /etc/slurm/slurm.conf and gres.conf (the
# Debian tools read them from there) -- run it on a throwaway machine or container only.
set -euo pipefail
state=$(realpath -m "${1:?state dir}")
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$state"/ctld "$state"/d /etc/slurm /run/munge /var/lib/munge /var/log/munge
host=$(hostname -s)
cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
# Keep any configuration already there; stop.sh puts it back (or removes ours), because a
# slurm.conf naming a controller that is gone makes every `scontrol` wait ~9 s for it, and
# Snakemake's slurm plugin runs `scontrol show config` each time snakemake starts.
for f in slurm.conf gres.conf; do
    if [ -e "/etc/slurm/$f" ] && [ ! -e "$state/$f.orig" ] && [ ! -e "$state/$f.absent" ]; then
        cp -p "/etc/slurm/$f" "$state/$f.orig"
    elif [ ! -e "/etc/slurm/$f" ]; then
        touch "$state/$f.absent"
    fi
done
sed -e "s|@HOST@|$host|g" -e "s|@STATE@|$state|g" -e "s|@CPUS@|$cpus|g" -e "s|@MEM@|$mem|g" \
    -e "s|@CTLD_PORT@|${SLURMCTLD_PORT:-6817}|g" -e "s|@D_PORT@|${SLURMD_PORT:-6818}|g" \
    "$here/slurm.conf.in" > /etc/slurm/slurm.conf
cp "$here/gres.conf" /etc/slurm/gres.conf
if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
chmod 0700 /etc/munge && chmod 0400 /etc/munge/munge.key
if ! pgrep -x munged > /dev/null; then
    /usr/sbin/munged --force 2>/dev/null || sudo -u munge /usr/sbin/munged --force
    touch "$state/munged.started"   # stop.sh stops only a munged this script started
fi
/usr/sbin/slurmctld -c          # -c: start from a clean state
/usr/sbin/slurmd
for _ in $(seq 60); do
    if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
        sinfo; exit 0
    fi
    scontrol update nodename="$host" state=resume > /dev/null 2>&1 || true
    sleep 1
done
echo "slurm did not come up; logs in $state" >&2
tail -n 20 "$state"/slurmctld.log "$state"/slurmd.log >&2 || true
exit 1
