#!/bin/bash
# Samples the memory of the replica that catches up in a `tools growth` run (order-3,
# started on an empty file), every 0.25 s, from /proc/PID/status and smaps_rollup: time,
# pid, VmHWM, then Rss, Pss_File and Anonymous (KiB). catchup-rss.txt is its output with
# the pid and field names taken out (awk '{print $1, $3, $5, $7, $9}').
#
#   docs/perf/integrity-10m/sample-rss.sh ./target/release/tools > rss.txt &
#   ./target/release/tools growth --sizes 10000000 --starts 1 --no-buys
#
# Stop it with kill when the growth run has ended. The heap figures of PERFORMANCE.md
# ("Ten million orders again") came from attaching heaptrack to the same process instead:
# heaptrack -p "$(pgrep -f "^$1 order --id 3 ")".
tools="${1:?the tools binary the growth run uses}"
while true; do
    pid=$(pgrep -f "^$tools order --id 3 " | head -1)
    if [ -n "$pid" ]; then
        rollup=$(awk '/^Rss:|^Pss_File:|^Anonymous:/ {printf "%s %s ", $1, $2}' "/proc/$pid/smaps_rollup" 2>/dev/null)
        hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null)
        echo "$(date +%s.%N | cut -c1-14) $pid HWM=$hwm $rollup"
    fi
    sleep 0.25
done
