#!/usr/bin/env python3
"""Checks the objects of one output of a several-outputs job (docs/messages.md, "Planned:
several outputs"): an HLS package or a thumbnails set, against the input it was made from.

  check_outputs.py --dir DIR [--prefix P] [--manifest FILE] hls --input IN --segment-seconds N [--expect-rungs 720p,480p,360p]
  check_outputs.py --bucket B --prefix P [--manifest FILE|s3://B/KEY] thumbs --input IN --interval S --width W

The source options may also follow the subcommand. Source: --dir DIR, a local directory that
holds the objects under their keys (the output's objects are DIR/P..., P empty by default),
or --bucket B --prefix P, which downloads every object under P with boto3 (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_S3_ENDPOINT_URL, AWS_REGION) into a temporary directory.
--manifest: the job's manifest (a local file, or s3://bucket/key); checks that the output's
entry lists every object with its size and role, and no other.

Layout checked (the engine's): HLS under P: master.m3u8, <rung>/index.m3u8, <rung>/segNNNNN.ts.
Thumbnails under P: poster.jpg, sprite.jpg (10 columns of `width`-px frames, one frame every
`interval` s from t=0), sprite.vtt (one cue per frame, `sprite.jpg#xywh=x,y,w,h`).

Exit 0 with a one-line JSON summary on stdout when every check passes; exit 1 with one line
per failed check on stderr ("FAIL <check>: <reason>"); exit 2 when it cannot run (a tool or
Python module missing, bad arguments). Needs ffprobe and ffmpeg on PATH, and the m3u8 module
for `hls` (scripts/stack install).
"""
import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

# The engine's ladder (Sources/Transcoding/Presets/Ladder.swift): rung name -> box.
LADDER_BOXES = {"1080p": (1920, 1080), "720p": (1280, 720), "480p": (854, 480), "360p": (640, 360)}
SPRITE_COLUMNS = 10
POSTER_BOX = (1280, 720)  # the poster is the input's size fitted in this box (docs/messages.md)
# CODECS profile byte and the constraint bytes accepted for ffprobe's H.264 profile names.
# The constraint byte of the stream's own SPS is always accepted as well.
AVC_PROFILES = {
    "Constrained Baseline": (0x42, {0xE0, 0xC0, 0x40}),
    "Baseline": (0x42, {0x00, 0x80}),
    "Main": (0x4D, {0x40, 0x00}),
    "Extended": (0x58, {0x00}),
    "High": (0x64, {0x00}),
    "Constrained High": (0x64, {0x0C}),
    "Progressive High": (0x64, {0x08}),
    "High 10": (0x6E, {0x00}),
    "High 4:2:2": (0x7A, {0x00}),
    "High 4:4:4 Predictive": (0xF4, {0x00}),
}


class Usage(Exception):
    """The checker cannot run (exit 2)."""


class Checks:
    def __init__(self):
        self.failures = []
        self.passed = 0

    def check(self, ok, name, reason):
        """Records one check; `reason` says what is wrong when it fails."""
        if ok:
            self.passed += 1
        else:
            self.failures.append(f"FAIL {name}: {reason}")
        return bool(ok)

    def fail(self, name, reason):
        return self.check(False, name, reason)


# ---- tools ---------------------------------------------------------------------------------

def run(cmd, timeout=900):
    return subprocess.run(cmd, capture_output=True, timeout=timeout)


def ffprobe(path, entries, extra=()):
    """ffprobe's JSON for `entries`; (data, stderr, returncode)."""
    cmd = ["ffprobe", "-v", "error", "-show_entries", entries, *extra, "-of", "json", str(path)]
    try:
        proc = run(cmd, timeout=300)
    except subprocess.TimeoutExpired:
        return {}, "ffprobe did not finish in 300 s", -1
    try:
        data = json.loads(proc.stdout.decode("utf-8", "replace") or "{}")
    except ValueError:
        data = {}
    return data, proc.stderr.decode("utf-8", "replace").strip(), proc.returncode


def number(value):
    try:
        v = float(value)
        return v if math.isfinite(v) else None
    except (TypeError, ValueError):
        return None


def rate(value):
    try:
        r = Fraction(value)
        return float(r) if r > 0 else None
    except (TypeError, ValueError, ZeroDivisionError):
        return None


def listing(items, limit=5):
    shown = ", ".join(items[:limit])
    return shown + (f" (and {len(items) - limit} more)" if len(items) > limit else "")


def one_line(text, limit=300):
    text = " | ".join(l.strip() for l in text.splitlines() if l.strip())
    return text if len(text) <= limit else text[:limit] + "..."


def probe_input(path):
    data, err, rc = ffprobe(path, "stream=index,codec_type,codec_name,width,height,sample_aspect_ratio,"
                                  "r_frame_rate,avg_frame_rate,duration,nb_frames,nb_read_packets:format=duration",
                           extra=("-count_packets",))
    if rc != 0:
        raise Usage(f"ffprobe cannot read the input {path}: {one_line(err)}")
    streams = data.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    fmt_duration = number(data.get("format", {}).get("duration"))
    info = {"path": str(path), "has_audio": audio is not None, "format_duration": fmt_duration,
            "audio_duration": number(audio.get("duration")) if audio else None}
    if video is None:
        raise Usage(f"the input {path} has no video stream")
    fps = rate(video.get("avg_frame_rate")) or rate(video.get("r_frame_rate")) or 30.0
    vdur = number(video.get("duration"))
    if vdur is None and video.get("nb_frames", "").isdigit():
        vdur = int(video["nb_frames"]) / fps
    sar = rate(video.get("sample_aspect_ratio")) or 1.0
    frames = video.get("nb_read_packets")
    info.update(frames=int(frames) if str(frames).isdigit() else None)
    info.update(width=int(video["width"]), height=int(video["height"]), sar=sar, fps=fps,
                frame=1.0 / fps, video_duration=vdur if vdur is not None else fmt_duration)
    return info


def fit(w, h, box_w, box_h):
    """EncodingPlan.fit: the size in a box, aspect kept, never upscaled, even."""
    scale = min(1.0, box_w / w, box_h / h)
    even = lambda x: max(2, int(x / 2) * 2)
    return min(even(w * scale), box_w - box_w % 2), min(even(h * scale), box_h - box_h % 2)


