#!/usr/bin/env bash
# The job service under load, on its SQLite (or PostgreSQL) store with 100 000 jobs in it (not a test):
# submissions per second and p50/p99 latency of POST /v1/jobs (each recorded, validated and
# published with a broker confirm), of GET /v1/jobs pages (first page, a state filter, a
# key prefix, a deep cursor) and of one job's detail; the API's peak RSS.
# Then the web console: time to its first page of rows and the bytes it transferred.
#   bench/api.sh [JOBS] [REQUESTS] [CONCURRENCY]      env: TRANSCODER_BIN (prebuilt release binary)
#   DATABASE_URL=postgres://USER:PASSWORD@HOST:PORT/DB bench/api.sh ...   the same on PostgreSQL
#     (in a schema of its own, dropped after; psql seeds it)
# Needs the broker (scripts/stack up). Uses its own queues (bench-api.*), deleted after.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
JOBS=${1:-100000}
REQUESTS=${2:-4000}
CONCURRENCY=${3:-8}
BIN=${TRANSCODER_BIN:-}
if [ -z "$BIN" ]; then
  swift build -c release --product transcoder --package-path "$ROOT" >&2
  BIN=$(swift build -c release --package-path "$ROOT" --show-bin-path)/transcoder
fi
WORK=$(mktemp -d)
PG_URL=
case "${DATABASE_URL:-}" in
  postgres://*|postgresql://*)
    PG_URL=${DATABASE_URL%%\?*}
    SCHEMA=bench_api_$$
    DB="$PG_URL?search_path=$SCHEMA"
    STORE="PostgreSQL (schema $SCHEMA at ${PG_URL#*@})" ;;
  *) DB=$WORK/jobs.sqlite; STORE="SQLite ($DB)" ;;
esac
PORT=${PORT:-18480}
export TRANSCODER_JOBS_QUEUE=bench-api.jobs TRANSCODER_PROGRESS_QUEUE=bench-api.progress TRANSCODER_LOG_LEVEL=warning
cleanup() {
  [ -n "${API:-}" ] && kill "$API" 2>/dev/null || true
  python3 - <<'PY' || true
import pika
c = pika.BlockingConnection(pika.URLParameters("amqp://guest:guest@localhost:5672/%2f"))
ch = c.channel()
for q in ["bench-api.jobs", "bench-api.jobs.dead", "bench-api.jobs.dead.notify", "bench-api.jobs.cancel",
          "bench-api.progress", "bench-api.progress.results", "bench-api.progress.api", "bench-api.jobs.workers.api"]:
    ch.queue_delete(q)
c.close()
PY
  [ -n "$PG_URL" ] && psql -q "$PG_URL" -c "SET client_min_messages = warning" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" || true
  rm -rf "$WORK"
}
trap cleanup EXIT

start_api() {
  "$BIN" api serve --listen "127.0.0.1:$PORT" --database "$DB" --env-file /nonexistent/.env >"$WORK/api.log" 2>&1 &
  API=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && return; sleep 0.1; done
  cat "$WORK/api.log"; exit 1
}

start_api   # creates the schema
kill "$API"; wait "$API" 2>/dev/null || true
echo "# seeding $JOBS jobs (with a 6-entry timeline each) into $STORE" >&2
python3 - "$DB" "$JOBS" "$WORK" "${PG_URL:+postgres}" <<'PY'
import csv, json, sqlite3, sys, random
db, n, work, postgres = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == "postgres"
states = ["completed"] * 8 + ["failed", "cancelled"]
jobs, events = [], []
for i in range(n):
    jid = f"seed-{i:06d}"
    t = f"2026-{1 + i * 11 // n:02d}-{1 + i % 28:02d}T{i % 24:02d}:00:00.000Z"
    st = random.choice(states)
    body = json.dumps({"job_id": jid, "input_key": f"in/{i % 500}/{jid}.mp4", "output_key": f"out/{jid}.mp4", "preset": "h264-720p"})
    jobs.append((jid, st, "api", f"in/{i % 500}/{jid}.mp4", f"out/{jid}.mp4", "h264-720p", body, 100.0 if st == "completed" else 40.0, t, t, t))
    for k in ["created", "submitted", "queued", "downloading", "transcoding", st]:
        events.append((jid, k, t, json.dumps({"job_id": jid, "state": k})))
if postgres:  # CSV files for psql's \copy
    for name, rows in [("jobs", jobs), ("events", events)]:
        with open(f"{work}/{name}.csv", "w", newline="") as f: csv.writer(f).writerows(rows)
    sys.exit()
c = sqlite3.connect(db)
c.executemany("INSERT INTO jobs (id, state, source, input_key, output_key, preset, body, progress, created_at, updated_at, finished_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)", jobs)
c.executemany("INSERT INTO job_events (job_id, kind, at, data) VALUES (?,?,?,?)", events)
c.commit()
PY
if [ -n "$PG_URL" ]; then
  psql -q -v ON_ERROR_STOP=1 "$PG_URL" <<SQL
SET search_path = $SCHEMA;
\copy jobs (id, state, source, input_key, output_key, preset, body, progress, created_at, updated_at, finished_at) FROM '$WORK/jobs.csv' CSV
\copy job_events (job_id, kind, at, data) FROM '$WORK/events.csv' CSV
ANALYZE jobs;
ANALYZE job_events;
SQL
  echo "# store: $(psql -qtA "$PG_URL" -c "SELECT pg_size_pretty(SUM(pg_total_relation_size(c.oid))) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '$SCHEMA' AND c.relkind = 'r'")" >&2
else
  echo "# store: $(du -h "$DB" | cut -f1)" >&2
fi
start_api
URL="http://127.0.0.1:$PORT"
CURSOR=$(curl -s "$URL/v1/jobs?limit=500" | python3 -c 'import json,sys; print(json.load(sys.stdin)["next_cursor"])')
for i in $(seq 80); do CURSOR=$(curl -s "$URL/v1/jobs?limit=500&cursor=$CURSOR" | python3 -c 'import json,sys; print(json.load(sys.stdin)["next_cursor"])'); done
echo "# $REQUESTS requests per line, $CONCURRENCY clients, release build, ${STORE%% *} store, 100% on one host (2 cores)"
python3 "$ROOT/bench/api_load.py" "$URL" post /v1/jobs "$REQUESTS" "$CONCURRENCY"
python3 "$ROOT/bench/api_load.py" "$URL" get "/v1/jobs?limit=50" "$REQUESTS" "$CONCURRENCY"
python3 "$ROOT/bench/api_load.py" "$URL" get "/v1/jobs?limit=50&state=failed" "$REQUESTS" "$CONCURRENCY"
python3 "$ROOT/bench/api_load.py" "$URL" get "/v1/jobs?limit=50&prefix=in/42/" "$REQUESTS" "$CONCURRENCY"
python3 "$ROOT/bench/api_load.py" "$URL" get "/v1/jobs?limit=50&cursor=$CURSOR" "$REQUESTS" "$CONCURRENCY"
python3 "$ROOT/bench/api_load.py" "$URL" get "/v1/jobs/seed-050000" "$REQUESTS" "$CONCURRENCY"
echo "api peak RSS: $(awk '/VmHWM/ {printf "%.0f MB", $2/1024}' /proc/$API/status)"
# The web console's job list on the same store (headless Chromium; scripts/stack installs it).
python3 "$ROOT/bench/console_render.py" "$URL"
