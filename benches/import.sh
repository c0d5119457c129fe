#!/usr/bin/env bash
# Import benchmark: generates a ROWS-row client CSV (default 100000; name, email, phone,
# company, status, tags), starts the release binary on a fresh private cluster, uploads the
# file, maps it, starts the import and polls /imports/{id}/progress until it is done. Prints
# the upload and run times, rows/s end to end (upload to report), the app's peak RSS, and a
# raw `COPY` of the same file into an empty text table in the same cluster for comparison.
#
# The app's RSS (VmRSS) is printed before the upload and after the report, with its peak (VmHWM),
# and the CPU time the app and its database used from upload to report (a figure other work
# on a shared machine moves much less than the wall time).
# BIG_CELLS=N adds N rows whose company cell is 5 MB (rejected: no field takes that much)
# and imports the valid rows only, to show memory stays bounded.
#
#   ROWS=100000 benches/import.sh      # needs curl and psql (postgresql-client)
#   ROWS=1000000 benches/import.sh
#   BIG_CELLS=40 benches/import.sh
#   BIN=/tmp/switchboard-main benches/import.sh   # another build, e.g. to compare with main
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-100000}
BIG_CELLS=${BIG_CELLS:-0}
MODE=all_or_nothing
[ "$BIG_CELLS" -gt 0 ] && MODE=skip_invalid
PORT=${PORT:-18082}
command -v psql >/dev/null || { echo "psql is needed: sudo apt-get install postgresql-client" >&2; exit 1; }
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/switchboard
fi
DATA=$(mktemp -d /tmp/switchboard-bench-XXXXXX)
chmod 755 "$DATA"
export SWITCHBOARD_DATA_DIR=$DATA SWITCHBOARD_ADDR=127.0.0.1:$PORT RUST_LOG=${RUST_LOG:-warn} SWITCHBOARD_PASSWORD='bench password 1'
export SWITCHBOARD_IMPORT_MAX_MB=2048
unset DATABASE_URL
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; [ -n "${KEEP_LOG:-}" ] && cp "$DATA/app.log" "$KEEP_LOG"; rm -rf "$DATA"; }
trap cleanup EXIT

FILE=$DATA/clients.csv
t0=$(date +%s%N)
# Unique emails and valid, unique US phone numbers (area codes 212/312/415/617, exchanges 200-999).
awk -v n="$ROWS" 'BEGIN {
  split("212 312 415 617", area, " "); split("hot warm inactive", st, " ");
  print "Name,Email,Phone,Company,Status,Tags";
  for (i = 0; i < n; i++) {
    a = area[int(i / 8000000) % 4 + 1]; ex = 200 + int(i / 10000) % 800; line = i % 10000;
    printf "Client %d Example,client%d@example.com,+1 %s %03d %04d,Company %d,%s,\"bench, batch%d\"\n", i, i, a, ex, line, i % 5000, st[i % 3 + 1], i % 10;
  }
}' >"$FILE"
if [ "$BIG_CELLS" -gt 0 ]; then
  BIG=$(head -c $((5 * 1048576)) /dev/zero | tr '\0' x)
  for i in $(seq 1 "$BIG_CELLS"); do printf 'Big %d,big%d@example.com,,%s,warm,\n' "$i" "$i" "$BIG" >>"$FILE"; done
  ROWS=$((ROWS + BIG_CELLS))
  unset BIG
fi
echo "generated $ROWS rows ($(( $(stat -c %s "$FILE") / 1048576 )) MB) in $(( ($(date +%s%N) - t0) / 1000000 )) ms"

"$BIN" user add --init-private-cluster --workspace Bench --email admin@bench.example --name Admin --role admin >/dev/null 2>&1
"$BIN" serve >>"$DATA/app.log" 2>&1 &
PID=$!
until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; do sleep 0.05; done
JAR=$DATA/cookies
BASE=http://127.0.0.1:$PORT
token=$(curl -s -c "$JAR" -b "$JAR" "$BASE/login" | sed -n 's/.*name="csrf-token" content="\([^"]*\)".*/\1/p')
curl -s -o /dev/null -c "$JAR" -b "$JAR" --data-urlencode "csrf_token=$token" --data-urlencode email=admin@bench.example \
  --data-urlencode "password=$SWITCHBOARD_PASSWORD" "$BASE/login"