def sps_bytes(segment):
    """(profile_idc, constraint flags, level_idc) of the first SPS in the segment's video."""
    try:
        proc = run(["ffmpeg", "-v", "error", "-nostdin", "-i", str(segment), "-map", "0:v:0", "-c", "copy",
                    "-bsf:v", "h264_mp4toannexb", "-frames:v", "1", "-f", "h264", "-"], timeout=300)
    except subprocess.TimeoutExpired:
        return None
    data = proc.stdout
    for m in re.finditer(b"\x00\x00\x01", data):
        i = m.end()
        if i + 3 < len(data) and data[i] & 0x1F == 7:
            return data[i + 1], data[i + 2], data[i + 3]
    return None


# ---- sources -------------------------------------------------------------------------------

def safe_relative(rel):
    parts = Path(rel).parts
    return bool(parts) and not rel.startswith("/") and ".." not in parts


def s3_client():
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise Usage("--bucket needs the boto3 module (python3 -m pip install boto3)")
    return boto3.client("s3", endpoint_url=os.environ.get("AWS_S3_ENDPOINT_URL") or None,
                        region_name=os.environ.get("AWS_REGION") or "us-east-1",
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 5, "mode": "standard"}))


def fetch_bucket(bucket, prefix, dest):
    client = s3_client()
    count = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            rel = obj["Key"][len(prefix):]
            if not rel or rel.endswith("/"):
                continue
            if not safe_relative(rel):
                raise Usage(f"object key {obj['Key']!r} does not map to a file")
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(bucket, obj["Key"], str(target))
            count += 1
    return count


def load_manifest(spec, tmp):
    if spec.startswith("s3://"):
        bucket, _, key = spec[5:].partition("/")
        target = tmp / "manifest.json"
        s3_client().download_file(bucket, key, str(target))
        return target
    return Path(spec)


def local_files(base):
    return sorted(str(p.relative_to(base)).replace(os.sep, "/") for p in base.rglob("*") if p.is_file())


# ---- HLS -----------------------------------------------------------------------------------

def parse_playlist(path, ck, name):
    """The m3u8 object (strict parse; lenient when strict fails, after reporting it)."""
    import m3u8
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        ck.fail(name, f"cannot read {path.name}: {error}")
        return None, ""
    ck.check(text.lstrip("\ufeff").startswith("#EXTM3U"), name, f"{path} does not begin with #EXTM3U")
    try:
        return m3u8.M3U8(text, base_uri=str(path.parent), strict=True), text
    except Exception as error:  # noqa: BLE001 - the library raises plain Exception with a list
        ck.fail(name, f"{path} does not parse strictly with m3u8: {one_line(str(error))}")
    try:
        return m3u8.M3U8(text, base_uri=str(path.parent)), text
    except Exception as error:  # noqa: BLE001
        ck.fail(name, f"{path} does not parse with m3u8: {one_line(str(error))}")
        return None, text


def peak_bitrate(sizes, durations, target):
    """Peak segment bit rate (RFC 8216bis 4.4.4.2... as Apple defines it): the largest bit rate of
    any contiguous run of segments lasting 0.5-1.5x the target duration. For full segments that
    is bytes*8/EXTINF of the biggest one; a short last segment is judged with its neighbour."""
    best = 0.0
    for i in range(len(sizes)):
        total_bytes = total_duration = 0
        for j in range(i, len(sizes)):
            total_bytes += sizes[j]
            total_duration += durations[j]
            if total_duration > 1.5 * target:
                break
            if total_duration >= 0.5 * target and total_duration > 0:
                best = max(best, total_bytes * 8 / total_duration)
    if best == 0 and sum(durations) > 0:
        best = sum(sizes) * 8 / sum(durations)
    return best


def probe_segment(path):
    """Streams and packets of one segment (no decoding)."""
    data, err, rc = ffprobe(path, "stream=index,codec_type,codec_name,profile,level,width,height,r_frame_rate,"
                                  "avg_frame_rate,sample_rate,channels:packet=stream_index,pts_time,dts_time,duration_time,flags")
    streams = data.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    out = {"rc": rc, "err": err, "video": video, "audio": audio, "first_video": None, "video_packets": 0, "video_start": None,
           "video_end": None, "audio_start": None, "audio_end": None}
    for kind, stream in (("video", video), ("audio", audio)):
        if stream is None:
            continue
        packets = [p for p in data.get("packets", []) if p.get("stream_index") == stream["index"]]
        if kind == "video":
            out["video_packets"] = len(packets)
            out["first_video"] = packets[0] if packets else None
        times = [(number(p.get("pts_time")), number(p.get("duration_time"))) for p in packets]
        times = [(t, d) for t, d in times if t is not None]
        if times:
            out[kind + "_start"] = min(t for t, _ in times)
            out[kind + "_end"] = max(t + (d or 0) for t, d in times)
    return out


