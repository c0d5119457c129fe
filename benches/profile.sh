#!/usr/bin/env bash
# CPU profile of signed-in pages under load (issue 20, part 1). Seeds SIZE clients (default
# 100000) into a fresh private cluster, serves them from a release build with line tables
# (its own target dir, so the benchmarks' release build is untouched), signs in, and for each
# path runs wrk (32 connections) while `perf record` samples the app. It writes a flame graph
# per path into target/profile/ and prints, per path, the req/s and how the machine's CPU was
# split between the app and PostgreSQL during the run (from /proc, in clock ticks), then the
# statements that took the database's time (pg_stat_statements, loaded into the private
# cluster through SWITCHBOARD_PG_SETTINGS). Figures are under perf, so lower than the
# benchmark's: compare shares, not req/s.
#
#   benches/profile.sh                                   # needs perf, wrk, curl, inferno
#   SIZE=1000000 PATHS="/clients /clients?q=smith" benches/profile.sh
#
# Prerequisites: `sudo apt-get install linux-perf wrk` and `cargo install inferno`
# (inferno-collapse-perf and inferno-flamegraph draw the SVGs).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${SIZE:-100000}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
read -r -a PATHS <<<"${PATHS:-/healthz /clients /clients?q=smith}"
for tool in perf wrk curl inferno-collapse-perf inferno-flamegraph; do
  command -v "$tool" >/dev/null || { echo "$tool is needed (see the comment at the top)" >&2; exit 1; }
done
OUT=$PWD/target/profile
mkdir -p "$OUT"
BUILD=${PROFILE_TARGET_DIR:-$OUT/build}
# Frame pointers: perf's DWARF unwinding reads the nested futures of async handlers poorly
# (the middleware chain appeared many times over in one stack).
RUSTFLAGS="-C force-frame-pointers=yes" CARGO_PROFILE_RELEASE_DEBUG=line-tables-only cargo build --release --quiet --target-dir "$BUILD"
BIN=$BUILD/release/switchboard
ROOT=$(mktemp -d /tmp/switchboard-profile-XXXXXX)
chmod 755 "$ROOT"
export RUST_LOG=warn SWITCHBOARD_PASSWORD='bench password 1'
export SWITCHBOARD_PG_SETTINGS='shared_preload_libraries=pg_stat_statements pg_stat_statements.track=all'
unset DATABASE_URL
APP=
cleanup() { [ -n "$APP" ] && kill "$APP" 2>/dev/null && wait "$APP" 2>/dev/null; rm -rf "$ROOT"; }
trap cleanup EXIT

data=$ROOT/data
mkdir -p "$data"; chmod 755 "$data"
SWITCHBOARD_DATA_DIR=$data "$BIN" seed --workspace Bench --clients "$SIZE" --init-private-cluster 2>/dev/null | tail -1
SWITCHBOARD_DATA_DIR=$data "$BIN" user add --workspace Bench --email admin@bench.example --name Admin --role admin >/dev/null
SWITCHBOARD_WORKERS=0 SWITCHBOARD_DATA_DIR=$data SWITCHBOARD_ADDR=127.0.0.1:18090 "$BIN" serve >>"$data/app.log" 2>&1 &
APP=$!
BASE=http://127.0.0.1:18090
until curl -sf "$BASE/readyz" >/dev/null; do sleep 0.05; done
jar=$data/cookies
token=$(curl -s -c "$jar" -b "$jar" "$BASE/login" | sed -n 's/.*name="csrf-token" content="\([^"]*\)".*/\1/p')
curl -s -o /dev/null -c "$jar" -b "$jar" --data-urlencode "csrf_token=$token" --data-urlencode email=admin@bench.example \
  --data-urlencode "password=$SWITCHBOARD_PASSWORD" "$BASE/login"
COOKIE=$(awk '$6 ~ /switchboard$/ { print $6 "=" $7 }' "$jar" | tail -1)
curl -sf -o /dev/null -H "Cookie: $COOKIE" "$BASE/clients"
sql() { psql -X -q -h "$data/run" -U switchboard -d switchboard -v ON_ERROR_STOP=1 "$@"; }
sql -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements' >/dev/null

# CPU ticks (user + system) of the app, and of every postgres process, so far.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
pg_ticks() { local t=0 p; for p in $(pgrep -x postgres); do t=$(( t + $(ticks "$p") )); done; echo "$t"; }

printf '%-28s %10s %12s %12s  %s\n' "path (wrk -c$CONNECTIONS, ${DURATION}s)" "req/s" "app CPU" "postgres CPU" "flame graph"
for path in "${PATHS[@]}"; do
  name=$(echo "$path" | tr -c 'a-zA-Z0-9\n' '_' | sed 's/^_//')
  sql -c 'SELECT pg_stat_statements_reset()' >/dev/null
  a0=$(ticks "$APP"); p0=$(pg_ticks)
  perf record -q -F 999 --call-graph fp -p "$APP" -o "$ROOT/perf.data" -- sleep "$DURATION" 2>/dev/null &
  rec=$!
  r=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -H "Cookie: $COOKIE" "$BASE$path" | awk '/Requests\/sec/ { print $2 }')
  wait "$rec" || true
  a=$(( $(ticks "$APP") - a0 )); p=$(( $(pg_ticks) - p0 ))
  perf script -i "$ROOT/perf.data" 2>/dev/null | inferno-collapse-perf > "$OUT/$name.folded"
  inferno-flamegraph --title "$path, $SIZE clients" < "$OUT/$name.folded" > "$OUT/$name.svg"
  printf '%-28s %10.0f %11d%% %11d%%  %s\n' "$path" "$r" $(( a * 100 / (a + p) )) $(( p * 100 / (a + p) )) "target/profile/$name.svg"
  sql -A -F ' | ' -t -c "SELECT round(100 * total_exec_time / sum(total_exec_time) OVER ())::int || '%', calls, round(mean_exec_time::numeric, 3) || ' ms', rows / greatest(calls, 1) || ' rows', left(regexp_replace(query, '\s+', ' ', 'g'), 110) FROM pg_stat_statements WHERE calls > 0 ORDER BY total_exec_time DESC LIMIT 5" > "$OUT/$name.sql.txt"
done
echo "database time by statement (share, calls, mean, rows per call, statement):"
for path in "${PATHS[@]}"; do
  name=$(echo "$path" | tr -c 'a-zA-Z0-9\n' '_' | sed 's/^_//')
  echo "== $path"; sed 's/^/  /' "$OUT/$name.sql.txt"
done

# What the flame graphs show, in words: per path, the share of the app's samples under a few
# frames of interest (inclusive), and its ten hottest leaf functions.
for path in "${PATHS[@]}"; do
  name=$(echo "$path" | tr -c 'a-zA-Z0-9\n' '_' | sed 's/^_//')
  f=$OUT/$name.folded
  echo "== $path"
  for frame in phonenumber askama render diesel pq_sys PQexec actix_http actix_session argon2 malloc memcpy; do
    awk -v f="$frame" '{ n = $NF; t += n; if (index($0, f)) s += n } END { if (t) printf "  under %-14s %5.1f%%\n", f, 100 * s / t }' "$f"
  done
  awk '{ n = $NF; t += n; k = $0; sub(/ [0-9]+$/, "", k); m = split(k, a, ";"); self[a[m]] += n }
       END { for (x in self) printf "%6.1f%%  %s\n", 100 * self[x] / t, x }' "$f" | sort -rn | sed -n '1,10s/^/  self /p' | cut -c1-150
done
