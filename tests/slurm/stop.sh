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
exit 0
