#!/usr/bin/env bash
# Release-mode load benchmark for the Tributary API, on loopback only.
#
#   bash scripts/bench.sh
#
# Builds `tributary` in release mode, starts it on a free loopback port with SQLite in a temporary
# directory, registers a user, creates 50 accounts, then measures with wrk:
#   1. GET /healthz                         (process baseline)
#   2. GET /api/accounts?limit=50           (authenticated list, Bearer JWT)
#   3. GET /healthz while 4 clients log in in a loop (argon2 must not starve the HTTP workers)
# It prints figures next to the targets; it asserts nothing about timing (exit 0 if it ran).
#
# Knobs (environment, all optional):
#   BENCH_SKIP_BUILD=1     use the existing binary instead of running cargo build --release
#   TRIBUTARY_BIN=path     binary to run (default: target/release/tributary)
#   BENCH_DURATION=10      seconds per wrk run
#   BENCH_PORT=18080       first port to try (the next 20 are tried if busy)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

DURATION=${BENCH_DURATION:-10}
FIRST_PORT=${BENCH_PORT:-18080}
BIN=${TRIBUTARY_BIN:-$ROOT/target/release/tributary}
ACCOUNTS=50
LOGIN_CLIENTS=4
LOGIN_SECONDS=$((DURATION + 2))

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# --- tools -----------------------------------------------------------------------------------
command -v curl >/dev/null || die "curl is required"
command -v python3 >/dev/null || die "python3 is required"
if ! command -v wrk >/dev/null; then
  log "installing wrk (apt-get)"
  if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
  elif command -v sudo >/dev/null; then
    SUDO=(sudo)
  else
    die "wrk is missing and cannot be installed without root: apt-get install -y wrk"
  fi
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq wrk >/dev/null
  command -v wrk >/dev/null || die "wrk still missing after apt-get install"
fi

if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  log "cargo build --release -p tributary-api"
  cargo build --release -p tributary-api
fi
[ -x "$BIN" ] || die "no executable at $BIN"

# --- server ----------------------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tributary-bench.XXXXXX")
SERVER_PID=
LOGIN_PIDS=()

cleanup() {
  local pid
  for pid in "${LOGIN_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

PORT=
for ((p = FIRST_PORT; p < FIRST_PORT + 20; p++)); do
  if ! port_busy "$p"; then
    PORT=$p
    break
  fi
done
[ -n "$PORT" ] || die "no free port in $FIRST_PORT..$((FIRST_PORT + 19))"
BASE="http://127.0.0.1:$PORT"

log "starting $BIN serve on $BASE (data in $WORK/data)"
# Run from the temp dir so a ./tributary.toml in the checkout is not picked up; drop variables
# that would point the server at another database, key or config file.
(
  cd "$WORK"
  exec env -u DATABASE_URL -u TRIBUTARY_CONFIG -u TRIBUTARY_SECRET_KEY -u RUST_LOG \
    TRIBUTARY__DATA_DIR="$WORK/data" \
    TRIBUTARY__SERVER__HOST=127.0.0.1 \
    TRIBUTARY__SERVER__PORT="$PORT" \
    TRIBUTARY__LOG__LEVEL=warn \
    TRIBUTARY__AUTH__LOGIN_MAX_FAILURES=1000000 \
    TRIBUTARY__AUTH__ACCESS_TOKEN_TTL_SECS=3600 \
    TRIBUTARY__AUTH__ALLOW_REGISTRATION=true \
    "$BIN" serve
) >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

ready=0
for _ in $(seq 1 300); do
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    tail -n 30 "$WORK/server.log" >&2 || true
    die "the server exited during start-up"
  fi
  if curl -fsS -o /dev/null --max-time 1 "$BASE/healthz" 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.1
done
if [ "$ready" != 1 ]; then
  tail -n 30 "$WORK/server.log" >&2 || true
  die "the server did not answer /healthz within 30 s"
fi

# --- data ------------------------------------------------------------------------------------
EMAIL="bench-$$@example.com"
PASSWORD="bench-password-$$-long"
CREDENTIALS=$(printf '{"email":"%s","password":"%s"}' "$EMAIL" "$PASSWORD")

# post PATH JSON [extra curl args...] -> prints the HTTP status; body in $WORK/body
post() {
  local path=$1 body=$2
  shift 2
  curl -sS -o "$WORK/body" -w '%{http_code}' --max-time 30 \
    -H 'Content-Type: application/json' "$@" --data "$body" "$BASE$path"
}

log "registering $EMAIL"
status=$(post /api/auth/register "$CREDENTIALS")
[ "$status" = 201 ] || die "POST /api/auth/register -> $status: $(head -c 500 "$WORK/body")"

status=$(post /api/auth/login "$CREDENTIALS")
[ "$status" = 200 ] || die "POST /api/auth/login -> $status: $(head -c 500 "$WORK/body")"
TOKEN=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])' <"$WORK/body") ||
  die "no access_token in the login response: $(head -c 500 "$WORK/body")"
