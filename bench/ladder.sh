#!/usr/bin/env bash
# Benchmark: the HLS ladder (issue 18) made three ways from one input, alternated in one run:
#  (a) ladder   one job, one decode fanned out to every rung: `transcoder run --outputs` with
#               preset hls-ladder (6 s segments);
#  (b) separate the same renditions as one one-output job each (h264-1080p, h264-720p, h264-480p,
#               h264-480p with height 360), run one after the other, each with the rung's bitrate
#               as override (the presets alone encode with CRF 23, about 30 % fewer bits than the
#               ladder in all: not the same work); LADDER_SEPARATE_CRF=1 leaves the presets as they are;
#  (c) ffmpeg   one ffmpeg command: split, one scaler and libx264 veryfast per rung (same bitrates,
#               maxrate = bitrate, bufsize = 0.6 x bitrate, keyframes forced every 6 s), AAC 128k
#               encoded once and muxed into every variant through the tee muxer, HLS VOD 6 s.
# Rungs above the input are dropped in all three, as Ladder.rungs does. Command lines are printed.
# Prints wall time, CPU-seconds (user+sys of the children), peak RSS (medians) and the bitrate of
# all renditions together (so that a cheaper encode cannot pass as a faster engine), and the
# ratios ladder/separate (target <= 0.8 for CPU and wall) and ladder/ffmpeg (aim <= 1.05).
# Input: a generated 60 s 1080p30 testsrc2 clip with a sine tone ($TRANSCODER_MEDIA_DIR or
# .cache/media, made with ffmpeg if missing), or the file given.
#
# usage: bench/ladder.sh [ROUNDS] [INPUT]
#   env: TRANSCODER_BIN=path/to/transcoder (default .build/release/transcoder, built if missing)
#        LADDER_RUNS="ladder separate ffmpeg" (which of the three to run; ffmpeg alone needs no build)
#        LADDER_SEPARATE_CRF=1 (run (b) without the bitrate overrides)
#        KEEP=DIR (keep the last round's outputs in DIR/<run>/, with a master.m3u8 for ffmpeg's)
#        CHECK=1 (check the last round's outputs with Tests/Scripts/check_outputs.py)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ROUNDS="${1:-1}"
MEDIA="${TRANSCODER_MEDIA_DIR:-$ROOT/.cache/media}"
INPUT="${2:-$MEDIA/synthetic_1080p30_60s.mp4}"
read -r -a RUNS <<<"${LADDER_RUNS:-ladder separate ffmpeg}"
SEGMENT=6
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

for tool in ffmpeg ffprobe /usr/bin/time python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done
if [[ " ${RUNS[*]} " == *" ladder "* || " ${RUNS[*]} " == *" separate "* ]]; then
  TRANSCODER_BIN="${TRANSCODER_BIN:-$ROOT/.build/release/transcoder}"
  if [[ ! -x "$TRANSCODER_BIN" ]]; then
    (cd "$ROOT" && swift build -c release --product transcoder >&2)
  fi
fi

if [[ -z "${2:-}" && ! -f "$INPUT" ]]; then
  mkdir -p "$MEDIA"
  echo "generating $INPUT (ffmpeg testsrc2 1920x1080@30 + sine, 60 s)" >&2
  ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=1920x1080:rate=30 \
    -f lavfi -i sine=frequency=440:sample_rate=48000 -t 60 \
    -c:v libx264 -preset veryfast -crf 18 -pix_fmt yuv420p -c:a aac -b:a 192k -ac 2 "$INPUT"
fi
[[ -f "$INPUT" ]] || { echo "missing input $INPUT" >&2; exit 1; }

