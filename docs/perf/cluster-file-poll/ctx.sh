#!/bin/bash
# usage: ctx.sh BIN: context switches of every store process during 1000 one-client buys
BIN=$1; HERE=$(cd "$(dirname "$0")" && pwd); D=$(mktemp -d); cd $D; $BIN up > up.log 2>&1 & UP=$!
for i in $(seq 100); do curl -sf localhost:8080/products/Tux >/dev/null && break; sleep 0.1; done; sleep 1
pids=$(pgrep -P $UP)
snap() { for p in $pids; do for t in /proc/$p/task/*; do echo "$(tr ' ' _ < $t/comm) $(awk '/voluntary_ctxt_switches/ {s+=$2} END {print s}' $t/status)"; done; done | awk '{a[$1]+=$2} END {for (k in a) print k, a[k]}' | sort; }
snap > a; python3 "$HERE/buy.py" 1000; snap > b
join a b | awk '{d=$3-$2; printf "%-24s %7d (%.1f per buy)\n", $1, d, d/1000; T+=d} END {printf "total %d (%.1f per buy)\n", T, T/1000}'
kill -TERM $UP; wait $UP; cd /; rm -rf $D
