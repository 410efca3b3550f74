#!/bin/bash
# usage: refused-buys.sh TOOLS_BINARY LABEL : refused buys through the store, with CPU per service
set -u
# Starts the store with TOOLS_BINARY up on the default ports (stop anything on 8080-8093
# first), sells out Tux, then POSTs /orders for Tux with fresh keys from 4 connections for
# 8 s (nearly all refused with 409) and prints the rate, each service's CPU, the front-end's
# cache suspensions and the catalog's commits by kind.
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=$(realpath "$1"); LABEL=$2
D=$(mktemp -d); cd $D
$BIN up --data-dir $D/data > $D/up.log 2>&1 &
UP=$!
for i in $(seq 1 120); do curl -sf localhost:8080/products/Tux >/dev/null && break; sleep 0.5; done
for i in $(seq 1 60); do code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'content-type: application/json' -d '{"name":"Whale","quantity":1}' localhost:8080/orders); [ "$code" = 200 ] && break; sleep 0.5; done
curl -s -X POST -H 'content-type: application/json' -d '{"name":"Tux","quantity":100}' localhost:8080/orders >/dev/null
ps -eo pid,args | grep -E "tools.* (catalog|order|frontend) " | grep -v grep | awk '{print $1, $3}' > $D/pids
c0=$(curl -s localhost:8090/metrics | grep "^toystore_log_commits_total" | tr "\n" " ")
before=$(for p in $(awk '{print $1}' $D/pids); do awk '{print $14+$15}' /proc/$p/stat; done)
wrk -t2 -c4 -d8s -s "$HERE/refused-buys.lua" http://127.0.0.1:8080 > $D/wrk.txt 2>&1
c1=$(curl -s localhost:8090/metrics | grep "^toystore_log_commits_total" | tr "\n" " ")
after=$(for p in $(awk '{print $1}' $D/pids); do awk '{print $14+$15}' /proc/$p/stat; done)
echo "== $LABEL"; grep -E "Requests/sec|Latency" $D/wrk.txt
paste <(awk '{print $2}' $D/pids) <(echo "$before") <(echo "$after") | awk '{printf "%s cpu %.2fs\n", $1, ($3-$2)/100}'
curl -s localhost:8080/metrics | grep -E "^toystore_cache_suspensions"; echo "commits before: $c0"; echo "commits after: $c1"
kill -INT $UP; wait $UP 2>/dev/null
rm -rf $D