def check_hls(args, base, inp, ck):
    facts = {"kind": "hls"}
    N = args.segment_seconds
    frame = inp["frame"]
    master_path = base / "master.m3u8"
    if not ck.check(master_path.is_file(), "master", f"no master.m3u8 under the output ({master_path})"):
        return facts
    master, master_text = parse_playlist(master_path, ck, "master")
    if master is None:
        return facts
    if not ck.check(master.is_variant and master.playlists, "master", "master.m3u8 has no #EXT-X-STREAM-INF variant"):
        return facts

    variants = []
    for pl in master.playlists:
        m = re.fullmatch(r"([A-Za-z0-9_-]+)/index\.m3u8", pl.uri or "")
        if not ck.check(m, "master layout", f"variant URI {pl.uri!r} is not <rung>/index.m3u8"):
            continue
        variants.append((m.group(1), pl))
    rungs = [r for r, _ in variants]
    facts["rungs"] = rungs
    ck.check(len(set(rungs)) == len(rungs), "master", f"a rung is listed twice: {rungs}")
    if args.expect_rungs is not None:
        expected = [r for r in args.expect_rungs.split(",") if r]
        ck.check(sorted(rungs) == sorted(expected), "rungs",
                 f"master lists {','.join(rungs) or 'nothing'}, expected exactly {','.join(expected)}")

    referenced = {"master.m3u8"}
    per_variant = {}
    for rung, pl in variants:
        name = f"variant {rung}"
        vpath = base / rung / "index.m3u8"
        referenced.add(f"{rung}/index.m3u8")
        if not ck.check(vpath.is_file(), name, f"{rung}/index.m3u8 named by the master does not exist"):
            continue
        media, _ = parse_playlist(vpath, ck, name)
        if media is None:
            continue
        ck.check(not media.is_variant, name, f"{rung}/index.m3u8 is a master playlist, not a media playlist")
        ck.check((media.playlist_type or "").upper() == "VOD", name,
                 f"{rung}/index.m3u8 has no #EXT-X-PLAYLIST-TYPE:VOD (got {media.playlist_type!r})")
        ck.check(media.is_endlist, name, f"{rung}/index.m3u8 has no #EXT-X-ENDLIST")
        if not ck.check(media.segments, name, f"{rung}/index.m3u8 lists no segment"):
            continue
        target = media.target_duration
        ck.check(target is not None, name, f"{rung}/index.m3u8 has no #EXT-X-TARGETDURATION")
        segs = []
        problems = {k: [] for k in ("name", "missing", "unreadable", "errors", "codec", "audio", "keyframe")}
        for index, seg in enumerate(media.segments):
            uri = seg.uri or ""
            if not re.fullmatch(r"seg\d{5}\.ts", uri):
                problems["name"].append(repr(uri))
            if not safe_relative(uri) or "://" in uri:
                continue
            spath = base / rung / uri
            referenced.add(f"{rung}/{uri}")
            extinf = seg.duration if seg.duration is not None else 0.0
            if not spath.is_file():
                problems["missing"].append(f"{uri} (#{index})")
                segs.append({"uri": uri, "size": None, "extinf": extinf, "probe": None})
                continue
            p = probe_segment(spath)
            readable = p["rc"] == 0 and p["video"] is not None
            if not readable:
                problems["unreadable"].append(f"{uri}" + (f" ({one_line(p['err'], 120)})" if p["err"] else " (no video stream)"))
            else:
                if p["err"]:
                    problems["errors"].append(f"{uri} ({one_line(p['err'], 120)})")
                if p["video"].get("codec_name") != "h264":
                    problems["codec"].append(f"{uri} ({p['video'].get('codec_name')})")
                if inp["has_audio"] and (p["audio"] is None or p["audio"].get("codec_name") != "aac"):
                    problems["audio"].append(f"{uri} ({p['audio'].get('codec_name') if p['audio'] else 'none'})")
                first = p["first_video"]
                if first is None or "K" not in (first.get("flags") or ""):
                    problems["keyframe"].append(uri)
            segs.append({"uri": uri, "size": spath.stat().st_size, "extinf": extinf, "probe": p if readable else None})
        reasons = {"name": ("layout", "segment URIs are not segNNNNN.ts in the variant's directory"),
                   "missing": ("segment", "listed but missing"),
                   "unreadable": ("segment", "ffprobe cannot read"),
                   "errors": ("segment", "ffprobe reports errors in"),
                   "codec": ("segment", "video is not H.264 in"),
                   "audio": ("audio", "the input has audio but these segments have no AAC stream"),
                   "keyframe": ("keyframes", "the first video packet is not a keyframe in")}
        for key, items in problems.items():
            check, text = reasons[key]
            ck.check(not items, f"{name} {check}", f"{rung}: {text}: {listing(items)}")
        per_variant[rung] = {"pl": pl, "media": media, "target": target, "segs": segs}

    # Every object under the prefix is part of the package.
    stray = [f for f in local_files(base) if f not in referenced]
    ck.check(not stray, "layout", f"objects not named by any playlist: {listing(stray)}")

    # EXTINF durations and the package's duration.
    for rung, v in per_variant.items():
        name = f"variant {rung}"
        durations = [s["extinf"] for s in v["segs"]]
        if not durations:
            continue
        target = v["target"] or 0
        too_long = [f"#{i}={d:.3f}" for i, d in enumerate(durations) if round(d) > target]
        ck.check(not too_long, f"{name} EXTINF", f"EXTINF rounds above EXT-X-TARGETDURATION {target}: {listing(too_long)}")
        off = [f"#{i}={d:.3f}" for i, d in enumerate(durations[:-1]) if abs(d - N) > 0.5]
        ck.check(not off, f"{name} EXTINF", f"EXTINF more than 0.5 s from --segment-seconds {N}: {listing(off)}")
        ck.check(durations[-1] > 0, f"{name} EXTINF", f"the last EXTINF is {durations[-1]}")
        total = sum(durations)
        tolerance = frame + 0.05
        ck.check(inp["video_duration"] is not None and abs(total - inp["video_duration"]) <= tolerance, f"{name} duration",
                 f"EXTINF sum {total:.3f} s differs from the input's video duration {inp['video_duration']:.3f} s by more than {tolerance:.3f} s")
        probes = [s["probe"] for s in v["segs"] if s["probe"]]
        if len(probes) == len(v["segs"]) and all(p["video_start"] is not None for p in probes):
            start = probes[0]["video_start"]
            measured = max(p["video_end"] for p in probes) - start
            ck.check(abs(measured - inp["video_duration"]) <= tolerance, f"{name} duration",
                     f"the segments' video lasts {measured:.3f} s (first PTS to last PTS + duration), "
                     f"the input's video {inp['video_duration']:.3f} s (tolerance {tolerance:.3f} s)")
            frames = sum(p["video_packets"] for p in probes)
            if inp["frames"] is not None:
                ck.check(frames == inp["frames"], f"{name} frames",
                         f"the segments hold {frames} video frames, the input {inp['frames']}")
            # Segment i starts (first video packet, a keyframe) at i*N from the first, and where the EXTINFs say.
            elapsed, misplaced, drift = 0.0, [], []
            for i, (s, p) in enumerate(zip(v["segs"], probes)):
                first = number(p["first_video"].get("pts_time")) if p["first_video"] else None
                if first is None:
                    misplaced.append(f"{s['uri']} (no PTS)")
                    continue
                if abs(first - start - i * N) > frame + 0.001:
                    misplaced.append(f"{s['uri']} at {first - start:.3f} s")
                if abs(first - start - elapsed) > frame + 0.001:
                    drift.append(f"{s['uri']} at {first - start:.3f} s, EXTINFs {elapsed:.3f} s")
                elapsed += s["extinf"]
            ck.check(not misplaced, f"{name} keyframes",
                     f"segments do not start at multiples of --segment-seconds {N} (from the first): {listing(misplaced)}")
            ck.check(not drift, f"{name} timeline",
                     f"segments do not start where the EXTINFs before them add up to: {listing(drift)}")
            if inp["has_audio"] and all(p["audio_start"] is not None for p in probes):
                audio = max(p["audio_end"] for p in probes) - min(p["audio_start"] for p in probes)
                reference = inp["audio_duration"] or inp["format_duration"] or inp["video_duration"]
                ck.check(abs(audio - reference) <= 0.1, f"{name} audio",
                         f"the segments' audio lasts {audio:.3f} s, the input's {reference:.3f} s (tolerance 0.1 s)")

    # Segments start at the same times in every variant.
    counts = {r: len(v["segs"]) for r, v in per_variant.items()}
    if ck.check(len(set(counts.values())) <= 1, "alignment", f"variants have different segment counts: {counts}"):
        apart = []
        for i in range(max(counts.values(), default=0)):
            starts = {}
            for rung, v in per_variant.items():
                p = v["segs"][i]["probe"]
                if p and p["first_video"] and number(p["first_video"].get("pts_time")) is not None:
                    starts[rung] = number(p["first_video"]["pts_time"])
            if len(starts) > 1 and max(starts.values()) - min(starts.values()) > 0.001:
                apart.append(f"#{i}: " + " ".join(f"{r}={t:.4f}" for r, t in starts.items()))
        ck.check(not apart, "alignment", f"segments start at different video PTS across variants (tolerance 1 ms): {listing(apart, 3)}")

    # Master attributes against the variants.
    for rung, v in per_variant.items():
        name = f"master {rung}"
        info = v["pl"].stream_info
        segs = [s for s in v["segs"] if s["size"] is not None]
        if len(segs) < len(v["segs"]) or not segs:
            continue  # a missing segment is reported above; bit rates would be meaningless
        sizes = [s["size"] for s in segs]
        durations = [s["extinf"] for s in segs]
        peak = peak_bitrate(sizes, durations, v["target"] or N)
        average = sum(sizes) * 8 / sum(durations) if sum(durations) > 0 else 0
        v["peak"], v["average"] = peak, average
        v["max_segment"] = max((s["size"] * 8 / s["extinf"] for s in segs if s["extinf"] > 0), default=0)
        if ck.check(info.bandwidth, name, "no BANDWIDTH"):
            ck.check(info.bandwidth >= peak, name,
                     f"BANDWIDTH {info.bandwidth} is below the measured peak segment bit rate {peak:.0f}")
        if ck.check(info.average_bandwidth, name, "no AVERAGE-BANDWIDTH"):
            ck.check(abs(info.average_bandwidth - average) <= 0.10 * average, name,
                     f"AVERAGE-BANDWIDTH {info.average_bandwidth} is not within 10% of the measured {average:.0f} "
                     f"(segment bytes*8 / EXTINF sum)")
        probes = [s["probe"] for s in segs if s["probe"]]
        if not probes:
            continue
        video = probes[0]["video"]
        size = (int(video.get("width") or 0), int(video.get("height") or 0))
        v["size"] = size
        others = sorted({(int(p["video"].get("width") or 0), int(p["video"].get("height") or 0)) for p in probes} - {size})
        ck.check(not others, f"variant {rung} video", f"segments change size: {size} and {others}")
        if ck.check(info.resolution, name, "no RESOLUTION"):
            ck.check(tuple(info.resolution) == size, name,
                     f"RESOLUTION {info.resolution[0]}x{info.resolution[1]} but the video is {size[0]}x{size[1]}")
        ck.check(size[0] <= inp["width"] and size[1] <= inp["height"], f"variant {rung} video",
                 f"{size[0]}x{size[1]} is larger than the input's {inp['width']}x{inp['height']} (upscaled)")
        if rung in LADDER_BOXES and len(variants) > 1:
            # A ladder's rungs have the boxes of Ladder.swift; a one-rendition package (a preset with
            # overrides) has its preset's box, so only its height is checked.
            want = fit(inp["width"], inp["height"], *LADDER_BOXES[rung])
            ck.check(abs(size[0] - want[0]) <= 2 and abs(size[1] - want[1]) <= 2, f"variant {rung} video",
                     f"{size[0]}x{size[1]}, but the input fit in the {rung} box {LADDER_BOXES[rung][0]}x{LADDER_BOXES[rung][1]} is {want[0]}x{want[1]}")
        elif re.fullmatch(r"\d+p", rung):
            ck.check(size[1] <= int(rung[:-1]), f"variant {rung} video", f"{size[0]}x{size[1]} is taller than its name {rung} says")
        fps = rate(video.get("avg_frame_rate")) or rate(video.get("r_frame_rate"))
        if ck.check(info.frame_rate, name, "no FRAME-RATE") and fps:
            ck.check(abs(info.frame_rate - fps) <= 0.01, name, f"FRAME-RATE {info.frame_rate} but the video has {fps:.3f} fps")
        codecs = [c.strip() for c in (info.codecs or "").split(",") if c.strip()]
        if ck.check(codecs, name, "no CODECS"):
            avc = [c for c in codecs if c.startswith("avc1.")]
            if ck.check(len(avc) == 1 and re.fullmatch(r"avc1\.[0-9A-Fa-f]{6}", avc[0]), name,
                        f"CODECS {info.codecs!r} has no avc1.PPCCLL entry"):
                got = bytes.fromhex(avc[0][5:])
                profile_name = video.get("profile") or ""
                level = video.get("level")
                sps = sps_bytes(base / rung / segs[0]["uri"])
                expected_profile, constraints = AVC_PROFILES.get(profile_name, (sps[0] if sps else None, set()))
                if sps:
                    constraints = constraints | {sps[1]}
                    ck.check(sps[0] == expected_profile, f"variant {rung} video",
                             f"SPS profile_idc {sps[0]} does not match ffprobe's profile {profile_name!r}")
                ck.check(got[0] == expected_profile, name,
                         f"CODECS {avc[0]}: profile 0x{got[0]:02x}, but the stream is {profile_name} (0x{(expected_profile or 0):02x})")
                ck.check(got[1] in constraints, name,
                         f"CODECS {avc[0]}: constraint byte 0x{got[1]:02x}, the stream's SPS has "
                         + (f"0x{sps[1]:02x}" if sps else "(unread)") + f" ({profile_name})")
                want_level = sps[2] if sps else level
                if sps and isinstance(level, int):
                    ck.check(sps[2] == level, f"variant {rung} video", f"SPS level_idc {sps[2]} but ffprobe reads level {level}")
                ck.check(isinstance(want_level, int) and got[2] == want_level, name,
                         f"CODECS {avc[0]}: level {got[2]} (0x{got[2]:02x}), but the stream's level is {want_level}")
                v["codec"] = avc[0]
            has_audio = any(p["audio"] is not None for p in probes)
            if has_audio:
                ck.check("mp4a.40.2" in codecs, name, f"CODECS {info.codecs!r} lacks mp4a.40.2 but the variant has audio")
            else:
                ck.check(not any(c.startswith("mp4a") for c in codecs), name, f"CODECS {info.codecs!r} names audio the variant lacks")
            others = [c for c in codecs if not c.startswith(("avc1.", "mp4a."))]
            ck.check(not others, name, f"CODECS {info.codecs!r} names codecs the variant does not have: {', '.join(others)}")

    # A real player's view: ffmpeg reads the whole package without an error. Not on a playlist
    # without ENDLIST (failed above): ffmpeg takes it for a live one and waits for it to grow forever.
    if all(v["media"].is_endlist for v in per_variant.values()) and len(per_variant) == len(variants):
        limit = 300 + 10 * (inp["video_duration"] or 0) * max(1, len(per_variant))
        try:
            proc = run(["ffmpeg", "-v", "warning", "-nostdin", "-i", str(master_path), "-map", "0", "-f", "null", "-"], timeout=limit)
            err = proc.stderr.decode("utf-8", "replace").strip()
            ck.check(proc.returncode == 0 and not err, "decode",
                     f"ffmpeg -v warning -i master.m3u8 -map 0 -f null - reports: {one_line(err) or 'exit ' + str(proc.returncode)}")
        except subprocess.TimeoutExpired:
            ck.fail("decode", f"ffmpeg -i master.m3u8 -map 0 -f null - did not finish in {limit:.0f} s")

    facts["segments"] = max(counts.values(), default=0)
    facts["variants"] = {r: {"size": "%dx%d" % v["size"] if v.get("size") else None,
                             "bandwidth": v["pl"].stream_info.bandwidth, "peak": round(v.get("peak", 0)),
                             "average_bandwidth": v["pl"].stream_info.average_bandwidth, "average": round(v.get("average", 0)),
                             "codecs": v["pl"].stream_info.codecs}
                         for r, v in per_variant.items()}
    facts["duration"] = round(sum(s["extinf"] for s in next(iter(per_variant.values()))["segs"]), 3) if per_variant else None
    facts["_per_variant"] = per_variant
    return facts