token=$(curl -s -c "$JAR" -b "$JAR" "$BASE/clients/import" | sed -n 's/.*name="csrf-token" content="\([^"]*\)".*/\1/p')

rss() { awk -v k="$1:" '$1 == k { print int($2 / 1024) }' "/proc/$PID/status"; }
echo "  app RSS before the upload: $(rss VmRSS) MB"
# CPU time (clock ticks) of the app and of its cluster (the postmaster, its live children and
# those it reaped): unlike wall time, barely moved by other work on the machine.
PGPID=$(head -1 "$DATA/pg/postmaster.pid")
ticks() { awk '{ print $14 + $15 + ($1 == ENVIRON["PGPID"] ? $16 + $17 : 0) }' "$@" 2>/dev/null | awk '{ t += $1 } END { print t + 0 }'; }
app_cpu() { ticks "/proc/$PID/stat"; }
db_cpu() { PGPID=$PGPID ticks "/proc/$PGPID/stat" $(ps -o pid= --ppid "$PGPID" | sed 's|.*|/proc/&/stat|' | tr -d ' '); }
app0=$(app_cpu); db0=$(db_cpu); hz=$(getconf CLK_TCK)
t_start=$(date +%s%N)
location=$(curl -s -o /dev/null -w '%{redirect_url}' -c "$JAR" -b "$JAR" -H "X-CSRF-Token: $token" -F "file=@$FILE;type=text/csv" "$BASE/clients/import")
id=${location##*/}
t_uploaded=$(date +%s%N)
[ -n "$id" ] || { echo "upload failed" >&2; tail "$DATA/app.log" >&2; exit 1; }
curl -s -o /dev/null -c "$JAR" -b "$JAR" --data "csrf_token=$token&map=name&map=email&map=phone&map=company&map=status&map=tags&key=email&on_existing=update&mode=$MODE&encoding=utf-8&delimiter=comma" "$BASE/imports/$id/start"
until page=$(curl -s -b "$JAR" "$BASE/imports/$id/progress") && grep -q -e 'Import finished.' -e 'Nothing was imported.' <<<"$page"; do sleep 0.2; done
t_done=$(date +%s%N)
count() { sed -n "s/.*id=\"count-$1\">\([0-9]*\)<.*/\1/p" <<<"$page"; }
upload_ms=$(( (t_uploaded - t_start) / 1000000 )); run_ms=$(( (t_done - t_uploaded) / 1000000 )); total_ms=$(( (t_done - t_start) / 1000000 ))
echo "import of $ROWS rows: upload $upload_ms ms + run $run_ms ms = $total_ms ms end to end, $(( ROWS * 1000 / (total_ms > 0 ? total_ms : 1) )) rows/s"
echo "  created $(count created), updated $(count updated), rejected $(count rejected)"
echo "  app RSS after the report: $(rss VmRSS) MB, peak $(rss VmHWM) MB"
echo "  CPU time: app $(( ($(app_cpu) - app0) * 1000 / hz )) ms, database $(( ($(db_cpu) - db0) * 1000 / hz )) ms (load average $(cut -d' ' -f1 /proc/loadavg))"

SOCKET=$DATA/run
[ -S "$SOCKET/.s.PGSQL.5432" ] || SOCKET=$(dirname "$(ls /tmp/switchboard-*/.s.PGSQL.5432 2>/dev/null | head -1)")
psql -q "host=$SOCKET user=switchboard dbname=switchboard" -c "CREATE TABLE bench_raw (name text, email text, phone text, company text, status text, tags text)"
t0=$(date +%s%N)
psql -q "host=$SOCKET user=switchboard dbname=switchboard" -c "\\copy bench_raw FROM '$FILE' WITH (FORMAT csv, HEADER)"
copy_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "raw COPY of the same file into an empty table: $copy_ms ms, $(( ROWS * 1000 / (copy_ms > 0 ? copy_ms : 1) )) rows/s; import/COPY time ratio $(awk -v a="$total_ms" -v b="$copy_ms" 'BEGIN { printf "%.1f", a / (b > 0 ? b : 1) }')"
