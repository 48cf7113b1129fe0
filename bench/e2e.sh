#!/usr/bin/env bash
# Benchmark the whole service (issue 5), printed side by side in one run:
#  (a) submit -> completed through a real worker vs gst-launch-1.0 running the same pipeline
#      on the local file (trailer 55 s 720p, generated 60 s 1080p), alternated;
#  (b) dispatch latency submit -> first progress message over 100 tiny jobs;
#  (c) worker idle and peak RSS and the job child's peak RSS during a 1080p job vs the engine alone (`transcoder run`).
# Needs the stack (scripts/stack up). usage: bench/e2e.sh [ROUNDS]   env: TRANSCODER_BIN (else built in release)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
if [[ -z "${TRANSCODER_BIN:-}" ]]; then
  swift build -c release --product transcoder 2>&1 | grep -v "prohibited flag" >&2
  TRANSCODER_BIN="$(swift build -c release --show-bin-path)/transcoder"
fi
BIN="$TRANSCODER_BIN"
scripts/fetch-media >/dev/null
CACHE="$ROOT/.cache/bench"; mkdir -p "$CACHE"
SYNTH="$CACHE/synthetic_1080p30_60s.mp4"
if [[ ! -f "$SYNTH" ]]; then
  ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=1920x1080:rate=30 \
    -f lavfi -i sine=frequency=440:sample_rate=48000 -t 60 \
    -c:v libx264 -preset veryfast -crf 18 -pix_fmt yuv420p -c:a aac -b:a 192k -ac 2 "$SYNTH"
fi
TINY="$CACHE/tiny_1s.mp4"
[[ -f "$TINY" ]] || ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=64x64:rate=10 -t 1 \
  -c:v libx264 -preset ultrafast "$TINY"
export AMQP_URL=${AMQP_URL:-amqp://guest:guest@localhost:5672/%2f}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-AKIACEPHTEST00000000}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-cephtestsecretcephtestsecret0000000000000}
export AWS_S3_ENDPOINT_URL=${AWS_S3_ENDPOINT_URL:-http://127.0.0.1:7480}
exec python3 bench/e2e.py "$BIN" "${1:-3}" "$ROOT/.cache/media/trailer_bbb.mp4" "$SYNTH" "$TINY"