AUTH_HEADER="Authorization: Bearer $TOKEN"

log "creating $ACCOUNTS accounts"
for i in $(seq 1 "$ACCOUNTS"); do
  status=$(post /api/accounts "{\"name\":\"Account $i\",\"kind\":\"brokerage\",\"currency\":\"USD\"}" \
    -H "$AUTH_HEADER")
  case "$status" in
    200 | 201) ;;
    *) die "POST /api/accounts -> $status: $(head -c 500 "$WORK/body")" ;;
  esac
done

status=$(curl -sS -o "$WORK/body" -w '%{http_code}' --max-time 10 -H "$AUTH_HEADER" \
  "$BASE/api/accounts?limit=50")
[ "$status" = 200 ] || die "GET /api/accounts?limit=50 -> $status: $(head -c 500 "$WORK/body")"
LIST_BYTES=$(wc -c <"$WORK/body")
LIST_ITEMS=$(python3 -c '
import json, sys
d = json.load(sys.stdin)
items = d if isinstance(d, list) else next((d[k] for k in ("items", "data", "accounts", "results") if isinstance(d.get(k), list)), None)
print(len(items) if items is not None else "?")' <"$WORK/body" 2>/dev/null || echo "?")
log "GET /api/accounts?limit=50 -> 200, $LIST_ITEMS items, $LIST_BYTES bytes"

# --- wrk helpers -----------------------------------------------------------------------------
# wrk_field FILE rps|p50|p99|non2xx|errors|requests -> number (latencies in ms)
wrk_field() {
  awk -v want="$2" '
    function ms(v) {
      if (v ~ /us$/) { sub(/us$/, "", v); return v / 1000 }
      if (v ~ /ms$/) { sub(/ms$/, "", v); return v + 0 }
      if (v ~ /m$/)  { sub(/m$/, "", v);  return v * 60000 }
      if (v ~ /s$/)  { sub(/s$/, "", v);  return v * 1000 }
      return v + 0
    }
    want == "rps"      && $1 == "Requests/sec:"              { out = $2 }
    want == "p50"      && $1 == "50%"                        { out = sprintf("%.3f", ms($2)) }
    want == "p99"      && $1 == "99%"                        { out = sprintf("%.3f", ms($2)) }
    want == "requests" && $2 == "requests" && $3 == "in"     { out = $1 }
    want == "non2xx"   && /Non-2xx or 3xx responses:/        { out = $NF }
    want == "errors"   && /Socket errors:/ {
      gsub(/,/, ""); out = $4 + $6 + $8 + $10
    }
    END {
      if (out == "" && (want == "non2xx" || want == "errors")) out = 0
      print (out == "" ? "?" : out)
    }' "$1"
}

run_wrk() { # name threads connections url [extra wrk args...]
  local name=$1 threads=$2 conns=$3 url=$4
  shift 4
  log "wrk -t$threads -c$conns -d${DURATION}s --latency $url"
  wrk -t"$threads" -c"$conns" -d"${DURATION}s" --timeout 5s --latency "$@" "$url" >"$WORK/wrk-$name.txt"
  sed 's/^/    /' "$WORK/wrk-$name.txt" >&2
}

# --- 1 & 2: throughput -----------------------------------------------------------------------
run_wrk healthz 2 32 "$BASE/healthz"
run_wrk accounts 2 32 "$BASE/api/accounts?limit=50" -H "$AUTH_HEADER"

# --- 3: /healthz under login load ------------------------------------------------------------
log "$LOGIN_CLIENTS login loops for ${LOGIN_SECONDS}s, with wrk on /healthz meanwhile"
login_loop() {
  local n=$1 end=$((SECONDS + LOGIN_SECONDS)) code
  while ((SECONDS < end)); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
      -H 'Content-Type: application/json' --data "$CREDENTIALS" "$BASE/api/auth/login" || true)
    printf '%s\n' "$code" >>"$WORK/logins-$n.txt"
  done
}
for n in $(seq 1 "$LOGIN_CLIENTS"); do
  : >"$WORK/logins-$n.txt"
  login_loop "$n" &
  LOGIN_PIDS+=("$!")
done
sleep 1 # let the login loops get going before measuring
run_wrk healthz-login 1 8 "$BASE/healthz"
for pid in "${LOGIN_PIDS[@]}"; do
  wait "$pid" || true
