#!/usr/bin/env bash
# Memory of sign-in (issue 18, item 13): the app's resident memory (VmRSS) after start-up,
# right after 100 sign-ins made 10 at a time, and after 5 s idle, with its peak (VmHWM).
# argon2id takes 19 MiB per hash; the figure that matters is what stays afterwards.
#
#   benches/signin_memory.sh                  # release build (cargo build --release)
#   PROFILE=debug benches/signin_memory.sh    # debug build (argon2 is optimised in both)
#   SIGNINS=200 PARALLEL=20 benches/signin_memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-release}
SIGNINS=${SIGNINS:-100}
PARALLEL=${PARALLEL:-10}
PORT=${PORT:-18090}
TARGET=${CARGO_TARGET_DIR:-target}
if [ "$PROFILE" = release ]; then cargo build --release --quiet --bin switchboard; else cargo build --quiet --bin switchboard; fi
BIN=$TARGET/$PROFILE/switchboard
DATA=$(mktemp -d /tmp/switchboard-mem-XXXXXX)
chmod 755 "$DATA"
export SWITCHBOARD_DATA_DIR=$DATA SWITCHBOARD_ADDR=127.0.0.1:$PORT RUST_LOG=warn
unset DATABASE_URL
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; [ -n "${KEEP_LOG:-}" ] && cp "$DATA/app.log" "$KEEP_LOG"; rm -rf "$DATA"; }
trap cleanup EXIT

"$BIN" serve >>"$DATA/app.log" 2>&1 &
PID=$!
until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; do sleep 0.05; done
SWITCHBOARD_PASSWORD='bench password 1' "$BIN" user add --workspace Bench --email bench@example.com --name Bench --role admin >/dev/null

mb() { awk -v k="$1:" '$1 == k { printf "%d", $2 / 1024 }' "/proc/$PID/status"; }
# One sign-in with a cookie jar of its own: the form's CSRF token, then the POST (303).
sign_in() {
  local jar; jar=$(mktemp "$DATA/jar-XXXXXX")
  local token; token=$(curl -s -c "$jar" -b "$jar" "http://127.0.0.1:$PORT/login" | sed -n 's/.*name="csrf-token" content="\([^"]*\)".*/\1/p')
  curl -s -o /dev/null -w '%{http_code}\n' -c "$jar" -b "$jar" --data-urlencode "csrf_token=$token" \
    --data-urlencode email=bench@example.com --data-urlencode 'password=bench password 1' "http://127.0.0.1:$PORT/login"
}
export -f sign_in
export PORT DATA
sleep 1
before=$(mb VmRSS)
t0=$(date +%s%N)
codes=$(seq "$SIGNINS" | xargs -P"$PARALLEL" -I{} bash -c sign_in | sort | uniq -c | tr -s ' ' | tr '\n' ';')
secs=$(( ($(date +%s%N) - t0) / 1000000 ))
after=$(mb VmRSS)
sleep 5
idle=$(mb VmRSS)
echo "$PROFILE build, $SIGNINS sign-ins $PARALLEL at a time in ${secs} ms (HTTP codes:${codes})"
echo "VmRSS: ${before} MB at start, ${after} MB right after, ${idle} MB after 5 s idle; peak (VmHWM) $(mb VmHWM) MB"