# The rungs kept for this input (Ladder.rungs: every rung that scales it down, plus the smallest
# one that holds it whole) and their sizes (EncodingPlan.fit): "name width height kbit/s preset" lines.
read -r WIDTH HEIGHT FPS <<<"$(ffprobe -v error -select_streams v:0 -show_entries stream=width,height,avg_frame_rate -of csv=p=0 "$INPUT" | tr ',' ' ')"
HAS_AUDIO="$(ffprobe -v error -select_streams a:0 -show_entries stream=index -of csv=p=0 "$INPUT" | head -1)"
DURATION="$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$INPUT")"
GOP="$(python3 -c "from fractions import Fraction as F; print(max(1, round(F('$FPS') * $SEGMENT)))")"
RUNGS="$(python3 - "$WIDTH" "$HEIGHT" <<'PY'
import sys
w, h = map(int, sys.argv[1:])
ladder = [("1080p", 1920, 1080, 5000, "h264-1080p"), ("720p", 1280, 720, 2800, "h264-720p"),
          ("480p", 854, 480, 1400, "h264-480p"), ("360p", 640, 360, 800, "h264-480p")]
down = [r for r in ladder if w > r[1] or h > r[2]]
holding = min((r for r in ladder if w <= r[1] and h <= r[2]), key=lambda r: r[1] * r[2], default=None)
kept = [r for r in ladder if r in down or r == holding] or ladder[-1:]
def fit(bw, bh):
    s = min(1, bw / w, bh / h)
    e = lambda x: max(2, int(x / 2) * 2)
    return min(e(w * s), bw - bw % 2), min(e(h * s), bh - bh % 2)
for name, bw, bh, kbps, preset in kept:
    print(name, *fit(bw, bh), kbps, preset)
PY
)"

