#!/usr/bin/env bash
# S3 transfer benchmark: our client (s3-bench) against boto3, same radosgw, same object,
# same part size and concurrency, alternated in one run. Prints MB/s, peak RSS and ratios.
#   bench/s3.sh                      # 500 MB, 16 MiB parts, concurrency 4, 2 rounds
#   SIZE_MB=200 ROUNDS=3 bench/s3.sh
# Env: AWS_S3_ENDPOINT_URL (default http://127.0.0.1:7480), AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
# S3_PART_SIZE, S3_CONCURRENCY; S3_BENCH_BIN to use an already built s3-bench.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIZE_MB=${SIZE_MB:-500}
ROUNDS=${ROUNDS:-2}
export AWS_S3_ENDPOINT_URL=${AWS_S3_ENDPOINT_URL:-http://127.0.0.1:7480}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-AKIACEPHTEST00000000}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-cephtestsecretcephtestsecret0000000000000}
export AWS_REGION=${AWS_REGION:-us-east-1}
export S3_PART_SIZE=${S3_PART_SIZE:-$((16 * 1024 * 1024))}
export S3_CONCURRENCY=${S3_CONCURRENCY:-4}
export S3_BUCKET_NAME=${S3_BENCH_BUCKET:-s3bench-$$}

if [ -z "${S3_BENCH_BIN:-}" ]; then
  (cd "$ROOT" && swift build -c release --product s3-bench >&2)
  S3_BENCH_BIN="$ROOT/.build/release/s3-bench"
fi
BOTO="python3 $ROOT/bench/s3_boto.py"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"; $BOTO rm bench-ours >/dev/null 2>&1 || true; $BOTO rm bench-boto >/dev/null 2>&1 || true; $BOTO rmbucket >/dev/null 2>&1 || true' EXIT

curl -sf -o /dev/null "$AWS_S3_ENDPOINT_URL/" || { echo "S3 endpoint $AWS_S3_ENDPOINT_URL not reachable (scripts/stack up)" >&2; exit 1; }
$BOTO mkbucket >/dev/null
head -c $((SIZE_MB * 1000 * 1000)) /dev/urandom > "$WORK/src"
BYTES=$(stat -c %s "$WORK/src")
SUM=$(sha256sum "$WORK/src" | cut -c1-64)

# run NAME CMD...: appends "<seconds> <peak RSS KiB>" to $WORK/NAME
run() {
  local name=$1; shift
  /usr/bin/time -f "%M" -o "$WORK/time" "$@" > "$WORK/out"
  local secs; secs=$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' "$WORK/out")
  echo "$secs $(tail -1 "$WORK/time")" >> "$WORK/$name"
}

for r in $(seq 1 "$ROUNDS"); do
  rm -f "$WORK/dl"; sync
  run ours-up "$S3_BENCH_BIN" upload "$WORK/src" bench-ours
  run boto-up $BOTO upload "$WORK/src" bench-boto
  run ours-down "$S3_BENCH_BIN" download bench-ours "$WORK/dl"
  [ "$(sha256sum "$WORK/dl" | cut -c1-64)" = "$SUM" ] || { echo "ours: downloaded file differs" >&2; exit 1; }
  rm -f "$WORK/dl"
  run boto-down $BOTO download bench-boto "$WORK/dl"
  [ "$(sha256sum "$WORK/dl" | cut -c1-64)" = "$SUM" ] || { echo "boto3: downloaded file differs" >&2; exit 1; }
  rm -f "$WORK/dl"
done

# best-of-rounds throughput (MB/s, 10^6 bytes) and max peak RSS (MiB)
stat_of() { awk -v b="$BYTES" '{ mbs = b / 1e6 / $1; if (mbs > best) best = mbs; if ($2 > rss) rss = $2 } END { printf "%.1f %.1f", best, rss / 1024 }' "$WORK/$1"; }
echo "S3 benchmark: ${SIZE_MB} MB object, part size $((S3_PART_SIZE / 1048576)) MiB, concurrency $S3_CONCURRENCY, $ROUNDS rounds alternated, endpoint $AWS_S3_ENDPOINT_URL"
printf "%-10s %-8s %10s %14s\n" client dir "MB/s(best)" "peak RSS MiB"
for d in up down; do
  for c in ours boto; do
    read -r mbs rss <<< "$(stat_of $c-$d)"
    printf "%-10s %-8s %10s %14s\n" "$c" "$d" "$mbs" "$rss"
  done
done
for d in up down; do
  read -r om orss <<< "$(stat_of ours-$d)"; read -r bm brss <<< "$(stat_of boto-$d)"
  echo "ratio $d: throughput ours/boto3 = $(awk -v a="$om" -v b="$bm" 'BEGIN{printf "%.2f", a/b}'), peak RSS ours/boto3 = $(awk -v a="$orss" -v b="$brss" 'BEGIN{printf "%.2f", a/b}')"
done
