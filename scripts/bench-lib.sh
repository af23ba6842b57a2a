# Shared by the import benchmarks (source it; needs WORK, PORT, BIN, BASE set).
#
# start_upload_server: starts `tributary serve` on SQLite in $WORK/data with large uploads
#   allowed and the scheduler off; sets SERVER_PID and waits for /healthz.
# login_new_user EMAIL: registers EMAIL and sets AUTH to its bearer header.
# create_account JSON: creates an account, prints its id.
# import_once LABEL FILE QUERY: uploads FILE to $ACCOUNT's import (QUERY: e.g. `?format=csv`),
#   prints the seconds it took; the job's JSON goes to $WORK/job-LABEL.json.
# wait_checkpoint_ms LINE: waits for the server to log a checkpoint of the SQLite write-ahead
#   log after line LINE of its log, prints how many milliseconds it took ("0" if none comes).

start_upload_server() {
  mkdir -p "$WORK/data"
  (
    cd "$WORK"
    env -u DATABASE_URL -u TRIBUTARY_SECRET_KEY -u TRIBUTARY_CONFIG \
      TRIBUTARY__DATA_DIR="$WORK/data" TRIBUTARY__SERVER__PORT="$PORT" \
      TRIBUTARY__LOG__LEVEL="${BENCH_LOG_LEVEL:-debug}" TRIBUTARY__JOBS__UPLOAD_LIMIT_BYTES=1000000000 \
      TRIBUTARY__JOBS__SCHEDULER_ENABLED=false \
      "$BIN" serve
  ) >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do curl -fsS "$BASE/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
}

login_new_user() {
  local cred="{\"email\":\"$1\",\"password\":\"bench-password-$1\"}" token
  curl -fsS -o /dev/null -H 'Content-Type: application/json' --data "$cred" "$BASE/api/auth/register"
  token=$(curl -fsS -H 'Content-Type: application/json' --data "$cred" "$BASE/api/auth/login" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  AUTH="Authorization: Bearer $token"
}

create_account() {
  curl -fsS -H "$AUTH" -H 'Content-Type: application/json' --data "$1" "$BASE/api/accounts" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}

# peak_rss_kib: the server's peak resident set so far (VmHWM), in KiB.
peak_rss_kib() {
  awk '/VmHWM/ { print $2 }' "/proc/$SERVER_PID/status"
}

import_once() {
  local label=$1 file=$2 query=${3:-} t0 t1
  t0=$(date +%s.%N)
  curl -fsS -o "$WORK/job-$label.json" -H "$AUTH" -F "file=@$file" \
    "$BASE/api/accounts/$ACCOUNT/import$query" --max-time 3600
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}

wait_checkpoint_ms() {
  local ms
  for _ in $(seq 1 100); do
    ms=$(tail -n +"$1" "$WORK/server.log" | grep '"checkpointed the SQLite write-ahead log"' |
      head -1 | grep -o '"ms":"*[0-9]*' | grep -o '[0-9]*$' || true)
    [ -n "$ms" ] && { echo "$ms"; return; }
    sleep 0.2
  done
  echo 0
}
