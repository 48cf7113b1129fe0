"""Driver for bench/e2e.sh: a real worker, pika for jobs and progress, boto3 for storage."""
import json, os, statistics as st, subprocess, sys, tempfile, time, uuid

import boto3, pika

BIN, ROUNDS, TRAILER, SYNTH, TINY = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
RUN = uuid.uuid4().hex[:8]
BUCKET = f"bench-{RUN}"
JOBS, PROGRESS = f"bench-{RUN}.jobs", f"bench-{RUN}.progress"
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_S3_ENDPOINT_URL"], region_name="us-east-1")
s3.create_bucket(Bucket=BUCKET)
WORK = tempfile.mkdtemp()
GST = """gst-launch-1.0 -q filesrc location={i} ! decodebin name=d
 d. ! queue ! videoconvert ! videoscale ! video/x-raw,width=1280,height=720
 ! x264enc speed-preset=veryfast pass=qual quantizer=23 ! h264parse ! mp4mux name=m ! filesink location={o}
 d. ! queue ! audioconvert ! audioresample ! avenc_aac bitrate=128000 ! aacparse ! m."""

def start_worker(concurrency=1, log=None):
    env = dict(os.environ, S3_BUCKET_NAME=BUCKET, TRANSCODER_JOBS_QUEUE=JOBS, TRANSCODER_PROGRESS_QUEUE=PROGRESS,
               TRANSCODER_CONCURRENCY=str(concurrency), TRANSCODER_METRICS_PORT="0",
               TRANSCODER_LOG_LEVEL="info" if log else "warning", TRANSCODER_SCRATCH_DIR=WORK + "/scratch")
    p = subprocess.Popen([BIN, "worker", "--env-file", "/nonexistent"], env=env, stderr=log)
    time.sleep(1.5)  # topology declared, consumer registered
    return p

conn = pika.BlockingConnection(pika.URLParameters(os.environ["AMQP_URL"]))
ch = conn.channel()
ch.confirm_delivery()

def watch_queue():
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q, f"{PROGRESS}.events", routing_key="#")
    return q

def submit(job):
    ch.basic_publish("", JOBS, json.dumps(job), pika.BasicProperties(delivery_mode=2))

def wait_for(q, job_id, final, timeout=900):
    deadline = time.time() + timeout
    for method, _, body in ch.consume(q, inactivity_timeout=1, auto_ack=True):
        if time.time() > deadline:
            raise RuntimeError(f"timeout waiting for {job_id}")
        if body is None:
            continue
        m = json.loads(body)
        if m.get("job_id") == job_id and (not final or m["state"] in ("completed", "failed")):
            ch.cancel()
            return m

worker = start_worker()
q = watch_queue()
rows = {}
for label, path in (("trailer 720p 55 s", TRAILER), ("synthetic 1080p 60 s", SYNTH)):
    key = f"in/{os.path.basename(path)}"
    s3.upload_file(path, BUCKET, key)
    for r in range(ROUNDS):
        job_id = f"{RUN}-{r}-{os.path.basename(path)}"
        t0 = time.monotonic()
        submit({"job_id": job_id, "input_key": key, "output_key": f"out/{job_id}.mp4", "preset": "h264-720p"})
        m = wait_for(q, job_id, final=True)
        assert m["state"] == "completed", m
        rows.setdefault(label, {}).setdefault("service", []).append(time.monotonic() - t0)
        t0 = time.monotonic()
        subprocess.run(GST.format(i=path, o=f"{WORK}/gst.mp4").split(), check=True)
        rows[label].setdefault("gst-launch", []).append(time.monotonic() - t0)
        print(f"  {label} round {r + 1}: service {rows[label]['service'][-1]:.2f} s, gst-launch {rows[label]['gst-launch'][-1]:.2f} s", file=sys.stderr)

# (b) dispatch latency
s3.upload_file(TINY, BUCKET, "in/tiny.mp4")
lat = []
for n in range(100):
    job_id = f"{RUN}-tiny-{n}"
    t0 = time.monotonic()
    submit({"job_id": job_id, "input_key": "in/tiny.mp4", "output_key": f"out/{job_id}.mp4", "preset": "h264-480p"})
    wait_for(q, job_id, final=False)
    lat.append((time.monotonic() - t0) * 1000)
    wait_for(q, job_id, final=True)
worker.terminate(); worker.wait()

# (c) peak RSS during one 1080p job (fresh worker): the worker itself, idle and at its peak, and the
# job's media process (its peak from the worker's log, wait4's ru_maxrss) vs the engine alone
def status_mb(pid, field):
    return int([l for l in open(f"/proc/{pid}/status") if l.startswith(field)][0].split()[1]) / 1024
log_path = f"{WORK}/worker-rss.log"
with open(log_path, "w") as log:
    worker = start_worker(log=log)
    idle = status_mb(worker.pid, "VmRSS")
    job_id = f"{RUN}-rss"
    submit({"job_id": job_id, "input_key": f"in/{os.path.basename(SYNTH)}", "output_key": "out/rss.mp4", "preset": "h264-720p"})
    wait_for(q, job_id, final=True)
    hwm = status_mb(worker.pid, "VmHWM")
    worker.terminate(); worker.wait()
child = max([int(w.split("=")[1]) for w in open(log_path).read().split() if w.startswith("child.peak_rss_mb=")] or [0])
out = subprocess.run(["/usr/bin/time", "-f", "%M", BIN, "run", SYNTH, f"{WORK}/run.mp4", "--preset", "h264-720p"],
                     capture_output=True, text=True, check=True)
engine_rss = int(out.stderr.strip().splitlines()[-1]) / 1024

print(f"\n(a) submit -> completed vs gst-launch-1.0, h264-720p, medians of {ROUNDS}")
print(f"{'input':24} {'service s':>10} {'gst-launch s':>13} {'ratio':>7}  (target <= 1.05)")
for label, d in rows.items():
    s, g = st.median(d["service"]), st.median(d["gst-launch"])
    print(f"{label:24} {s:10.2f} {g:13.2f} {s / g:7.3f}")
lat.sort()
print(f"\n(b) dispatch latency submit -> first progress, 100 tiny jobs: p50 {lat[49]:.1f} ms, p90 {lat[89]:.1f} ms, max {lat[-1]:.1f} ms  (target p50 <= 50 ms)")
print(f"\n(c) peak RSS, 1080p job: worker idle {idle:.0f} MB, worker peak {hwm:.0f} MB, job child peak {child} MB; "
      f"engine alone (transcoder run) {engine_rss:.0f} MB, child/engine {child / engine_rss:.2f}  (target <= 1.2)")

for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
    for o in page.get("Contents", []):
        s3.delete_object(Bucket=BUCKET, Key=o["Key"])
s3.delete_bucket(Bucket=BUCKET)
for name in (JOBS, JOBS + ".dead", JOBS + ".dead.notify", PROGRESS, PROGRESS + ".results"):
    ch.queue_delete(name)
conn.close()