done
LOGIN_PIDS=()
LOGINS_OK=$(cat "$WORK"/logins-*.txt | grep -c '^200$' || true)
LOGINS_ALL=$(cat "$WORK"/logins-*.txt | grep -c . || true)

# --- 4: GraphQL vs REST for the same data ----------------------------------------------------
# A second user with 50 DEMO accounts, each synced (holdings with assets). The GraphQL query
# returns every account with its holdings in one request; REST needs the list plus one holdings
# call per account (51 requests), so REST "data sets/s" = REST req/s / 51.
G_CREDENTIALS=$(printf '{"email":"graph-%s@example.com","password":"%s"}' "$$" "$PASSWORD")
status=$(post /api/auth/register "$G_CREDENTIALS")
[ "$status" = 201 ] || die "register (graphql user) -> $status"
status=$(post /api/auth/login "$G_CREDENTIALS")
G_TOKEN=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])' <"$WORK/body")
G_AUTH="Authorization: Bearer $G_TOKEN"
log "creating $ACCOUNTS synced DEMO accounts for the GraphQL comparison"
: >"$WORK/g-ids.txt"
for i in $(seq 1 "$ACCOUNTS"); do
  status=$(post /api/accounts "{\"name\":\"Synced $i\",\"kind\":\"brokerage\",\"currency\":\"USD\"}" -H "$G_AUTH")
  [ "$status" = 201 ] || die "POST /api/accounts -> $status"
  id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' <"$WORK/body")
  echo "$id" >>"$WORK/g-ids.txt"
  curl -sS -o /dev/null -X PUT -H "$G_AUTH" -H 'Content-Type: application/json' \
    --data "{\"type\":\"DEMO\",\"config\":{\"seed\":$i}}" "$BASE/api/accounts/$id/integration"
  curl -sS -o /dev/null -X POST -H "$G_AUTH" "$BASE/api/accounts/$id/integration/refresh"
done
GQL_QUERY='{ accounts(first: 50) { edges { node { id name balance holdings { quantity asset { symbol } } } } } }'
cat >"$WORK/graphql.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"query":"$GQL_QUERY"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $G_TOKEN"
LUA
{
  echo 'local paths = { "/api/accounts?limit=50" }'
  while read -r id; do echo "table.insert(paths, \"/api/accounts/$id/holdings\")"; done <"$WORK/g-ids.txt"
  echo "wrk.headers[\"Authorization\"] = \"Bearer $G_TOKEN\""
  echo 'local i = 0'
  echo 'request = function() i = i % #paths + 1; return wrk.format("GET", paths[i]) end'
} >"$WORK/rest.lua"
status=$(post /graphql "{\"query\":\"$GQL_QUERY\"}" -H "$G_AUTH")
G_NODES=$(python3 -c 'import json,sys; d=json.load(sys.stdin); e=d["data"]["accounts"]["edges"]; print(len(e), sum(len(x["node"]["holdings"]) for x in e))' <"$WORK/body")
log "GraphQL query -> $status, accounts and holdings: $G_NODES"
run_wrk graphql 2 32 "$BASE/graphql" -s "$WORK/graphql.lua"
run_wrk rest-same-data 2 32 "$BASE" -s "$WORK/rest.lua"

# --- report ----------------------------------------------------------------------------------
H_RPS=$(wrk_field "$WORK/wrk-healthz.txt" rps)
H_P50=$(wrk_field "$WORK/wrk-healthz.txt" p50)
H_P99=$(wrk_field "$WORK/wrk-healthz.txt" p99)
H_BAD=$(wrk_field "$WORK/wrk-healthz.txt" non2xx)
H_ERR=$(wrk_field "$WORK/wrk-healthz.txt" errors)
A_RPS=$(wrk_field "$WORK/wrk-accounts.txt" rps)
A_P50=$(wrk_field "$WORK/wrk-accounts.txt" p50)
A_P99=$(wrk_field "$WORK/wrk-accounts.txt" p99)
A_BAD=$(wrk_field "$WORK/wrk-accounts.txt" non2xx)
A_ERR=$(wrk_field "$WORK/wrk-accounts.txt" errors)
L_RPS=$(wrk_field "$WORK/wrk-healthz-login.txt" rps)
L_P50=$(wrk_field "$WORK/wrk-healthz-login.txt" p50)
L_P99=$(wrk_field "$WORK/wrk-healthz-login.txt" p99)
L_BAD=$(wrk_field "$WORK/wrk-healthz-login.txt" non2xx)
L_ERR=$(wrk_field "$WORK/wrk-healthz-login.txt" errors)

