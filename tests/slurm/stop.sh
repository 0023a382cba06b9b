#!/usr/bin/env bash
# Stop the daemons started by tests/slurm/start.sh STATE_DIR (by their pid files).
state=$(realpath -m "${1:?state dir}")
for pidfile in "$state"/slurmd.pid "$state"/slurmctld.pid; do
    [ -s "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null
done
sleep 1
exit 0
