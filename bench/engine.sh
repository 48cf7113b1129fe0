#!/usr/bin/env bash
# Benchmark: the Transcoding engine (engine-bench) vs gst-launch-1.0 vs ffmpeg, same input and
# settings (H.264 x264 veryfast CRF 23 fit in 1280x720, AAC 128k, MP4), alternated in one run.
# x264enc gets the two properties that make its CRF the same as ffmpeg's (no 2 Mbit/s VBV cap,
# keyframes every 250): the x264 option strings of the three outputs are compared and printed.
# Inputs: the 55 s 720p trailer (.cache/media) and a generated 60 s 1080p30 clip (.cache/bench).
# Prints wall time, frames per CPU-second (user+sys of the child) and peak RSS (medians), and ratios.
#
# usage: bench/engine.sh [ROUNDS]      env: ENGINE_BENCH=path/to/engine-bench (else built as below)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ROUNDS="${1:-3}"
MEDIA="${TRANSCODER_MEDIA_DIR:-$ROOT/.cache/media}"
CACHE="$ROOT/.cache/bench"
mkdir -p "$CACHE"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# Built as deploy/Dockerfile builds the worker: release, Swift runtime linked statically
# (its shared libraries cost about 4 MB of resident pages per process).
if [[ -z "${ENGINE_BENCH:-}" ]]; then
  BUILD=(swift build -c release --product engine-bench --static-swift-stdlib --scratch-path "$ROOT/.build-static")
  (cd "$ROOT" && "${BUILD[@]}" >&2)
  ENGINE_BENCH="$(cd "$ROOT" && "${BUILD[@]}" --show-bin-path)/engine-bench"
fi
for tool in gst-launch-1.0 ffmpeg ffprobe /usr/bin/time python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done

TRAILER="$MEDIA/trailer_bbb.mp4"
[[ -f "$TRAILER" ]] || { echo "missing $TRAILER: run scripts/fetch-media" >&2; exit 1; }
SYNTH="$CACHE/synthetic_1080p30_60s.mp4"
if [[ ! -f "$SYNTH" ]]; then
  echo "generating $SYNTH (ffmpeg testsrc2 1920x1080@30 + sine, 60 s)" >&2
  ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=1920x1080:rate=30 \
    -f lavfi -i sine=frequency=440:sample_rate=48000 -t 60 \
    -c:v libx264 -preset veryfast -crf 18 -pix_fmt yuv420p -c:a aac -b:a 192k -ac 2 "$SYNTH"
fi

run_engine() {
  "$ENGINE_BENCH" "$1" "$2" --preset h264-720p --crf 23 --speed veryfast --quiet >/dev/null
}
run_gst() {
  gst-launch-1.0 -q filesrc location="$1" ! decodebin name=d \
    d. ! queue ! videoconvert ! videoscale ! 'video/x-raw,width=1280,height=720' \
       ! x264enc speed-preset=veryfast pass=qual quantizer=23 key-int-max=250 vbv-buf-capacity=0 ! h264parse ! mp4mux name=m ! filesink location="$2" \
    d. ! queue ! audioconvert ! audioresample ! avenc_aac bitrate=128000 ! aacparse ! m. >/dev/null
}
run_ffmpeg() {
  ffmpeg -hide_banner -loglevel error -y -i "$1" \
    -vf 'scale=w=1280:h=720:force_original_aspect_ratio=decrease' \
    -c:v libx264 -preset veryfast -crf 23 -c:a aac -b:a 128k "$2"
}

RESULTS="$WORK/results.tsv"
for input in "$TRAILER" "$SYNTH"; do
  label="$(basename "$input" .mp4)"
  for round in $(seq 1 "$ROUNDS"); do
    for tool in engine gst ffmpeg; do
      out="$WORK/$label-$tool-$round.mp4"
      /usr/bin/time -f "%e %U %S %M" -o "$WORK/time" bash -c "$(declare -f run_$tool); ENGINE_BENCH='$ENGINE_BENCH' run_$tool '$input' '$out'"
      frames="$(ffprobe -v error -select_streams v:0 -count_packets -show_entries stream=nb_read_packets -of csv=p=0 "$out")"
      echo -e "$label\t$tool\t$round\t$(cat "$WORK/time" | tail -1 | tr ' ' '\t')\t$frames" >>"$RESULTS"
      # x264 writes its settings into the stream (SEI); identical strings mean identical encoding work.
      { grep -a -m1 -o 'x264 - core[[:print:]]*' "$out" || true; } | sed 's/.*options: //' | tr ' ' '\n' >"$WORK/$label-$tool.x264"
      echo "  $label round $round $tool: $(tail -1 "$WORK/time") frames=$frames" >&2
    done
  done
done

for input in "$TRAILER" "$SYNTH"; do
  label="$(basename "$input" .mp4)"
  for tool in gst ffmpeg; do
    d="$(diff "$WORK/$label-engine.x264" "$WORK/$label-$tool.x264" | grep '^[<>]' | tr '\n' ' ' || true)"
    if [[ -z "$d" ]]; then
      echo "$label: x264 settings of engine and $tool identical"
    else
      echo "$label: x264 settings of engine and $tool differ: $d"
    fi
  done
done
python3 - "$RESULTS" <<'PY'
import sys, statistics as st
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
data = {}
for label, tool, rnd, wall, user, sys_, rss, frames in rows:
    cpu = float(user) + float(sys_)
    data.setdefault(label, {}).setdefault(tool, []).append((float(wall), int(frames) / cpu, int(rss) / 1024, int(frames)))
print(f"{'input':28} {'tool':8} {'wall s':>8} {'fps/CPU-s':>10} {'peak MB':>8} {'frames':>7}   (medians of {len(next(iter(next(iter(data.values())).values())))})")
for label, tools in data.items():
    med = {t: tuple(st.median(x[i] for x in v) for i in range(4)) for t, v in tools.items()}
    for t in ("engine", "gst", "ffmpeg"):
        w, f, m, n = med[t]
        print(f"{label:28} {t:8} {w:8.2f} {f:10.2f} {m:8.0f} {int(n):7d}")
    e = med["engine"]
    for ref in ("gst", "ffmpeg"):
        r = med[ref]
        print(f"{label:28} engine/{ref:7} wall x{e[0]/r[0]:.3f}  fps/CPU-s x{e[1]/r[1]:.3f}  peak RSS x{e[2]/r[2]:.3f}")
PY
