"""Driver for bench/segments.sh: real workers pinned with taskset, pika for jobs and progress, boto3 for storage."""
import json, os, re, subprocess, sys, tempfile, time, uuid

import boto3, pika

BIN, INPUT, SEGMENT = sys.argv[1], sys.argv[2], int(sys.argv[3])
RUN = uuid.uuid4().hex[:8]
BUCKET = f"bench-{RUN}"
JOBS, PROGRESS = f"bench-{RUN}.jobs", f"bench-{RUN}.progress"
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_S3_ENDPOINT_URL"], region_name="us-east-1")
s3.create_bucket(Bucket=BUCKET)
WORK = tempfile.mkdtemp()
PRESET = "h264-720p"


def start_worker(name, core):
    env = dict(os.environ, S3_BUCKET_NAME=BUCKET, TRANSCODER_JOBS_QUEUE=JOBS, TRANSCODER_PROGRESS_QUEUE=PROGRESS,
               TRANSCODER_CONCURRENCY="1", TRANSCODER_METRICS_PORT="0", TRANSCODER_LOG_LEVEL="info",
               TRANSCODER_LOG_FORMAT="json", TRANSCODER_WORKER_ID=name, TRANSCODER_SCRATCH_DIR=f"{WORK}/scratch-{name}")
    log = open(f"{WORK}/{name}.log", "w")
    p = subprocess.Popen(["taskset", "-c", str(core), BIN, "worker", "--env-file", "/nonexistent"], env=env, stderr=log)
    return p, f"{WORK}/{name}.log"


conn = pika.BlockingConnection(pika.URLParameters(os.environ["AMQP_URL"]))
ch = conn.channel()
ch.confirm_delivery()


def run(job_id, workers, mode):
    """Publish -> completed with `workers` workers (one core each); returns seconds and the worker logs."""
    procs = [start_worker(f"{job_id}-w{i}", i) for i in range(workers)]
    time.sleep(2)  # topology declared, lanes polled
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q, f"{PROGRESS}.events", routing_key=job_id)
    job = {"job_id": job_id, "input_key": "in/input.mp4", "output_key": f"out/{job_id}.mp4", "preset": PRESET,
           "segmenting": {"mode": mode, "segment_seconds": SEGMENT}}
    t0 = time.monotonic()
    ch.basic_publish("", JOBS, json.dumps(job), pika.BasicProperties(delivery_mode=2))
    final, most = None, 0
    for _, _, body in ch.consume(q, inactivity_timeout=1, auto_ack=True):
        if body is None:
            if time.monotonic() - t0 > 7200:
                raise RuntimeError("timeout")
            continue
        m = json.loads(body)
        most = max(most, m.get("workers") or 0)
        if m["state"] in ("completed", "failed"):
            final = m
            break
    elapsed = time.monotonic() - t0
    ch.cancel()
    for p, _ in procs:
        p.terminate()
        p.wait()
    if final["state"] != "completed":
        raise RuntimeError(f"{job_id}: {final}")
    logs = []
    for _, path in procs:
        for line in open(path):
            try:
                logs.append(json.loads(line))
            except ValueError:
                pass
    return elapsed, logs, most


def ms(entries, msg, field):
    return sum(int(e.get(field, 0)) for e in entries if e.get("msg") == msg) / 1000