# Arguments quoted for a shell only where they need it, so that printed commands stay readable.
quote() {
  local out=() a
  for a in "$@"; do
    if [[ "$a" =~ ^[A-Za-z0-9_./:=,+%@-]+$ ]]; then out+=("$a")
    elif [[ "$a" == *"'"* && "$a" != *[\$\`\"\!]* && "$a" != *'\\'* && "$a" != *'\' ]]; then out+=("\"$a\"")
    else out+=("'${a//\'/\'\\\'\'}'"); fi
  done
  echo "${out[*]}"
}
ladder_cmd() {
  quote "$TRANSCODER_BIN" run "$1" "$2" --outputs "[{\"key\":\"hls/\",\"preset\":\"hls-ladder\",\"hls\":{\"segment_seconds\":$SEGMENT}}]"
}
separate_cmd() {
  local name w h kbps preset overrides
  while read -r name w h kbps preset; do
    overrides=()
    [[ "$name" == 360p ]] && overrides+=("\"height\":360")
    [[ "${LADDER_SEPARATE_CRF:-}" == 1 ]] || overrides+=("\"bitrate\":$kbps")
    overrides="$(IFS=,; echo "${overrides[*]}")"
    [[ -n "$overrides" ]] && overrides=",\"overrides\":{$overrides}"
    quote "$TRANSCODER_BIN" run "$1" "$2" \
      --outputs "[{\"key\":\"r${name%p}/\",\"preset\":\"$preset\"$overrides,\"hls\":{\"segment_seconds\":$SEGMENT}}]"
  done <<<"$RUNGS"
}
ffmpeg_cmd() {
  local n i=0 name w h kbps preset split="" scales="" maps=() rates=() slaves="" select
  n="$(wc -l <<<"$RUNGS")"
  while read -r name w h kbps preset; do
    split+="[s$i]"
    scales+=";[s$i]scale=$w:$h[v$i]"
    maps+=(-map "[v$i]")
    rates+=("-b:v:$i" "${kbps}k" "-maxrate:v:$i" "${kbps}k" "-bufsize:v:$i" "$((kbps * 6 / 10))k")
    select="v:$i"; [[ -n "$HAS_AUDIO" ]] && select+=",a"
    slaves+="${slaves:+|}[select=\\'$select\\':f=hls:hls_time=$SEGMENT:hls_playlist_type=vod:hls_flags=independent_segments"
    slaves+=":hls_segment_filename=$2/$name/seg%05d.ts]$2/$name/index.m3u8"
    i=$((i + 1))
  done <<<"$RUNGS"
  local audio=()
  [[ -n "$HAS_AUDIO" ]] && audio=(-map 0:a:0 -c:a aac -b:a 128k)
  quote ffmpeg -hide_banner -loglevel error -y -i "$1" -filter_complex "[0:v]split=$n$split$scales" "${maps[@]}" \
    -c:v libx264 -preset veryfast -pix_fmt yuv420p -g "$GOP" -sc_threshold 0 -force_key_frames "expr:gte(t,n_forced*$SEGMENT)" \
    "${rates[@]}" "${audio[@]}" -f tee "$slaves"
}
# ffmpeg's tee writes no master playlist: one with the attributes the engine writes, from the segments.
write_master() {
  python3 - "$1" <<'PY'
import json, os, re, subprocess, sys
out = sys.argv[1]
rungs = sorted((d for d in os.listdir(out) if os.path.isfile(os.path.join(out, d, "index.m3u8"))), key=lambda d: -int(re.sub(r"\D", "", d) or 0))
lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
for rung in rungs:
    segs, dur, target = [], 0.0, 6
    for line in open(os.path.join(out, rung, "index.m3u8")):
        line = line.strip()
        if line.startswith("#EXT-X-TARGETDURATION:"):
            target = int(line.split(":")[1])
        elif line.startswith("#EXTINF:"):
            dur = float(line[8:].split(",")[0])
        elif line and not line.startswith("#"):
            segs.append((os.path.getsize(os.path.join(out, rung, line)), dur, line))
    peak = 0.0   # peak segment bit rate: any run of segments lasting 0.5-1.5 x the target duration
    for i in range(len(segs)):
        b = d = 0
        for size, sd, _ in segs[i:]:
            b, d = b + size, d + sd
            if d > 1.5 * target: break
            if d >= 0.5 * target: peak = max(peak, b * 8 / d)
    average = sum(s[0] for s in segs) * 8 / sum(s[1] for s in segs)
    probe = json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,profile,level,width,height,avg_frame_rate",
                                       "-of", "json", os.path.join(out, rung, segs[0][2])], capture_output=True).stdout)["streams"]
    v = next(s for s in probe if s["codec_type"] == "video")
    profile = {"High": "6400", "Main": "4d40", "Constrained Baseline": "42e0", "Baseline": "4200"}[v["profile"]]
    codecs = f"avc1.{profile}{v['level']:02x}" + (",mp4a.40.2" if any(s["codec_type"] == "audio" for s in probe) else "")
    num, den = map(int, v["avg_frame_rate"].split("/"))
    lines += [f'#EXT-X-STREAM-INF:BANDWIDTH={int(peak) + 1},AVERAGE-BANDWIDTH={round(average)},RESOLUTION={v["width"]}x{v["height"]},'
              f'CODECS="{codecs}",FRAME-RATE={num / den:.3f}', f"{rung}/index.m3u8"]
with open(os.path.join(out, "master.m3u8"), "w") as f:
    f.write("\n".join(lines) + "\n")
PY
}

echo "input: $INPUT (${WIDTH}x${HEIGHT}, $FPS fps, ${DURATION} s)"
echo "rungs: $(awk '{printf "%s%s %sx%s %s kbit/s", (NR > 1 ? ", " : ""), $1, $2, $3, $4}' <<<"$RUNGS")"
for tool in "${RUNS[@]}"; do
  case "$tool" in ladder|separate|ffmpeg) ;; *) echo "unknown run '$tool' in LADDER_RUNS (ladder, separate, ffmpeg)" >&2; exit 1;; esac
  echo "$tool:"; "${tool}_cmd" '<input>' '<outdir>' | sed 's/^/  /'
done

RESULTS="$WORK/results.tsv"
for round in $(seq 1 "$ROUNDS"); do
  for tool in "${RUNS[@]}"; do
    out="$WORK/$tool"
    rm -rf "$out"; mkdir -p "$out"
    [[ "$tool" == ffmpeg ]] && while read -r name _; do mkdir -p "$out/$name"; done <<<"$RUNGS"
    { echo "set -e"; "${tool}_cmd" "$INPUT" "$out"; } >"$WORK/run.sh"
    if ! /usr/bin/time -f "%e %U %S %M" -o "$WORK/time" bash "$WORK/run.sh" >/dev/null 2>"$WORK/stderr"; then
      echo "round $round $tool failed:" >&2; tail -5 "$WORK/stderr" >&2; exit 1
    fi
    bytes="$(find "$out" -name '*.ts' -printf '%s\n' | awk '{s += $1} END {print s + 0}')"
    segments="$(find "$out" -name '*.ts' | wc -l)"
    echo -e "$tool\t$(tail -1 "$WORK/time" | tr ' ' '\t')\t$bytes\t$segments" >>"$RESULTS"
    echo "  round $round $tool: $(tail -1 "$WORK/time") ts_bytes=$bytes segments=$segments" >&2
  done
done

[[ " ${RUNS[*]} " == *" ffmpeg "* ]] && write_master "$WORK/ffmpeg"
if [[ "${CHECK:-}" == 1 ]]; then
  for tool in "${RUNS[@]}"; do
    case "$tool" in
      ladder) targets=("hls/");;
      separate) targets=(); while read -r name _; do targets+=("r${name%p}/"); done <<<"$RUNGS";;
      ffmpeg) targets=("");;
    esac
    for prefix in "${targets[@]}"; do
      echo "check_outputs.py $tool ${prefix:-(root)}:"
      python3 "$ROOT/Tests/Scripts/check_outputs.py" --dir "$WORK/$tool" ${prefix:+--prefix "$prefix"} \
        hls --input "$INPUT" --segment-seconds "$SEGMENT" 2>&1 | sed 's/^/  /' || true
    done
  done
fi
if [[ -n "${KEEP:-}" ]]; then
  mkdir -p "$KEEP"
  for tool in "${RUNS[@]}"; do rm -rf "${KEEP:?}/$tool"; cp -r "$WORK/$tool" "$KEEP/$tool"; done
  echo "outputs kept in $KEEP" >&2
fi

python3 - "$RESULTS" "$DURATION" <<'PY'
import sys, statistics as st
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
duration = float(sys.argv[2])
data = {}
for tool, wall, user, sys_, rss, ts_bytes, segments in rows:
    data.setdefault(tool, []).append((float(wall), float(user) + float(sys_), int(rss) / 1024, int(ts_bytes) * 8 / duration / 1000, int(segments)))
rounds = len(next(iter(data.values())))
print(f"\n{'run':9} {'wall s':>7} {'CPU s':>7} {'peak MB':>8} {'kbit/s':>7} {'segments':>8}   (medians of {rounds}; kbit/s: all renditions' segments)")
med = {t: tuple(st.median(x[i] for x in v) for i in range(5)) for t, v in data.items()}
for t in ("ladder", "separate", "ffmpeg"):
    if t in med:
        w, c, m, b, n = med[t]
        print(f"{t:9} {w:7.2f} {c:7.2f} {m:8.0f} {b:7.0f} {int(n):8d}")
for ref, target in (("separate", "target <= 0.80"), ("ffmpeg", "aim <= 1.05")):
    if "ladder" in med and ref in med and min(med[ref][:2]) > 0:
        e, r = med["ladder"], med[ref]
        print(f"ladder/{ref:8} CPU x{e[1]/r[1]:.3f}  wall x{e[0]/r[0]:.3f}  peak RSS x{e[2]/r[2]:.3f}  kbit/s x{e[3]/r[3]:.3f}   ({target} for CPU and wall)")
PY
