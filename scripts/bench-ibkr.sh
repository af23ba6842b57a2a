#!/usr/bin/env bash
# Release-mode IBKR Flex benchmark (issue 6; loopback only; prints figures, asserts nothing).
#
#   bash scripts/bench-ibkr.sh                 # 100,000 trades + 20,000 cash transactions
#   TRADES=20000 CASH=5000 bash scripts/bench-ibkr.sh
#
# 1. Generates a Flex statement (connectors/examples/flex_bench.rs) and parses it in-process:
#    parse time, records/s and peak RSS of the parser alone.
# 2. Starts `tributary` (release, SQLite in a temp dir), uploads the same statement through
#    POST /api/accounts/{id}/import?format=ibkr_flex and prints import rows/s and the server's
#    peak RSS; then uploads it again (all duplicates).
#
# Knobs: TRADES, CASH, BENCH_SKIP_BUILD=1, TRIBUTARY_BIN=path, BENCH_PORT.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
TRADES=${TRADES:-100000}
CASH=${CASH:-20000}
PORT=${BENCH_PORT:-18182}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=${TRIBUTARY_BIN:-$TARGET/release/tributary}
BASE="http://127.0.0.1:$PORT"
log() { printf '==> %s\n' "$*" >&2; }
# shellcheck source=scripts/bench-lib.sh
. "$ROOT/scripts/bench-lib.sh"

if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  cargo build --release -p tributary-api
  cargo build --release -p tributary-connectors --example flex_bench
fi
GEN="$TARGET/release/examples/flex_bench"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tributary-ibkr-bench.XXXXXX")
SERVER_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

log "parser alone ($TRADES trades, $CASH cash transactions)"
"$GEN" --trades "$TRADES" --cash "$CASH" --iterations 3 | tee "$WORK/parse.txt"
"$GEN" --trades "$TRADES" --cash "$CASH" --write "$WORK/flex.xml" >/dev/null
SIZE=$(wc -c <"$WORK/flex.xml")
RECORDS=$((TRADES + CASH))

start_upload_server
login_new_user ibkr-bench@example.com
ACCOUNT=$(create_account '{"name":"IBKR","kind":"brokerage","currency":"USD"}')

log "first import"
FIRST=$(import_once first "$WORK/flex.xml" '?format=ibkr_flex&on_error=skip')
RSS1=$(peak_rss_kib)
log "re-import (all duplicates)"
SECOND=$(import_once second "$WORK/flex.xml" '?format=ibkr_flex&on_error=skip')
RSS2=$(peak_rss_kib)
summary() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["status"], "fetched", j["fetched"], "inserted", j["inserted"], "duplicates", j["duplicates"], "failed", j["failed"])' "$1"; }

echo
echo "Tributary IBKR Flex benchmark: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null), $(nproc) cores, release, SQLite, $TRADES trades + $CASH cash ($SIZE bytes)"
sed 's/^/parser: /' "$WORK/parse.txt"
printf '%-34s %10s %14s %14s\n' "run" "seconds" "records/s" "peak RSS MiB"
printf '%-34s %10s %14s %14s\n' "first import (API, multipart)" "$FIRST" "$(awk -v r="$RECORDS" -v s="$FIRST" 'BEGIN{printf "%.0f", r/s}')" "$(awk -v k="$RSS1" 'BEGIN{printf "%.1f", k/1024}')"
printf '%-34s %10s %14s %14s\n' "re-import (all duplicates)" "$SECOND" "$(awk -v r="$RECORDS" -v s="$SECOND" 'BEGIN{printf "%.0f", r/s}')" "$(awk -v k="$RSS2" 'BEGIN{printf "%.1f", k/1024}')"
echo "first:  $(summary "$WORK/job-first.json")"
echo "second: $(summary "$WORK/job-second.json")"
echo "Targets (informational): parse >= 200000 records/s; import at the pipeline's bulk rate"