def part_bitrates(path, starts):
    """kbit/s of the video between consecutive part starts (seconds)."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time,size",
                          "-of", "csv=p=0", path], capture_output=True, text=True, check=True).stdout
    sizes = [0] * len(starts)
    for line in out.splitlines():
        pts, size = line.split(",")[:2]
        t = float(pts)
        i = max(k for k, s in enumerate(starts) if s <= t + 1e-6) if t >= 0 else 0
        sizes[i] += int(size)
    ends = starts[1:] + [float(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path],
                                              capture_output=True, text=True).stdout)]
    return [8 * sizes[i] / 1000 / max(1e-3, ends[i] - starts[i]) for i in range(len(starts))]


s3.upload_file(INPUT, BUCKET, "in/input.mp4")
size_mb = os.path.getsize(INPUT) / 1e6
print(f"input: {os.path.basename(INPUT)} ({size_mb:.0f} MB), preset {PRESET}, parts of {SEGMENT} s; "
      f"workers pinned with taskset, one core each")

t_whole, logs_whole, _ = run(f"{RUN}-whole", 1, "never")
print(f"1 worker, unsegmented:  {t_whole:7.1f} s")
t_one, logs_one, _ = run(f"{RUN}-one", 1, "always")
print(f"1 worker, segmented:    {t_one:7.1f} s")
t_two, logs_two, most = run(f"{RUN}-two", 2, "always")
print(f"2 workers, segmented:   {t_two:7.1f} s   ({most} workers on it at once)")
print(f"speedup against the unsegmented job on 1 worker: x{t_whole / t_two:.2f} "
      f"(parallel efficiency {100 * t_whole / t_two / 2:.0f} %); against segmented on 1 worker: x{t_one / t_two:.2f}")

# Where the time goes, from the 2-worker run's logs (seconds of wall time summed per step).
split = next(e for e in logs_two if e.get("msg") == "input split")
joined = next(e for e in logs_two if e.get("msg") == "segmented job joined")
fetch, split_s, upload = int(split["fetch_ms"]) / 1000, int(split["split_ms"]) / 1000, int(split["upload_ms"]) / 1000
jfetch, join, store = int(joined["fetch_ms"]) / 1000, int(joined["join_ms"]) / 1000, int(joined["store_ms"]) / 1000
cleanup = int(joined["cleanup_ms"]) / 1000
parts = [e for e in logs_two if e.get("msg") == "part stored"]
down, enc, up = ms(parts, "part stored", "download_ms"), ms(parts, "part stored", "encode_ms"), ms(parts, "part stored", "store_ms")
serial = fetch + split_s + upload + jfetch + join + store + cleanup
print("\nwhere the time goes (2 workers):")
print(f"  coordinator, before the parts: fetch input {fetch:.1f} s, split {split_s:.1f} s, store source parts {upload:.1f} s")
print(f"  parts ({len(parts)}, summed over workers): download {down:.1f} s, encode {enc:.1f} s, store {up:.1f} s")
print(f"  coordinator, after the parts: fetch encoded parts {jfetch:.1f} s, join {join:.1f} s, store output {store:.1f} s, "
      f"delete parts {cleanup:.1f} s")
parallel = down + enc + up
fraction = serial / (serial + parallel)
print(f"  serial: {serial:.1f} s of {serial + parallel:.1f} s of work: serial fraction {100 * fraction:.1f} %")
print(f"  wall {t_two:.1f} s = serial {serial:.1f} s + parts {t_two - serial:.1f} s "
      f"(ideal {parallel / 2:.1f} s on 2 workers; the rest is the last part alone and polling)")

# Per-part video bitrate of the segmented output against the unsegmented one, on the parts' boundaries.
for name, path in (("segmented", f"{WORK}/two.mp4"), ("unsegmented", f"{WORK}/whole.mp4")):
    key = f"out/{RUN}-two.mp4" if name == "segmented" else f"out/{RUN}-whole.mp4"
    s3.download_file(BUCKET, key, path)
starts = [i * SEGMENT for i in range(len([p for p in parts if p.get("job.part") != "audio"]))]
seg = part_bitrates(f"{WORK}/two.mp4", starts)
whole = part_bitrates(f"{WORK}/whole.mp4", starts)
print("\nvideo kbit/s per part (segmented / unsegmented):")
print("  " + "  ".join(f"{a:.0f}/{b:.0f}" for a, b in zip(seg, whole)))
ratios = [a / b for a, b in zip(seg, whole) if b > 0]
print(f"  ratio min x{min(ratios):.3f}, max x{max(ratios):.3f}; whole file "
      f"{os.path.getsize(f'{WORK}/two.mp4') / os.path.getsize(f'{WORK}/whole.mp4'):.3f} of the unsegmented size")

# A model of bigger pools: T(N) = serial + parallel / min(N, parts), with each part's time as the floor.
per_part = parallel / max(1, len(parts))
print("\nmodel (this input; serial parts measured above, parallel work spread over N workers):")
for n in (2, 10, 100, 1000):
    t = serial + max(per_part, parallel / min(n, len(parts)))
    print(f"  N={n:5d}: {t:7.1f} s, speedup x{t_whole / t:.1f}")
print(f"  at N >= {len(parts)} parts the job takes serial + one part: split and join on the coordinator bound it; "
      f"shorter parts or a longer input raise the ceiling")
print(f"  broker: {len(parts)} tasks and ~1 event/s per busy part; S3: the input crosses the network 3 times "
      f"(in, parts out, parts in) and the output twice ({size_mb:.0f} MB input)")

for obj in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
    s3.delete_object(Bucket=BUCKET, Key=obj["Key"])
s3.delete_bucket(Bucket=BUCKET)
for q in (JOBS, f"{JOBS}.high", f"{JOBS}.low", f"{JOBS}.segments", PROGRESS):
    try:
        ch.queue_delete(q)
    except Exception:
        pass