# ---- thumbnails ----------------------------------------------------------------------------

def parse_timestamp(text):
    m = re.fullmatch(r"(?:(\d{2,}):)?([0-5]\d):([0-5]\d)\.(\d{3})", text)
    if not m:
        return None
    return int(m.group(1) or 0) * 3600 + int(m.group(2)) * 60 + int(m.group(3)) + int(m.group(4)) / 1000


def parse_vtt(text):
    """WebVTT cues as (start, end, payload); raises ValueError with the reason."""
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = re.split(r"\r\n|\r|\n", text)
    if not re.fullmatch(r"WEBVTT([ \t].*)?", lines[0]):
        raise ValueError(f"first line is {lines[0][:40]!r}, not WEBVTT")
    blocks, current = [], []
    for line in lines[1:]:
        if line.strip() == "":
            if current:
                blocks.append(current)
                current = []
        else:
            current.append(line)
    if current:
        blocks.append(current)
    # The header's own lines (after WEBVTT, before the first blank line) are not cues.
    if len(lines) > 1 and lines[1].strip() != "" and blocks:
        if "-->" in blocks[0][0]:
            raise ValueError("no blank line between the WEBVTT header and the first cue")
        blocks = blocks[1:]
    cues = []
    for block in blocks:
        if re.match(r"(NOTE|STYLE|REGION)([ \t]|$)", block[0]):
            continue
        timing_index = 0 if "-->" in block[0] else 1
        if timing_index >= len(block) or "-->" not in block[timing_index]:
            raise ValueError(f"block {block[0][:60]!r} has no timing line")
        m = re.fullmatch(r"(\S+)[ \t]+-->[ \t]+(\S+)(?:[ \t]+.*)?", block[timing_index].strip())
        start, end = (parse_timestamp(m.group(1)), parse_timestamp(m.group(2))) if m else (None, None)
        if start is None or end is None:
            raise ValueError(f"bad timing line {block[timing_index]!r}")
        payload = block[timing_index + 1:]
        if not payload:
            raise ValueError(f"cue {block[timing_index]!r} has no payload")
        cues.append((start, end, "\n".join(payload)))
    return cues


