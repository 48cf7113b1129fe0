#!/usr/bin/env bash
# Benchmark: every preset through the engine (engine-bench) against the ffmpeg command a user
# would pick for the same output: same encoder library, rate control, speed setting and size
# (fit in the preset's box, never upscaled), same audio codec and bitrate. Alternated in one
# run on the same input; both command lines are printed.
# Per preset: wall time, frames per CPU-second (user+sys), peak RSS, output bitrate, and SSIM
# of the output against the source scaled to the output's size, or for audio the
# signal-to-distortion ratio against the source (so that a faster setting cannot pass as a
# faster engine).
# Inputs: the 55 s 720p trailer (.cache/media) for video presets; for audio presets its sound
# track looped to 5.5 min (stream copy), so that the encoder, not process start, is measured.
#
# usage: bench/presets.sh [ROUNDS] [PRESET...]   env: ENGINE_BENCH=path/to/engine-bench (else built)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ROUNDS="${1:-1}"; shift || true
PRESETS=("$@")
[[ ${#PRESETS[@]} -gt 0 ]] || PRESETS=(h264-1080p h264-720p h264-480p hevc-720p vp9-720p av1-720p aac-audio opus-audio)
MEDIA="${TRANSCODER_MEDIA_DIR:-$ROOT/.cache/media}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
if [[ -z "${ENGINE_BENCH:-}" ]]; then
  BUILD=(swift build -c release --product engine-bench --static-swift-stdlib --scratch-path "$ROOT/.build-static")
  (cd "$ROOT" && "${BUILD[@]}" >&2)
  ENGINE_BENCH="$(cd "$ROOT" && "${BUILD[@]}" --show-bin-path)/engine-bench"
fi
VIDEO_INPUT="$MEDIA/trailer_bbb.mp4"
AUDIO_INPUT="$WORK/audio.mp4"
ffmpeg -hide_banner -loglevel error -y -stream_loop 5 -i "$VIDEO_INPUT" -vn -c copy "$AUDIO_INPUT"
THREADS="$(nproc)"

# The preset's box and encoder settings, as EncodingPlan.videoEncoder sets them.
box() { case "$1" in h264-1080p) echo 1920 1080;; h264-480p) echo 854 480;; *-audio) echo 0 0;; *) echo 1280 720;; esac; }
ext() { case "$1" in vp9-*) echo webm;; aac-audio) echo m4a;; opus-audio) echo opus;; *) echo mp4;; esac; }
ffmpeg_codecs() {
  case "$1" in
    h264-*) echo "-c:v libx264 -preset veryfast -crf 23 -g 250 -c:a aac -b:a 128k";;
    hevc-720p) echo "-c:v libx265 -preset veryfast -crf 28 -x265-params log-level=error -c:a aac -b:a 128k";;
    # Constrained quality: vp9enc has no pure-quality mode (`-b:v 0`).
    vp9-720p) echo "-c:v libvpx-vp9 -deadline realtime -cpu-used 6 -row-mt 1 -threads $THREADS -crf 32 -b:v 2000k -c:a libopus -b:a 128k";;
    # ffmpeg 5.1 keeps libaom's realtime default of CBR (no option selects VBR there); the engine
    # runs VBR at the same target: bitrate and SSIM come out within 0.1 % of each other.
    av1-720p) echo "-c:v libaom-av1 -usage realtime -cpu-used 8 -row-mt 1 -threads $THREADS -b:v 1500k -qmax 63 -g 250 -c:a aac -b:a 128k";;
    aac-audio) echo "-vn -c:a aac -b:a 128k";;
    opus-audio) echo "-vn -c:a libopus -b:a 96k";;
  esac
}
# The engine's size for the input in a box: aspect kept, never upscaled, even (EncodingPlan.fit).
SOURCE_SIZE="$(ffprobe -v error -select_streams v:0 -show_entries stream=width,height -of csv=p=0 "$VIDEO_INPUT" | tr ',' ' ')"
fit() {
  python3 -c "import sys; iw, ih, bw, bh = map(int, sys.argv[1:]); s = min(1, bw / iw, bh / ih)
e = lambda x: max(2, int(x / 2) * 2); print(min(e(iw * s), bw - bw % 2), min(e(ih * s), bh - bh % 2))" $SOURCE_SIZE "$@"
}
ffmpeg_cmd() {
  read -r w h <<<"$(box "$1")"
  local scale=""
  [[ "$w" != 0 ]] && scale="-vf scale=$(fit "$w" "$h" | tr ' ' ':')"
  echo "ffmpeg -hide_banner -loglevel error -y -i $2 $scale $(ffmpeg_codecs "$1") $3"
}
engine_cmd() { echo "$ENGINE_BENCH $2 $3 --preset $1 --quiet"; }

# Audio quality: signal-to-distortion ratio (ffmpeg's asdr, mean of the channels) of the decoded
# output against the source at the source's rate, best of lags -2..2 samples (the engine's
# decoder and ffmpeg's apply the input's edit list one sample apart), over the first 50 s: the
# looped input's seams overlap in time, and demuxers resolve that differently.
audio_sdr() {
  local out="$1" src="$2" rate best="" lag a b sdr
  rate="$(ffprobe -v error -select_streams a:0 -show_entries stream=sample_rate -of csv=p=0 "$src")"
  for lag in -2 -1 0 1 2; do
    a=$(( lag > 0 ? lag : 0 )); b=$(( lag < 0 ? -lag : 0 ))
    sdr="$(ffmpeg -hide_banner -i "$out" -i "$src" -lavfi \
      "[0:a]aresample=$rate,aformat=sample_fmts=flt:channel_layouts=stereo,atrim=start_sample=$a,asetpts=PTS-STARTPTS,atrim=end=50[a];[1:a]aformat=sample_fmts=flt:channel_layouts=stereo,atrim=start_sample=$b,asetpts=PTS-STARTPTS,atrim=end=50[b];[a][b]asdr" \
      -f null - 2>&1 | grep -o 'SDR ch[0-9]*: [-0-9.]*' | awk '{s += $3; n++} END {if (n) printf "%.2f", s / n}')"
    [[ -n "$sdr" ]] || continue
    if [[ -z "$best" ]] || awk "BEGIN {exit !($sdr > $best)}"; then best="$sdr"; fi
  done
  echo "${best:--}"
}

