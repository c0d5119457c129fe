#!/usr/bin/env bash
# Clients benchmark: seeds CLIENTS clients (default 100000) into a fresh private cluster,
# signs in as an admin, and runs wrk with 32 connections against the first page of
# /clients, a search (q=smi), a filtered page and the dashboard tiles. Prints RSS idle and
# the peak under load.
#
#   CLIENTS=100000 DURATION=10s benches/clients.sh      # needs wrk and curl
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS=${CLIENTS:-100000}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
PORT=${PORT:-18081}
command -v wrk >/dev/null || { echo "wrk is needed: sudo apt-get install wrk" >&2; exit 1; }
cargo build --release --quiet
BIN=$PWD/target/release/switchboard
DATA=$(mktemp -d /tmp/switchboard-bench-XXXXXX)
chmod 755 "$DATA"
export SWITCHBOARD_DATA_DIR=$DATA SWITCHBOARD_ADDR=127.0.0.1:$PORT RUST_LOG=warn SWITCHBOARD_PASSWORD='bench password 1'
unset DATABASE_URL
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$DATA"; }
trap cleanup EXIT

t0=$(date +%s%N)
"$BIN" seed --workspace Bench --clients "$CLIENTS" 2>/dev/null | tail -1
echo "seed of $CLIENTS clients: $(( ($(date +%s%N) - t0) / 1000000 )) ms"
"$BIN" user add --workspace Bench --email admin@bench.example --name Admin --role admin >/dev/null
"$BIN" serve >>"$DATA/app.log" 2>&1 &
PID=$!
until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; do sleep 0.05; done
JAR=$DATA/cookies
token=$(curl -s -c "$JAR" -b "$JAR" "http://127.0.0.1:$PORT/login" | sed -n 's/.*name="csrf-token" content="\([^"]*\)".*/\1/p')
curl -s -o /dev/null -c "$JAR" -b "$JAR" --data-urlencode "csrf_token=$token" --data-urlencode email=admin@bench.example \
  --data-urlencode "password=$SWITCHBOARD_PASSWORD" "http://127.0.0.1:$PORT/login"
cookie=$(awk '$6 == "switchboard" { print "switchboard=" $7 }' "$JAR")

bench() {
  local name=$1 url=$2
  local out; out=$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -H "Cookie: $cookie" "$url")
  printf '%-40s %10s req/s   p50 %8s   p99 %8s\n' "$name" "$(awk '/Requests\/sec/ { print $2 }' <<<"$out")" \
    "$(awk '$1 == "50%" { print $2 }' <<<"$out")" "$(awk '$1 == "99%" { print $2 }' <<<"$out")"
}
echo "app RSS idle: $(( $(awk '/VmRSS/ { print $2 }' "/proc/$PID/status") / 1024 )) MB"
echo "wrk, $CONNECTIONS connections, $DURATION each, $CLIENTS clients, signed in as admin:"
bench "GET /clients (first page)" "http://127.0.0.1:$PORT/clients"
bench "GET /clients?q=smi" "http://127.0.0.1:$PORT/clients?q=smi"
bench "GET /clients?status=hot&sort=created" "http://127.0.0.1:$PORT/clients?status=hot&sort=created"
bench "GET /dashboard/clients (tile)" "http://127.0.0.1:$PORT/dashboard/clients"
bench "GET /dashboard/follow-ups (tile)" "http://127.0.0.1:$PORT/dashboard/follow-ups"
bench "GET /dashboard/communications (tile)" "http://127.0.0.1:$PORT/dashboard/communications"
bench "GET / (dashboard shell)" "http://127.0.0.1:$PORT/"
echo "app RSS peak under load: $(( $(awk '/VmHWM/ { print $2 }' "/proc/$PID/status") / 1024 )) MB"
t0=$(date +%s%N)
bytes=$(curl -s -H "Cookie: $cookie" "http://127.0.0.1:$PORT/clients/export.csv" | wc -c)
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "export of $CLIENTS clients: $ms ms, $(( CLIENTS * 1000 / (ms > 0 ? ms : 1) )) rows/s, $(( bytes / 1048576 )) MB; app RSS peak now $(( $(awk '/VmHWM/ { print $2 }' "/proc/$PID/status") / 1024 )) MB"