G_RPS=$(wrk_field "$WORK/wrk-graphql.txt" rps)
G_P50=$(wrk_field "$WORK/wrk-graphql.txt" p50)
G_P99=$(wrk_field "$WORK/wrk-graphql.txt" p99)
G_BAD=$(wrk_field "$WORK/wrk-graphql.txt" non2xx)
G_ERR=$(wrk_field "$WORK/wrk-graphql.txt" errors)
R_RPS=$(wrk_field "$WORK/wrk-rest-same-data.txt" rps)
R_P50=$(wrk_field "$WORK/wrk-rest-same-data.txt" p50)
R_P99=$(wrk_field "$WORK/wrk-rest-same-data.txt" p99)
R_BAD=$(wrk_field "$WORK/wrk-rest-same-data.txt" non2xx)
R_ERR=$(wrk_field "$WORK/wrk-rest-same-data.txt" errors)
R_SETS=$(awk -v r="$R_RPS" -v n="$ACCOUNTS" 'BEGIN { printf "%.1f", r / (n + 1) }')
G_RATIO=$(awk -v g="$G_RPS" -v r="$R_SETS" 'BEGIN { if (r + 0 > 0) printf "%.1f", 100 * g / r; else print "?" }')

RATIO=$(awk -v a="$A_RPS" -v h="$H_RPS" 'BEGIN { if (h + 0 > 0) printf "%.1f", 100 * a / h; else print "?" }')
# verdict VALUE OP LIMIT -> "met" / "MISSED" (informational only)
verdict() {
  awk -v v="$1" -v op="$2" -v lim="$3" 'BEGIN {
    if (v == "?" || v == "") { print "n/a"; exit }
    ok = (op == "<") ? (v + 0 < lim + 0) : (v + 0 >= lim + 0)
    print (ok ? "met" : "MISSED")
  }'
}

echo
echo "Tributary benchmark: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo 'uncommitted'), $(nproc) cores, release build, SQLite, wrk ${DURATION}s, loopback"
echo
printf '%-38s %12s %10s %10s %8s %8s\n' "scenario" "req/s" "p50 ms" "p99 ms" "non-2xx" "errors"
printf '%-38s %12s %10s %10s %8s %8s\n' "--------------------------------------" "------------" "----------" "----------" "--------" "--------"
printf '%-38s %12s %10s %10s %8s %8s\n' "GET /healthz (2 threads, 32 conns)" "$H_RPS" "$H_P50" "$H_P99" "$H_BAD" "$H_ERR"
printf '%-38s %12s %10s %10s %8s %8s\n' "GET /api/accounts?limit=50 (auth)" "$A_RPS" "$A_P50" "$A_P99" "$A_BAD" "$A_ERR"
printf '%-38s %12s %10s %10s %8s %8s\n' "GET /healthz during logins (1 t, 8 c)" "$L_RPS" "$L_P50" "$L_P99" "$L_BAD" "$L_ERR"
printf '%-38s %12s %10s %10s %8s %8s\n' "GraphQL 50 accounts + holdings" "$G_RPS" "$G_P50" "$G_P99" "$G_BAD" "$G_ERR"
printf '%-38s %12s %10s %10s %8s %8s\n' "REST same data (1 list + 50 holdings)" "$R_RPS" "$R_P50" "$R_P99" "$R_BAD" "$R_ERR"
echo
echo "Accounts list returned $LIST_ITEMS items ($LIST_BYTES bytes) per request."
echo "GraphQL comparison: accounts/holdings per response: $G_NODES; REST needs $((ACCOUNTS + 1)) requests for the same data = $R_SETS data sets/s vs GraphQL $G_RPS/s."
echo "Logins during the login-load run: $LOGINS_OK succeeded (200) of $LOGINS_ALL attempted by $LOGIN_CLIENTS clients in ${LOGIN_SECONDS}s."
echo
echo "Targets (informational; this script asserts nothing):"
printf '  %-50s %-12s %s\n' "authenticated list >= 40% of healthz req/s" "${RATIO}%" "$(verdict "$RATIO" '>=' 40)"
printf '  %-50s %-12s %s\n' "authenticated list p99 < 20 ms" "${A_P99} ms" "$(verdict "$A_P99" '<' 20)"
printf '  %-50s %-12s %s\n' "healthz p99 under login load < 10 ms" "${L_P99} ms" "$(verdict "$L_P99" '<' 10)"
printf '  %-50s %-12s %s\n' "GraphQL >= 50% of REST throughput, same data" "${G_RATIO}%" "$(verdict "$G_RATIO" '>=' 50)"
if [ "$A_BAD" != 0 ] || [ "$H_BAD" != 0 ] || [ "$L_BAD" != 0 ] || [ "$G_BAD" != 0 ] || [ "$R_BAD" != 0 ]; then
  echo
  echo "WARNING: some responses were not 2xx/3xx; the req/s figures above include them."
fi