RESULTS="$WORK/results.tsv"
for preset in "${PRESETS[@]}"; do
  echo "$preset engine: $(engine_cmd "$preset" '<input>' "<out>.$(ext "$preset")")"
  echo "$preset ffmpeg: $(ffmpeg_cmd "$preset" '<input>' "<out>.$(ext "$preset")")"
  input="$VIDEO_INPUT"; [[ "$(box "$preset")" == "0 0" ]] && input="$AUDIO_INPUT"
  for round in $(seq 1 "$ROUNDS"); do
    for tool in engine ffmpeg; do
      out="$WORK/$preset-$tool.$(ext "$preset")"
      cmd="$(${tool}_cmd "$preset" "$input" "$out")"
      /usr/bin/time -f "%e %U %S %M" -o "$WORK/time" bash -c "$cmd >/dev/null"
      frames="$(ffprobe -v error -select_streams v:0 -count_packets -show_entries stream=nb_read_packets -of csv=p=0 "$out" || true)"
      bitrate="$(ffprobe -v error -show_entries format=bit_rate -of csv=p=0 "$out")"
      ssim="-"
      units="$frames"   # frames, or for audio the seconds of sound encoded
      [[ -n "$frames" ]] || units="$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$out")"
      if [[ -n "$frames" ]]; then
        size="$(ffprobe -v error -select_streams v:0 -show_entries stream=width,height -of csv=s=x:p=0 "$out")"
        ssim="$(ffmpeg -hide_banner -i "$out" -i "$input" -lavfi "[1:v]scale=${size/x/:}:flags=bicubic[ref];[0:v][ref]ssim" -f null - 2>&1 \
                 | grep -o 'All:[0-9.]*' | cut -d: -f2 || echo -)"
      elif [[ "$round" == 1 ]]; then
        ssim="$(audio_sdr "$out" "$input")"; echo "$ssim" >"$WORK/$preset-$tool.sdr"
      else
        ssim="$(cat "$WORK/$preset-$tool.sdr")"   # the same settings give the same output every round
      fi
      echo -e "$preset\t$tool\t$(tail -1 "$WORK/time" | tr ' ' '\t')\t$units\t$bitrate\t$ssim" >>"$RESULTS"
      # x264 and x265 write their settings into the stream (SEI): identical strings, identical encoding work.
      { grep -a -m1 -o 'options: [[:print:]]*' "$out" || true; } | sed 's/^options: //' | tr ' ' '\n' >"$WORK/$preset-$tool.settings"
      echo "  $preset round $round $tool: $(tail -1 "$WORK/time") frames=${frames:-0} bitrate=$bitrate ssim=$ssim" >&2
    done
  done
done

for preset in "${PRESETS[@]}"; do
  [[ -s "$WORK/$preset-engine.settings" ]] || continue
  # Headers and colour/aspect tags describe the stream; they do not change the encoding work.
  d="$(diff "$WORK/$preset-engine.settings" "$WORK/$preset-ffmpeg.settings" | grep '^[<>]' \
       | grep -Ev '(repeat-headers|sar|colorprim|transfer|colormatrix|chromaloc|^[<>] :$)' | tr '\n' ' ' || true)"
  echo "$preset: encoder settings of engine and ffmpeg ${d:+differ: }${d:-identical (apart from stream tags)}"
done
python3 - "$RESULTS" <<'PY'
import sys, statistics as st
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
data = {}
for preset, tool, wall, user, sys_, rss, frames, bitrate, ssim in rows:
    cpu = float(user) + float(sys_)
    data.setdefault(preset, {}).setdefault(tool, []).append(
        (float(wall), float(frames) / cpu, int(rss) / 1024, int(bitrate) / 1000,
         float(ssim) if ssim not in ("-", "") else float("nan")))
print(f"\n{'preset':12} {'tool':7} {'wall s':>7} {'fps/CPU-s':>10} {'peak MB':>8} {'kbit/s':>7} {'SSIM':>7}   (audio: seconds of sound per CPU-s, SDR in dB)")
for preset, tools in data.items():
    med = {t: tuple(st.median(x[i] for x in v) for i in range(5)) for t, v in tools.items()}
    for t in ("engine", "ffmpeg"):
        w, f, m, b, s = med[t]
        print(f"{preset:12} {t:7} {w:7.2f} {f:10.2f} {m:8.0f} {b:7.0f} {s:7.4f}")
    e, r = med["engine"], med["ffmpeg"]
    quality = f"SDR {e[4]-r[4]:+.2f} dB" if preset.endswith("-audio") else f"SSIM {e[4]-r[4]:+.4f}"
    print(f"{preset:12} ratio   wall x{e[0]/r[0]:.3f}  fps/CPU-s x{e[1]/r[1]:.3f}  peak RSS x{e[2]/r[2]:.3f}  "
          f"bitrate x{e[3]/r[3]:.3f}  {quality}   (targets: x1.00 for H.264, x0.95 otherwise; SSIM >= -0.005; RSS <= x1.0)")
PY
