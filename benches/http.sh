#!/usr/bin/env bash
# HTTP benchmark of the foundation: start-up time with the private PostgreSQL cluster
# (first start with initdb, then a restart), and requests/s with p50/p99 latency under
# 32 connections for the signed-in dashboard and for /login.
#
#   benches/http.sh            # needs wrk and curl: sudo apt-get install wrk curl
#   DURATION=30s benches/http.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
PORT=${PORT:-18080}
command -v wrk >/dev/null || { echo "wrk is needed: sudo apt-get install wrk" >&2; exit 1; }

cargo build --release --quiet
BIN=$PWD/target/release/switchboard
DATA=$(mktemp -d /tmp/switchboard-bench-XXXXXX)
chmod 755 "$DATA"
export SWITCHBOARD_DATA_DIR=$DATA SWITCHBOARD_ADDR=127.0.0.1:$PORT RUST_LOG=warn
unset DATABASE_URL
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$DATA"; }
trap cleanup EXIT

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
start_app() {
  local t0; t0=$(now_ms)
  "$BIN" serve >>"$DATA/app.log" 2>&1 &
  PID=$!
  until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; do sleep 0.01; done
  STARTUP_MS=$(( $(now_ms) - t0 ))
}
stop_app() { kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; PID=; }

start_app; first=$STARTUP_MS; stop_app
start_app; second=$STARTUP_MS
echo "start-up to /readyz: first run (initdb) ${first} ms, restart ${second} ms"

SWITCHBOARD_PASSWORD='bench password 1' "$BIN" user add --workspace Bench --email bench@example.com --name Bench --role admin >/dev/null
JAR=$DATA/cookies
token=$(curl -s -c "$JAR" -b "$JAR" "http://127.0.0.1:$PORT/login" | sed -n 's/.*name="csrf-token" content="\([^"]*\)".*/\1/p')
curl -s -o /dev/null -c "$JAR" -b "$JAR" --data-urlencode "csrf_token=$token" --data-urlencode email=bench@example.com \
  --data-urlencode 'password=bench password 1' "http://127.0.0.1:$PORT/login"
cookie=$(awk '$6 == "switchboard" { print "switchboard=" $7 }' "$JAR")
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $cookie" "http://127.0.0.1:$PORT/")" = 200 ] || { echo "sign-in failed" >&2; exit 1; }

bench() {
  local name=$1; shift
  local out; out=$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "$@")
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ { print $2 }' <<<"$out")
  p50=$(awk '$1 == "50%" { print $2 }' <<<"$out")
  p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
  printf '%-34s %10s req/s   p50 %8s   p99 %8s\n' "$name" "$rps" "$p50" "$p99"
}
echo "wrk, $CONNECTIONS connections, $DURATION each:"
bench "GET / (signed in, dashboard)" -H "Cookie: $cookie" "http://127.0.0.1:$PORT/"
bench "GET /login (new visitor each time)" "http://127.0.0.1:$PORT/login"
bench "GET /healthz" "http://127.0.0.1:$PORT/healthz"
rss=$(awk '/VmRSS/ { print $2 }' "/proc/$PID/status")
echo "app RSS after the runs: $(( rss / 1024 )) MB"
