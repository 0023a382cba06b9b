#!/usr/bin/env bash
# Stop the daemons started by tests/slurm/start.sh STATE_DIR (by their pid files).
state=$(realpath -m "${1:?state dir}")
for pidfile in "$state"/slurmd.pid "$state"/slurmctld.pid; do
    [ -s "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null
done
if [ -e "$state/munged.started" ] && [ -s /run/munge/munged.pid ]; then
    kill "$(cat /run/munge/munged.pid)" 2>/dev/null
fi
sleep 1
# Leave /etc/slurm as start.sh found it (see there).
for f in slurm.conf gres.conf; do
    if [ -e "$state/$f.orig" ]; then
        mv -f "$state/$f.orig" "/etc/slurm/$f"
    elif [ -e "$state/$f.absent" ]; then
        rm -f "/etc/slurm/$f" "$state/$f.absent"
    fi
done
exit 0
