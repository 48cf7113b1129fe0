#!/usr/bin/env bash
# Segmented jobs (issue 19): one 10-minute 1080p input, publish -> completed, split and join
# included, on 1 worker pinned to one core (the job unsegmented, then segmented) against
# 2 workers pinned to one core each (segmented). Prints the speedup, where the time goes
# (split, part encodes, join, transfers), the serial fraction, per-part bitrates next to the
# unsegmented encode's, and a model of larger pools. Needs the stack (scripts/stack up) and 2 cores.
# usage: bench/segments.sh [MINUTES] [SEGMENT_SECONDS]   env: TRANSCODER_BIN (else built in release)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
if [[ -z "${TRANSCODER_BIN:-}" ]]; then
  swift build -c release --product transcoder 2>&1 | grep -v "prohibited flag" >&2
  TRANSCODER_BIN="$(swift build -c release --show-bin-path)/transcoder"
fi
MINUTES=${1:-10}
CACHE="$ROOT/.cache/bench"; mkdir -p "$CACHE"
INPUT="$CACHE/synthetic_1080p30_${MINUTES}min.mp4"
if [[ ! -f "$INPUT" ]]; then
  echo "generating $MINUTES min of 1080p30 with sound (testsrc2, x264 veryfast CRF 18, keyframe every 2 s)" >&2
  ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=1920x1080:rate=30 \
    -f lavfi -i sine=frequency=440:sample_rate=48000 -t $((MINUTES * 60)) \
    -c:v libx264 -preset veryfast -crf 18 -g 60 -pix_fmt yuv420p -c:a aac -b:a 128k -ac 2 "$INPUT"
fi
export AMQP_URL=${AMQP_URL:-amqp://guest:guest@localhost:5672/%2f}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-AKIACEPHTEST00000000}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-cephtestsecretcephtestsecret0000000000000}
export AWS_S3_ENDPOINT_URL=${AWS_S3_ENDPOINT_URL:-http://127.0.0.1:7480}
exec python3 bench/segments.py "$TRANSCODER_BIN" "$INPUT" "${2:-30}"
