#!/usr/bin/env bash
# Release-mode import benchmark (loopback only; prints figures, asserts nothing).
#
#   bash scripts/bench-import.sh            # 1,000,000 rows
#   ROWS=200000 bash scripts/bench-import.sh
#
# Generates a CSV, imports it through POST /api/accounts/{id}/import into SQLite, prints rows/s
# and the server's peak RSS, imports the same file again (all duplicates), then loads the same
# rows with the sqlite3 command-line `.import` into an equivalent table with the same unique
# index and prints our time / sqlite3's time. For reference it also times sqlite3's `.import` of
# the same rows into a copy of Tributary's own transactions table (what SQLite alone costs).
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

log "first import"
LOG_FROM=$(($(wc -l <"$WORK/server.log") + 1))
FIRST=$(import_once first "$WORK/bank.csv")
RSS1=$(peak_rss_kib)
# The server checkpoints the write-ahead log in the background (up to a second after the
# response); wait for it, so the re-import does not share the machine with it, and report it.
CHECKPOINT_MS=$(wait_checkpoint_ms "$LOG_FROM")
log "re-import (all duplicates)"
SECOND=$(import_once second "$WORK/bank.csv")
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

# Reference: sqlite3's own .import of the same rows into a copy of Tributary's transactions
# table (all 20 columns, the same indexes and page size; ids as hex text in file order, as our
# UUIDv7 ids are), once in the file's date order and once sorted by date. This is what SQLite itself
# costs for our schema on this machine, before any of our code runs.
log "sqlite3 .import into Tributary's transactions schema (reference)"
sqlite3 "$WORK/data/tributary.db" ".schema transactions" >"$WORK/schema.sql"
PAGE_SIZE=$(sqlite3 "$WORK/data/tributary.db" "PRAGMA page_size")
python3 - "$WORK" "$ROWS" <<'PY'
import sys, datetime, hashlib
work, rows = sys.argv[1], int(sys.argv[2])
start = datetime.date(2015, 1, 1)
account, job = "%032x" % 1, "%032x" % 2
def line(n, i):
    d = start + datetime.timedelta(days=i % 3650)
    amount = ((i * 7919) % 200000 - 100000) / 100
    kind = "deposit" if amount >= 0 else "withdrawal"
    fp = hashlib.sha256(str(i).encode()).hexdigest()
    return (f"{n:032x},{account},,{kind},{d.isoformat()},,,,{amount:.2f},,USD,Payment {i % 9973},"
            f"csv,R-{i},{fp},{job},2026-11-22T00:00:00.000000000+00:00,0,,\n")
with open(f"{work}/full.csv", "w") as f:
    for i in range(rows):
        f.write(line(i, i))
with open(f"{work}/full-sorted.csv", "w") as f:
    for n, i in enumerate(sorted(range(rows), key=lambda i: i % 3650)):
        f.write(line(n, i))
PY
schema_import() { # csv -> prints seconds
  rm -f "$WORK/schema-bench.db"*
  sqlite3 "$WORK/schema-bench.db" "PRAGMA page_size=$PAGE_SIZE" "PRAGMA journal_mode=WAL" >/dev/null
  sqlite3 "$WORK/schema-bench.db" <"$WORK/schema.sql"
  local t0 t1
  t0=$(date +%s.%N)
  sqlite3 "$WORK/schema-bench.db" "PRAGMA cache_size=-65536" ".mode csv" ".import $1 transactions"
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}
SCHEMA_FILE_ORDER=$(schema_import "$WORK/full.csv")
SCHEMA_SORTED=$(schema_import "$WORK/full-sorted.csv")

echo
echo "Tributary import benchmark: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null), $(nproc) cores, release, SQLite, $ROWS rows ($SIZE bytes)"
printf '%-34s %10s %14s %14s\n' "run" "seconds" "rows/s" "peak RSS MiB"
printf '%-34s %10s %14s %14s\n' "first import (API, multipart)" "$FIRST" "$(awk -v r="$ROWS" -v s="$FIRST" 'BEGIN{printf "%.0f", r/s}')" "$(awk -v k="$RSS1" 'BEGIN{printf "%.1f", k/1024}')"
printf '%-34s %10s\n' "  then its checkpoint (background)" "$(awk -v m="$CHECKPOINT_MS" 'BEGIN{printf "%.3f", m/1000}')"
printf '%-34s %10s\n' "  response + checkpoint" "$(awk -v a="$FIRST" -v m="$CHECKPOINT_MS" 'BEGIN{printf "%.3f", a+m/1000}')"
printf '%-34s %10s %14s %14s\n' "re-import (all duplicates)" "$SECOND" "$(awk -v r="$ROWS" -v s="$SECOND" 'BEGIN{printf "%.0f", r/s}')" "$(awk -v k="$RSS2" 'BEGIN{printf "%.1f", k/1024}')"
printf '%-34s %10s %14s\n' "sqlite3 .import (same index)" "$SQLITE" "$(awk -v r="$ROWS" -v s="$SQLITE" 'BEGIN{printf "%.0f", r/s}')"
printf '%-34s %10s %14s\n' "sqlite3 .import, our schema" "$SCHEMA_FILE_ORDER" "$(awk -v r="$ROWS" -v s="$SCHEMA_FILE_ORDER" 'BEGIN{printf "%.0f", r/s}')"
printf '%-34s %10s %14s\n' "  same, rows sorted by date" "$SCHEMA_SORTED" "$(awk -v r="$ROWS" -v s="$SCHEMA_SORTED" 'BEGIN{printf "%.0f", r/s}')"
echo "first:  $(summary "$WORK/job-first.json")"
echo "second: $(summary "$WORK/job-second.json")"
echo "ours / sqlite3 (first import): $(awk -v a="$FIRST" -v b="$SQLITE" 'BEGIN{printf "%.1fx", a/b}')"
echo "Targets (informational): >= 100000 rows/s first import, >= 200000 rows/s re-import, peak RSS < 300 MiB"
