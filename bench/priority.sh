#!/usr/bin/env bash
# Priority lanes (docs/priorities.md), measured on the real broker with real workers:
#  (a) broker CPU while N workers sit idle polling the lanes (N = 0, 10, 30), per TRANSCODER_IDLE_POLL_MS;
#  (b) pickup delay of an idle worker (publish -> its `queued` message) vs a raw pika consumer
#      on a plain queue (publish -> delivery), the push baseline;
#  (c) where a high job published behind 200 normal ones starts (1 = first).
# Needs the stack (scripts/stack up). usage: bench/priority.sh [IDLE_POLL_MS...]   env: TRANSCODER_BIN
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
if [[ -z "${TRANSCODER_BIN:-}" ]]; then
  swift build -c release --product transcoder 2>&1 | grep -v "prohibited flag" >&2
  TRANSCODER_BIN="$(swift build -c release --show-bin-path)/transcoder"
fi
export AMQP_URL=${AMQP_URL:-amqp://guest:guest@localhost:5672/%2f}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-AKIACEPHTEST00000000}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-cephtestsecretcephtestsecret0000000000000}
export AWS_S3_ENDPOINT_URL=${AWS_S3_ENDPOINT_URL:-http://127.0.0.1:7480}
exec python3 bench/priority.py "$TRANSCODER_BIN" "${@:-200}"
