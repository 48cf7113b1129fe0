#!/usr/bin/env bash
# Our RabbitMQ client (amqp-bench) against pika, in one run on the same broker (loopback):
# persistent 1 KB messages, publish with pipelined confirms, then consume + ack.
# Prints msgs/s and client CPU per message (getrusage of each client process) and the ratios.
#   bench/amqp.sh [COUNT]            env: AMQP_URL, AMQP_BENCH_BIN (prebuilt binary), INFLIGHT, PREFETCH
# Needs the broker (scripts/stack up) and pika (pip install pika==1.3.2).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
COUNT=${1:-20000}
URL=${AMQP_URL:-amqp://guest:guest@localhost:5672/%2f}
INFLIGHT=${INFLIGHT:-256}
PREFETCH=${PREFETCH:-256}
BIN=${AMQP_BENCH_BIN:-}
if [ -z "$BIN" ]; then
  swift build -c release --product amqp-bench --package-path "$ROOT" >&2
  BIN=$(swift build -c release --package-path "$ROOT" --show-bin-path)/amqp-bench
fi
python3 -c 'import pika' 2>/dev/null || { echo "pika missing: pip install pika==1.3.2" >&2; exit 1; }

echo "# $COUNT persistent 1 KB messages, $INFLIGHT confirms in flight, prefetch $PREFETCH, $URL" | sed 's#//[^:]*:[^@]*@#//***@#'
OURS=$("$BIN" --url "$URL" --count "$COUNT" --size 1024 --inflight "$INFLIGHT" --prefetch "$PREFETCH" 2>/dev/null)
PIKA=$(python3 "$ROOT/bench/amqp_pika.py" --url "$URL" --count "$COUNT" --size 1024 --inflight "$INFLIGHT" --prefetch "$PREFETCH")
echo "$OURS"
echo "$PIKA"
field() { sed -n "s/.*$2 *msgs=[0-9]* rate=\([0-9.]*\) msg\/s cpu_us_per_msg=\([0-9.]*\).*/\\$3/p" <<<"$1"; }
for phase in publish consume; do
  r1=$(field "$OURS" "$phase" 1); c1=$(field "$OURS" "$phase" 2)
  r2=$(field "$PIKA" "$phase" 1); c2=$(field "$PIKA" "$phase" 2)
  awk -v p="$phase" -v r1="$r1" -v r2="$r2" -v c1="$c1" -v c2="$c2" 'BEGIN {
    printf "%-8s throughput swift/pika = %.2fx (target >= 1)   cpu per msg swift/pika = %.2f (target <= 0.20)\n", p, r1/r2, c1/c2 }'
done
