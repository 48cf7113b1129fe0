"""Driver for bench/priority.sh: real workers on private queue names, pika for jobs and progress."""
import json, os, statistics as st, subprocess, sys, tempfile, time, uuid

import boto3, pika

BIN, POLLS = sys.argv[1], [int(x) for x in sys.argv[2:]]
RUN = uuid.uuid4().hex[:8]
BUCKET = f"bench-{RUN}"
JOBS, PROGRESS = f"bench-{RUN}.jobs", f"bench-{RUN}.progress"
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_S3_ENDPOINT_URL"], region_name="us-east-1")
s3.create_bucket(Bucket=BUCKET)
WORK = tempfile.mkdtemp()
HZ = os.sysconf("SC_CLK_TCK")

def start_workers(n, poll):
    env = dict(os.environ, S3_BUCKET_NAME=BUCKET, TRANSCODER_JOBS_QUEUE=JOBS, TRANSCODER_PROGRESS_QUEUE=PROGRESS,
               TRANSCODER_METRICS_PORT="0", TRANSCODER_LOG_LEVEL="warning", TRANSCODER_SCRATCH_DIR=WORK + "/scratch",
               TRANSCODER_IDLE_POLL_MS=str(poll))
    return [subprocess.Popen([BIN, "worker", "--env-file", "/nonexistent"], env=env) for _ in range(n)]

def stop(workers):
    for w in workers: w.terminate()
    for w in workers: w.wait()

def broker_cpu_seconds():
    pid = subprocess.run(["pgrep", "-f", "beam.smp"], capture_output=True, text=True).stdout.split()[0]
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ

conn = pika.BlockingConnection(pika.URLParameters(os.environ["AMQP_URL"]))
ch = conn.channel()
ch.confirm_delivery()
setup = start_workers(1, 200)  # declares the lanes
time.sleep(3)
stop(setup)

def submit(job_id, queue=JOBS, key="in/none.mp4"):
    ch.basic_publish("", queue, json.dumps({"job_id": job_id, "input_key": key, "output_key": f"out/{job_id}.mp4",
                                             "preset": "h264-480p"}), pika.BasicProperties(delivery_mode=2))

def progress_queue():
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q, f"{PROGRESS}.events", routing_key="#")
    return q

print(f"(a) broker CPU with idle workers, % of one core over 15 s (workers poll 3 lanes)")
for poll in POLLS:
    for n in (0, 10, 30):
        workers = start_workers(n, poll)
        time.sleep(5)
        c0, t0 = broker_cpu_seconds(), time.monotonic()
        time.sleep(15)
        pct = (broker_cpu_seconds() - c0) / (time.monotonic() - t0) * 100
        stop(workers)
        print(f"  TRANSCODER_IDLE_POLL_MS={poll:<5} idle workers={n:<3} broker CPU {pct:5.1f} %")

print(f"\n(b) pickup delay of an idle worker (idle 2-3 s before each of 30 jobs) vs a pika consumer")
raw = ch.queue_declare(f"bench-{RUN}.raw", durable=True).method.queue
lat_raw = []
for n in range(30):
    time.sleep(0.05)
    t0 = time.monotonic()
    ch.basic_publish("", raw, b"x", pika.BasicProperties(delivery_mode=2))
    for method, _, body in ch.consume(raw, inactivity_timeout=5):
        ch.basic_ack(method.delivery_tag); ch.cancel(); break
    lat_raw.append((time.monotonic() - t0) * 1000)
for poll in POLLS:
    workers = start_workers(1, poll)
    q = progress_queue()
    time.sleep(3)
    lat = []
    for n in range(30):
        time.sleep(2 + (n % 10) / 10)
        job_id = f"{RUN}-{poll}-{n}"
        t0 = time.monotonic()
        submit(job_id)
        for method, _, body in ch.consume(q, inactivity_timeout=10, auto_ack=True):
            m = json.loads(body)
            if m.get("job_id") == job_id and m["state"] == "queued":
                ch.cancel(); break
        lat.append((time.monotonic() - t0) * 1000)
    stop(workers)
    lat.sort()
    print(f"  TRANSCODER_IDLE_POLL_MS={poll:<5} worker p50 {st.median(lat):6.1f} ms  p90 {lat[26]:6.1f} ms  max {lat[-1]:6.1f} ms")
lat_raw.sort()
print(f"  pika consumer (publish -> delivery)   p50 {st.median(lat_raw):6.1f} ms  p90 {lat_raw[26]:6.1f} ms")
print(f"  (the worker's figure includes decoding the job and publishing its first message)")

print(f"\n(c) a high job published behind 200 normal ones, one worker (concurrency 1)")
q = progress_queue()
ids = [f"{RUN}-n{i}" for i in range(200)]
for job_id in ids: submit(job_id)
submit(f"{RUN}-high", queue=f"{JOBS}.high")
workers = start_workers(1, POLLS[0])
order = []
for method, _, body in ch.consume(q, inactivity_timeout=30, auto_ack=True):
    if body is None: break
    m = json.loads(body)
    if m["state"] == "queued": order.append(m["job_id"])
    if len(order) == 201: break
ch.cancel()
stop(workers)
print(f"  the high job started {order.index(RUN + '-high') + 1} of {len(order)}; normal ones in order: {[o for o in order if o != RUN + '-high'] == ids}")

for queue in [f"{JOBS}.high", JOBS, f"{JOBS}.low", f"{JOBS}.dead", f"{JOBS}.dead.notify", raw, PROGRESS, f"{PROGRESS}.results"]:
    ch.queue_delete(queue)
s3.delete_bucket(Bucket=BUCKET)
