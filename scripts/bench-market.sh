#!/usr/bin/env bash
# Release-mode market-data benchmark, on loopback only (issue 4).
#
#   bash scripts/bench-market.sh
#
# Starts a mock of the market-data providers (Python http.server, 20 ms latency per request,
# shapes as the connectors' fixtures), then `tributary` (release, SQLite in a temp dir) with every
# provider pointed at the mock, and measures:
#   1. cold quotes for 200 symbols, default chain (Tiingo IEX batch endpoint first);
#   2. cold quotes for 200 other symbols with Tiingo disabled (Yahoo, one request per symbol,
#      limited to BENCH_YAHOO_PER_SECOND requests/s and 4 concurrent calls);
#   3. warm quotes for the same 200 symbols (provider cache): wall time and wrk requests/s, p99;
#   4. warm GET /api/portfolio/summary for a user with 200 holdings across 10 accounts (EUR and
#      USD, valued in a USD base currency): wrk requests/s and p99 (target p99 < 20 ms).
# It prints the figures; it asserts nothing about timing.
#
# Knobs: BENCH_SKIP_BUILD=1, TRIBUTARY_BIN=path, BENCH_DURATION=10, BENCH_PORT=18180,
#        BENCH_YAHOO_PER_SECOND=100.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
DURATION=${BENCH_DURATION:-10}
FIRST_PORT=${BENCH_PORT:-18180}
BIN=${TRIBUTARY_BIN:-$ROOT/target/release/tributary}
YAHOO_PER_SECOND=${BENCH_YAHOO_PER_SECOND:-100}
FIX=$ROOT/connectors/tests/fixtures

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench-market: %s\n' "$*" >&2; exit 1; }
command -v curl >/dev/null || die "curl is required"
command -v python3 >/dev/null || die "python3 is required"
command -v wrk >/dev/null || die "wrk is required (apt-get install -y wrk)"

if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  log "cargo build --release -p tributary-api"
  cargo build --release -p tributary-api
fi
[ -x "$BIN" ] || die "no executable at $BIN"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tributary-bench-market.XXXXXX")
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local p
  for p in $(seq "$1" $(($1 + 40))); do
    if ! port_busy "$p"; then echo "$p"; return; fi
  done
  die "no free port from $1"
}

# --- mock providers --------------------------------------------------------------------------
MOCK_PORT=$(free_port "$FIRST_PORT")
cat >"$WORK/mock.py" <<'PY'
import json, sys, time, threading
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
from urllib.parse import urlparse, parse_qs

port, fixtures = int(sys.argv[1]), sys.argv[2]
chart = open(f"{fixtures}/yahoo/chart_aapl_quote.json").read()
eurusd = open(f"{fixtures}/yahoo/chart_eurusd.json").read()
counts = {}
lock = threading.Lock()

def price(sym):
    return 50 + (sum(map(ord, sym)) % 400) + 0.25

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def send(self, code, body):
        data = body.encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def do_GET(self):
        time.sleep(0.020)
        u = urlparse(self.path)
        q = parse_qs(u.query)
        with lock:
            key = u.path.split("/")[1] if u.path.startswith("/v8") is False else "yahoo"
            counts[key] = counts.get(key, 0) + 1
        if u.path == "/_counts":
            return self.send(200, json.dumps(counts))
        if u.path == "/iex/":
            tickers = q.get("tickers", [""])[0].split(",")
            rows = [{"ticker": t.upper(), "timestamp": "2026-11-20T21:00:00+00:00",
                     "quoteTimestamp": "2026-11-20T21:00:00+00:00", "lastSaleTimeStamp": "2026-11-20T21:00:00+00:00",
                     "last": price(t.upper()), "lastSize": 100, "tngoLast": price(t.upper()), "prevClose": price(t.upper()),
                     "open": price(t.upper()), "high": price(t.upper()), "low": price(t.upper()), "mid": None, "volume": 1000,
                     "bidSize": None, "bidPrice": None, "askSize": None, "askPrice": None} for t in tickers if t]
            return self.send(200, json.dumps(rows))
        if u.path.startswith("/v8/finance/chart/"):
            sym = u.path.rsplit("/", 1)[1]
            if sym == "EURUSD=X":
                return self.send(200, eurusd)
            body = chart.replace('"AAPL"', json.dumps(sym)).replace("170.85", str(price(sym)))
            return self.send(200, body)
        return self.send(404, "{}")

ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY
python3 "$WORK/mock.py" "$MOCK_PORT" "$FIX" &
PIDS+=($!)
MOCK=http://127.0.0.1:$MOCK_PORT

