#!/usr/bin/env bash
# Release-mode import benchmark (loopback only; prints figures, asserts nothing).
#
#   bash scripts/bench-import.sh            # 1,000,000 rows
#   ROWS=200000 bash scripts/bench-import.sh
#
# Generates a CSV, imports it through POST /api/accounts/{id}/import into SQLite, prints rows/s
# and the server's peak RSS, imports the same file again (all duplicates), then loads the same
# rows with the sqlite3 command-line `.import` into an equivalent table with the same unique
# index and prints our time / sqlite3's time.
#
# Knobs: ROWS, BENCH_SKIP_BUILD=1, TRIBUTARY_BIN=path, BENCH_PORT.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
ROWS=${ROWS:-1000000}
PORT=${BENCH_PORT:-18181}
BIN=${TRIBUTARY_BIN:-$ROOT/target/release/tributary}
BASE="http://127.0.0.1:$PORT"
log() { printf '==> %s\n' "$*" >&2; }
# shellcheck source=scripts/bench-lib.sh
. "$ROOT/scripts/bench-lib.sh"

if ! command -v sqlite3 >/dev/null; then
  log "installing sqlite3 (apt-get)"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sqlite3 >/dev/null
fi
if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  cargo build --release -p tributary-api
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tributary-import-bench.XXXXXX")
SERVER_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

log "generating $ROWS rows"
python3 - "$WORK/bank.csv" "$ROWS" <<'PY'
import sys, datetime
path, rows = sys.argv[1], int(sys.argv[2])
start = datetime.date(2015, 1, 1)
with open(path, "w") as f:
    f.write("Date,Description,Amount,Currency,Reference\n")
    for i in range(rows):
        d = start + datetime.timedelta(days=i % 3650)
        amount = ((i * 7919) % 200000 - 100000) / 100
        f.write(f"{d.isoformat()},Payment {i % 9973},{amount:.2f},USD,R-{i}\n")
PY
SIZE=$(wc -c <"$WORK/bank.csv")
log "CSV: $SIZE bytes"

start_upload_server
login_new_user import-bench@example.com
ACCOUNT=$(create_account '{"name":"Bank","kind":"bank","currency":"USD"}')
curl -fsS -o /dev/null -X PUT -H "$AUTH" -H 'Content-Type: application/json' \
  --data '{"columns":{"date":"Date","amount":"Amount","currency":"Currency","description":"Description","id":"Reference"}}' \
  "$BASE/api/accounts/$ACCOUNT/import-profile"

import_once() { # label -> prints seconds; job JSON in $WORK/job-label.json
  local label=$1 t0 t1
  t0=$(date +%s.%N)
  curl -fsS -o "$WORK/job-$label.json" -H "$AUTH" -F "file=@$WORK/bank.csv" \
    "$BASE/api/accounts/$ACCOUNT/import" --max-time 3600
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}
log "first import"
FIRST=$(import_once first)
RSS1=$(peak_rss_kib)
log "re-import (all duplicates)"
SECOND=$(import_once second)
RSS2=$(peak_rss_kib)
summary() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["status"], "fetched", j["fetched"], "inserted", j["inserted"], "duplicates", j["duplicates"], "failed", j["failed"])' "$1"; }

log "sqlite3 .import of the same rows"
cat >"$WORK/sqlite.sql" <<SQL
CREATE TABLE transactions (date TEXT, description TEXT, amount TEXT, currency TEXT, reference TEXT);
CREATE UNIQUE INDEX uq ON transactions (reference);
CREATE INDEX idx_date ON transactions (date);
.mode csv
.import --skip 1 $WORK/bank.csv transactions
SQL
S0=$(date +%s.%N)
sqlite3 "$WORK/sqlite-bench.db" <"$WORK/sqlite.sql"
S1=$(date +%s.%N)
SQLITE=$(awk -v a="$S0" -v b="$S1" 'BEGIN { printf "%.3f", b - a }')

echo
echo "Tributary import benchmark: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null), $(nproc) cores, release, SQLite, $ROWS rows ($SIZE bytes)"
printf '%-34s %10s %14s %14s\n' "run" "seconds" "rows/s" "peak RSS MiB"
printf '%-34s %10s %14s %14s\n' "first import (API, multipart)" "$FIRST" "$(awk -v r="$ROWS" -v s="$FIRST" 'BEGIN{printf "%.0f", r/s}')" "$(awk -v k="$RSS1" 'BEGIN{printf "%.1f", k/1024}')"
printf '%-34s %10s %14s %14s\n' "re-import (all duplicates)" "$SECOND" "$(awk -v r="$ROWS" -v s="$SECOND" 'BEGIN{printf "%.0f", r/s}')" "$(awk -v k="$RSS2" 'BEGIN{printf "%.1f", k/1024}')"
printf '%-34s %10s %14s\n' "sqlite3 .import (same index)" "$SQLITE" "$(awk -v r="$ROWS" -v s="$SQLITE" 'BEGIN{printf "%.0f", r/s}')"
echo "first:  $(summary "$WORK/job-first.json")"
echo "second: $(summary "$WORK/job-second.json")"
echo "ours / sqlite3 (first import): $(awk -v a="$FIRST" -v b="$SQLITE" 'BEGIN{printf "%.1fx", a/b}')"
echo "Targets (informational): >= 100000 rows/s first import, >= 200000 rows/s re-import, peak RSS < 300 MiB"