def probe_image(path):
    data, err, rc = ffprobe(path, "stream=codec_name,width,height")
    streams = data.get("streams", [])
    if rc != 0 or err or not streams:
        return None, one_line(err) or f"exit {rc}"
    return streams[0], None


def check_thumbs(args, base, inp, ck):
    facts = {"kind": "thumbs"}
    W, S = args.width, args.interval
    names = ("poster.jpg", "sprite.jpg", "sprite.vtt") if S else ("poster.jpg",)
    for name in names:
        ck.check((base / name).is_file(), "layout", f"no {name} under the output")
    stray = [f for f in local_files(base) if f not in names]
    ck.check(not stray, "layout", f"unexpected objects: {listing(stray)}"
             + ("" if S else " (without --interval there is no sprite)"))

    poster = base / "poster.jpg"
    if poster.is_file():
        head = poster.read_bytes()[:3]
        stream, err = probe_image(poster)
        if ck.check(head[:2] == b"\xff\xd8" and stream and stream.get("codec_name") == "mjpeg", "poster",
                    "poster.jpg is not a JPEG ffprobe reads" + (f" ({err})" if err else f" (starts {head.hex()})")):
            facts["poster"] = [stream.get("width"), stream.get("height")]
            want = fit(inp["width"], inp["height"], *POSTER_BOX)
            ck.check(abs(stream["width"] - want[0]) <= 2 and abs(stream["height"] - want[1]) <= 2, "poster",
                     f"poster.jpg is {stream['width']}x{stream['height']}; the input fitted in {POSTER_BOX[0]}x{POSTER_BOX[1]} is {want[0]}x{want[1]}")
    if not S:
        return facts

    # Frame count: one per interval from t=0 while t < duration: ceil(duration / interval). The
    # video's and the container's durations can differ by a few ms (audio priming), and when the
    # duration passes a multiple of the interval by less than a frame there is no frame at or
    # after that time (13.013 s at 29.97 fps: the last frame starts at 12.979 s, so 13 frames at
    # 1 s, not 14); each of these counts is accepted, the one the VTT has is preferred.
    durations = sorted({round(d, 3) for d in (inp["video_duration"], inp["format_duration"]) if d})
    counts = {max(1, math.ceil(d / S - 1e-6)) for d in durations}
    if inp["video_duration"]:
        counts.add(max(1, math.floor((inp["video_duration"] - inp["frame"]) / S + 1e-6) + 1))
    counts = sorted(counts)
    facts["duration"] = durations[0] if durations else None
    cues, vtt_error = None, None
    vtt = base / "sprite.vtt"
    if vtt.is_file():
        try:
            cues = parse_vtt(vtt.read_bytes().decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as error:
            vtt_error = str(error)
    sprite_size = None
    sprite = base / "sprite.jpg"
    tile_h = None
    if sprite.is_file():
        head = sprite.read_bytes()[:2]
        stream, err = probe_image(sprite)
        if ck.check(head == b"\xff\xd8" and stream and stream.get("codec_name") == "mjpeg", "sprite",
                    "sprite.jpg is not a JPEG ffprobe reads" + (f" ({err})" if err else "")):
            sw, sh = int(stream["width"]), int(stream["height"])
            sprite_size = (sw, sh)
            facts["sprite"] = [sw, sh]
            aspect = inp["width"] * inp["sar"] / inp["height"]
            want_h = W / aspect
            fits = []
            for n in counts:
                cols, rows = min(SPRITE_COLUMNS, n), math.ceil(n / SPRITE_COLUMNS)
                fits.append((n, cols, rows))
            fitting = [(n, c, r) for n, c, r in fits if sw == c * W and sh % r == 0]
            match = next((f for f in fitting if cues is not None and f[0] == len(cues)), fitting[0] if fitting else None)
            if ck.check(match, "sprite", f"sprite.jpg is {sw}x{sh}; for "
                        + " or ".join(f"{n} frames ({c} columns of {W} px, {r} row{'s' if r > 1 else ''})" for n, c, r in fits)
                        + f" (duration {' or '.join(map(str, durations))} s / interval {S} s) it must be "
                        + " or ".join(f"{c * W} px wide" + (f" and a multiple of {r} high" if r > 1 else "") for n, c, r in fits)):
                n, cols, rows = match
                tile_h = sh // rows
                facts["frames"], facts["tile"] = n, [W, tile_h]
                ck.check(tile_h % 2 == 0, "sprite", f"frame height {tile_h} ({sh} px / {rows} rows) is odd")
                ck.check(abs(tile_h - want_h) <= 2, "sprite",
                         f"frame height {tile_h} does not keep the input's aspect: {W} px wide needs {want_h:.1f} px (tolerance 2)")

    if vtt.is_file():
        ck.check(vtt_error is None, "vtt", f"sprite.vtt does not parse: {vtt_error}")
        if cues is not None:
            facts["cues"] = len(cues)
            expected = facts.get("frames")
            ck.check(len(cues) == expected if expected else len(cues) in counts, "vtt",
                     f"{len(cues)} cues, expected {expected or ' or '.join(map(str, counts))} (one per frame)")
            if cues:
                ck.check(abs(cues[0][0]) < 0.0005, "vtt", f"the first cue starts at {cues[0][0]:.3f}, not 0")
                gaps = [f"#{i}: {cues[i - 1][1]:.3f} -> {cues[i][0]:.3f}" for i in range(1, len(cues))
                        if abs(cues[i][0] - cues[i - 1][1]) > 0.0005]
                ck.check(not gaps, "vtt", f"cues are not contiguous: {', '.join(gaps[:5])}")
                empty = [f"#{i}" for i, c in enumerate(cues) if c[1] <= c[0]]
                ck.check(not empty, "vtt", f"cues end at or before their start: {', '.join(empty[:5])}")
                late = [f"#{i} at {c[0]:.3f}" for i, c in enumerate(cues) if abs(c[0] - i * S) > 0.0015]
                ck.check(not late, "vtt", f"cue i must start at i*{S} s: {', '.join(late[:5])}")
                last = cues[-1][1]
                facts["last_cue_end"] = last
                ck.check(any(abs(last - d) <= 0.1 for d in durations), "vtt",
                         f"the last cue ends at {last:.3f}, the duration is {' or '.join(map(str, durations))} s (tolerance 0.1)")
            bad = []
            for i, (_, _, payload) in enumerate(cues):
                m = re.fullmatch(r"\s*sprite\.jpg#xywh=(\d+),(\d+),(\d+),(\d+)\s*", payload)
                if not m:
                    bad.append(f"#{i} payload {payload[:60]!r} is not sprite.jpg#xywh=x,y,w,h")
                    continue
                x, y, w, h = map(int, m.groups())
                if sprite_size and (x + w > sprite_size[0] or y + h > sprite_size[1] or w <= 0 or h <= 0):
                    bad.append(f"#{i} xywh={x},{y},{w},{h} is not inside the {sprite_size[0]}x{sprite_size[1]} sprite")
                elif tile_h and (x, y, w, h) != ((i % SPRITE_COLUMNS) * W, (i // SPRITE_COLUMNS) * tile_h, W, tile_h):
                    bad.append(f"#{i} xywh={x},{y},{w},{h}, expected frame {i}'s tile "
                               f"{(i % SPRITE_COLUMNS) * W},{(i // SPRITE_COLUMNS) * tile_h},{W},{tile_h}")
            ck.check(not bad, "vtt", "; ".join(bad[:4]) + (f" (and {len(bad) - 4} more)" if len(bad) > 4 else ""))
    return facts


# ---- manifest ------------------------------------------------------------------------------

def expected_role(kind, rel):
    if kind == "hls":
        if rel == "master.m3u8":
            return "master"
        if rel.endswith("/index.m3u8"):
            return "variant"
        return "segment"
    return {"poster.jpg": "poster", "sprite.jpg": "sprite", "sprite.vtt": "vtt"}.get(rel)


def check_manifest(path, base, prefix, kind, inp, facts, ck):
    try:
        manifest = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        ck.fail("manifest", f"cannot read {path}: {error}")
        return
    if not ck.check(isinstance(manifest, dict) and isinstance(manifest.get("outputs"), list), "manifest",
                    "not a JSON object with an outputs array"):
        return
    for field, types in (("job_id", str), ("input_key", str), ("duration_seconds", (int, float))):
        ck.check(isinstance(manifest.get(field), types), "manifest", f"{field} is missing or has the wrong type")
    duration = manifest.get("duration_seconds")
    refs = sorted({round(d, 3) for d in (inp["video_duration"], inp["format_duration"]) if d})
    if isinstance(duration, (int, float)) and refs:
        ck.check(any(abs(duration - d) <= inp["frame"] + 0.05 for d in refs), "manifest",
                 f"duration_seconds {duration} differs from the input's {' / '.join(f'{d:.3f}' for d in refs)} s")
    manifest_kind = {"hls": "hls", "thumbs": "thumbnails"}[kind]
    outputs = [o for o in manifest["outputs"] if isinstance(o, dict)]
    keys = [o.get("key") for o in outputs]
    ck.check(len(set(keys)) == len(keys), "manifest", f"output keys repeat: {keys}")
    entry = next((o for o in outputs if prefix and o.get("key") == prefix), None)
    if entry is None:
        same = [o for o in outputs if o.get("kind") == manifest_kind]
        if len(same) == 1:
            entry = same[0]
    if not ck.check(entry is not None, "manifest",
                    (f"no output with key {prefix!r}, " if prefix else "") + f"no single output of kind {manifest_kind!r}"
                    + ("" if prefix else " (pass --prefix to pick one)")):
        return
    key = entry.get("key") or ""
    ck.check(entry.get("kind") == manifest_kind, "manifest", f"output {key!r} has kind {entry.get('kind')!r}, not {manifest_kind!r}")
    ck.check(key.endswith("/"), "manifest", f"output key {key!r} of an {manifest_kind} output does not end with /")
    objects = entry.get("objects")
    if not ck.check(isinstance(objects, list), "manifest", f"output {key!r} has no objects array"):
        return
    listed = {}
    for obj in objects:
        okey = obj.get("key") if isinstance(obj, dict) else None
        if not ck.check(isinstance(okey, str) and okey.startswith(key) and len(okey) > len(key), "manifest",
                        f"object {okey!r} is not under the output key {key!r}"):
            continue
        rel = okey[len(key):]
        ck.check(rel not in listed, "manifest", f"object {okey} is listed twice")
        listed[rel] = obj
        local = base / rel
        if not ck.check(safe_relative(rel) and local.is_file(), "manifest", f"lists {okey}, which is not there"):
            continue
        size = obj.get("size")
        ck.check(size == local.stat().st_size, "manifest", f"{okey}: size {size}, the object has {local.stat().st_size} bytes")
        role = expected_role(kind, rel)
        ck.check(obj.get("role") == role, "manifest", f"{okey}: role {obj.get('role')!r}, expected {role!r}")
        if kind == "hls" and role == "variant":
            v = facts.get("_per_variant", {}).get(rel.split("/")[0])
            if v and v.get("size") and (obj.get("width") is not None or obj.get("height") is not None):
                ck.check((obj.get("width"), obj.get("height")) == v["size"], "manifest",
                         f"{okey}: {obj.get('width')}x{obj.get('height')}, the video is {v['size'][0]}x{v['size'][1]}")
            if v and obj.get("duration_seconds") is not None:
                total = sum(s["extinf"] for s in v["segs"])
                ck.check(abs(obj["duration_seconds"] - total) <= inp["frame"] + 0.05, "manifest",
                         f"{okey}: duration_seconds {obj['duration_seconds']}, the EXTINFs add up to {total:.3f}")
            if v and obj.get("bitrate") is not None and v.get("peak"):
                low, high = 0.9 * v["peak"], 1.1 * max(v["peak"], v["max_segment"])
                ck.check(low <= obj["bitrate"] <= high, "manifest",
                         f"{okey}: bitrate {obj['bitrate']}, the measured peak segment bit rate is {v['peak']:.0f}")
            if v and obj.get("codec") is not None and v.get("codec"):
                ck.check(obj["codec"] in (v["codec"], "h264", "avc1"), "manifest",
                         f"{okey}: codec {obj['codec']!r}, the variant is {v['codec']}")
        if kind == "hls" and role == "segment" and obj.get("duration_seconds") is not None:
            v = facts.get("_per_variant", {}).get(rel.split("/")[0])
            extinf = next((s["extinf"] for s in v["segs"] if s["uri"] == rel.split("/", 1)[1]), None) if v else None
            if extinf is not None:
                ck.check(abs(obj["duration_seconds"] - extinf) <= 0.01, "manifest",
                         f"{okey}: duration_seconds {obj['duration_seconds']}, its EXTINF is {extinf}")
        if kind == "hls" and role == "master":
            infos = [(v["pl"].stream_info, v.get("size")) for v in facts.get("_per_variant", {}).values()]
            if obj.get("codec") is not None:
                ck.check(any(obj["codec"] == (i.codecs or "") for i, _ in infos), "manifest",
                         f"{okey}: codec {obj['codec']!r} is no variant's CODECS ({', '.join(repr(i.codecs) for i, _ in infos)})")
            if obj.get("width") is not None:
                ck.check(any((obj.get("width"), obj.get("height")) == sz for _, sz in infos if sz), "manifest",
                         f"{okey}: {obj.get('width')}x{obj.get('height')} is no variant's size")
        if kind == "thumbs" and role == "poster" and facts.get("poster") and obj.get("width") is not None:
            ck.check([obj.get("width"), obj.get("height")] == facts["poster"], "manifest",
                     f"{okey}: {obj.get('width')}x{obj.get('height')}, the poster is {facts['poster'][0]}x{facts['poster'][1]}")
        if kind == "thumbs" and role == "vtt" and facts.get("last_cue_end") is not None and obj.get("duration_seconds") is not None:
            ck.check(abs(obj["duration_seconds"] - facts["last_cue_end"]) <= 0.1, "manifest",
                     f"{okey}: duration_seconds {obj['duration_seconds']}, the last cue ends at {facts['last_cue_end']:.3f}")
        if kind == "thumbs" and role == "sprite" and facts.get("sprite") and obj.get("width") is not None:
            ck.check([obj.get("width"), obj.get("height")] == facts["sprite"], "manifest",
                     f"{okey}: {obj.get('width')}x{obj.get('height')}, the sprite is {facts['sprite'][0]}x{facts['sprite'][1]}")
    missing = [f for f in local_files(base) if f not in listed]
    ck.check(not missing, "manifest", f"output {key!r} does not list: {', '.join(missing[:8])}" + (" ..." if len(missing) > 8 else ""))


# ---- main ----------------------------------------------------------------------------------

def build_parser():
    def source_options(p):
        s = argparse.SUPPRESS
        p.add_argument("--dir", default=s, help="local directory holding the objects under their keys")
        p.add_argument("--bucket", default=s, help="S3 bucket to download the objects from (with --prefix)")
        p.add_argument("--prefix", default=s, help="the output's key prefix (ends with /)")
        p.add_argument("--manifest", default=s, help="the job's manifest: a local file or s3://bucket/key")

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    source_options(parser)
    sub = parser.add_subparsers(dest="command", required=True)
    hls = sub.add_parser("hls", help="an HLS package: master.m3u8, <rung>/index.m3u8, <rung>/segNNNNN.ts")
    source_options(hls)
    hls.add_argument("--input", required=True, help="the local input file the package was made from")
    hls.add_argument("--segment-seconds", type=int, required=True, help="the job's hls.segment_seconds")
    hls.add_argument("--expect-rungs", help="comma-separated rung names the master must list, exactly (e.g. 720p,480p,360p)")
    thumbs = sub.add_parser("thumbs", help="thumbnails: poster.jpg, sprite.jpg, sprite.vtt")
    source_options(thumbs)
    thumbs.add_argument("--input", required=True, help="the local input file the thumbnails were made from")
    thumbs.add_argument("--interval", type=float, help="the job's sprite_interval_seconds; without it, only a poster is expected")
    thumbs.add_argument("--width", type=int, default=160, help="the job's thumbnails width (default 160)")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    directory, bucket = getattr(args, "dir", None), getattr(args, "bucket", None)
    prefix, manifest = getattr(args, "prefix", None) or "", getattr(args, "manifest", None)
    if bool(directory) == bool(bucket):
        parser.error("give exactly one source: --dir DIR or --bucket B --prefix P")
    if bucket and not prefix:
        parser.error("--bucket needs --prefix")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    for tool in ("ffprobe", "ffmpeg"):
        if not shutil.which(tool):
            raise Usage(f"{tool} is not on PATH (scripts/stack install)")
    if args.command == "hls":
        try:
            import m3u8  # noqa: F401
        except ImportError:
            raise Usage("needs the m3u8 module: python3 -m pip install m3u8")
        if not 1 <= args.segment_seconds <= 60:
            parser.error("--segment-seconds must be 1-60")
    elif (args.interval is not None and args.interval <= 0) or args.width <= 0:
        parser.error("--interval and --width must be positive")

    ck = Checks()
    with tempfile.TemporaryDirectory(prefix="check-outputs-") as tmp:
        tmp = Path(tmp)
        if bucket:
            base = tmp / "objects"
            base.mkdir()
            try:
                count = fetch_bucket(bucket, prefix, base)
            except Usage:
                raise
            except Exception as error:  # noqa: BLE001 - botocore's many exception types
                ck.fail("source", f"cannot download s3://{bucket}/{prefix}: {one_line(str(error))}")
                return report(ck, {})
            if not ck.check(count > 0, "source", f"no objects under s3://{bucket}/{prefix}"):
                return report(ck, {})
        else:
            base = Path(directory) / prefix
            if not ck.check(base.is_dir(), "source", f"{base} is not a directory"):
                return report(ck, {})
        inp = probe_input(args.input)
        facts = (check_hls if args.command == "hls" else check_thumbs)(args, base, inp, ck)
        if manifest:
            try:
                path = load_manifest(manifest, tmp)
            except Exception as error:  # noqa: BLE001
                ck.fail("manifest", f"cannot fetch {manifest}: {one_line(str(error))}")
            else:
                check_manifest(path, base, prefix, args.command, inp, facts, ck)
        facts.pop("_per_variant", None)
        return report(ck, facts)


def report(ck, facts):
    if ck.failures:
        for line in ck.failures:
            print(line, file=sys.stderr)
        print(f"check_outputs: {len(ck.failures)} failed, {ck.passed} passed", file=sys.stderr)
        return 1
    print(json.dumps({"ok": True, "checks": ck.passed, **facts}, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Usage as error:
        print(f"check_outputs: {error}", file=sys.stderr)
        sys.exit(2)