# --- servers ---------------------------------------------------------------------------------
start_server() { # name extra-env...
  local name=$1; shift
  local port dir
  port=$(free_port $((FIRST_PORT + 50 + ${#PIDS[@]} * 5)))
  dir=$WORK/$name
  mkdir -p "$dir"
  env TRIBUTARY__DATA_DIR="$dir" TRIBUTARY__SERVER__PORT="$port" TRIBUTARY__LOG__LEVEL=warn \
    TRIBUTARY__JOBS__SCHEDULER_ENABLED=false TRIBUTARY__PRICES__SCHEDULER_ENABLED=false \
    TRIBUTARY__MARKET_DATA__MAX_QUOTE_SYMBOLS=200 \
    TRIBUTARY__PROVIDERS__TIINGO__BASE_URL="$MOCK" TRIBUTARY__PROVIDERS__YAHOO__BASE_URL="$MOCK" \
    TRIBUTARY__PROVIDERS__ALPHA_VANTAGE__BASE_URL="$MOCK" TRIBUTARY__PROVIDERS__COINGECKO__BASE_URL="$MOCK" \
    TRIBUTARY__PROVIDERS__TIINGO__API_KEY=bench-key \
    TRIBUTARY__PROVIDERS__TIINGO__PER_HOUR=100000 TRIBUTARY__PROVIDERS__TIINGO__PER_DAY=1000000 \
    "$@" "$BIN" serve >"$dir/log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port/healthz" 2>/dev/null && break
    sleep 0.1
  done
  curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" || die "server $name did not start: $(tail -5 "$dir/log")"
  echo "$port"
}

login() { # base -> token
  local email="bench-$RANDOM$RANDOM@example.com" pw="bench-password-123456"
  curl -fsS -o /dev/null -H 'content-type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"$pw\"}" "$1/api/auth/register"
  curl -fsS -H 'content-type: application/json' -d "{\"email\":\"$email\",\"password\":\"$pw\"}" \
    "$1/api/auth/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

symbols() { # prefix -> 200 comma-separated tickers
  python3 -c "
import itertools, string
s = [a+b+c for a, b, c in itertools.product(string.ascii_uppercase, repeat=3)]
print(','.join('$1' + x for x in s[:200]))"
}

timed_get() { # url token -> seconds (and body in $WORK/body)
  curl -sS -o "$WORK/body" -w '%{time_total}' --max-time 300 -H "Authorization: Bearer $2" "$1"
}

count_items() {
  python3 -c 'import json,sys; b=json.load(open(sys.argv[1])); print(len(b["items"]), len(b["errors"]))' "$WORK/body"
}

wrk_report() { # label url token [connections]
  local conns=${4:-8} threads=2
  [ "$conns" -lt 2 ] && threads=1
  wrk -t"$threads" -c"$conns" -d"${DURATION}s" --latency -H "Authorization: Bearer $3" "$2" >"$WORK/wrk.txt"
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.txt")
  p50=$(awk '$1 == "50%" {print $2}' "$WORK/wrk.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$WORK/wrk.txt")
  printf '%-48s %10s req/s   p50 %8s   p99 %8s\n' "$1" "$rps" "$p50" "$p99"
  grep -E "Non-2xx|Socket errors" "$WORK/wrk.txt" || true
}

log "server A: default chain (Tiingo IEX batch first)"
PORT_A=$(start_server a)
BASE_A=http://127.0.0.1:$PORT_A
TOKEN_A=$(login "$BASE_A")
SYMS_A=$(symbols Q)
cold_a=$(timed_get "$BASE_A/api/quotes?symbols=$SYMS_A" "$TOKEN_A")
read -r items_a errors_a < <(count_items)
warm_a=$(timed_get "$BASE_A/api/quotes?symbols=$SYMS_A" "$TOKEN_A")

log "server B: Tiingo disabled (Yahoo, one request per symbol, $YAHOO_PER_SECOND/s, 4 concurrent)"
PORT_B=$(start_server b TRIBUTARY__PROVIDERS__TIINGO__ENABLED=false \
  TRIBUTARY__PROVIDERS__YAHOO__PER_SECOND="$YAHOO_PER_SECOND" TRIBUTARY__PROVIDERS__YAHOO__PER_HOUR=100000)
BASE_B=http://127.0.0.1:$PORT_B
TOKEN_B=$(login "$BASE_B")
SYMS_B=$(symbols Y)
cold_b=$(timed_get "$BASE_B/api/quotes?symbols=$SYMS_B" "$TOKEN_B")
read -r items_b errors_b < <(count_items)
warm_b=$(timed_get "$BASE_B/api/quotes?symbols=$SYMS_B" "$TOKEN_B")

log "seeding 200 holdings across 10 accounts on server A"
curl -fsS -o /dev/null -X PATCH -H 'content-type: application/json' -H "Authorization: Bearer $TOKEN_A" \
  -d '{"base_currency":"USD"}' "$BASE_A/api/me"
ACCOUNTS=()
for i in $(seq 0 9); do
  cur=USD; [ $((i % 2)) -eq 1 ] && cur=EUR
  ACCOUNTS+=("$(curl -fsS -H 'content-type: application/json' -H "Authorization: Bearer $TOKEN_A" \
    -d "{\"name\":\"bench $i\",\"kind\":\"brokerage\",\"currency\":\"$cur\"}" "$BASE_A/api/accounts" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')")
done
python3 - "$WORK/a/tributary.db" "${ACCOUNTS[@]}" <<'PY'
import sqlite3, sys, uuid, datetime
db, accounts = sys.argv[1], sys.argv[2:]
c = sqlite3.connect(db, timeout=30)
assets = c.execute("SELECT id, currency FROM assets ORDER BY asset_key LIMIT 200").fetchall()
assert len(assets) == 200, len(assets)
now = datetime.datetime.now(datetime.timezone.utc).isoformat()
rows = []
for n, (asset_id, cur) in enumerate(assets):
    acc = uuid.UUID(accounts[n % len(accounts)]).bytes
    rows.append((uuid.uuid4().bytes, acc, asset_id, str(10 + n), str(1000 + n), None, None, cur, now, "file", now))
c.executemany("INSERT INTO holdings VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
# Half the instruments are quoted in EUR (their stored quotes say so), so the summary converts.
c.execute("UPDATE quotes SET currency = 'EUR' WHERE rowid % 2 = 0")
c.commit()
PY
first=$(timed_get "$BASE_A/api/portfolio/summary" "$TOKEN_A")
python3 -c 'import json,sys; b=json.load(open(sys.argv[1])); print("summary:", b["holdings_count"], "holdings,", len(b["by_account"]), "accounts, total", b["total_market_value"], b["base_currency"], ", unvalued", len(b["unvalued"]))' "$WORK/body"

echo
echo "== market-data benchmark (mock providers: 20 ms per request) =="
awk -v t="$cold_a" -v n="$items_a" -v e="$errors_a" 'BEGIN {printf "cold quotes, 200 symbols, Tiingo batch:        %7.1f ms wall, %6.2f ms/quote (%d priced, %d errors)\n", t*1000, t*1000/200, n, e}'
awk -v t="$warm_a" 'BEGIN {printf "warm quotes, 200 symbols (cache):              %7.1f ms wall, %6.2f ms/quote\n", t*1000, t*1000/200}'
awk -v t="$cold_b" -v n="$items_b" -v e="$errors_b" -v r="$YAHOO_PER_SECOND" 'BEGIN {printf "cold quotes, 200 symbols, Yahoo 1/symbol:      %7.1f ms wall, %6.2f ms/quote (%d priced, %d errors; floor 200/%d/s = %d ms, 200x20ms/4 = 1000 ms)\n", t*1000, t*1000/200, n, e, r, 200000/r}'
awk -v t="$warm_b" 'BEGIN {printf "warm quotes, 200 symbols, Yahoo (cache):       %7.1f ms wall\n", t*1000}'
awk -v t="$first" 'BEGIN {printf "first summary (fetches EUR/USD once):          %7.1f ms\n", t*1000}'
wrk_report "warm GET /api/quotes (200 symbols), 1 connection" "$BASE_A/api/quotes?symbols=$SYMS_A" "$TOKEN_A" 1
wrk_report "warm GET /api/quotes (200 symbols), 8 connections" "$BASE_A/api/quotes?symbols=$SYMS_A" "$TOKEN_A" 8
wrk_report "warm GET /api/portfolio/summary, 1 connection" "$BASE_A/api/portfolio/summary" "$TOKEN_A" 1
wrk_report "warm GET /api/portfolio/summary, 8 connections" "$BASE_A/api/portfolio/summary" "$TOKEN_A" 8
echo "provider requests seen by the mock: $(curl -fsS "$MOCK/_counts")"
