#!/usr/bin/env python3
"""Load for bench/api.sh: N requests from C threads with keep-alive connections; prints
rate and latency percentiles. POST bodies get unique job ids.

  api_load.py URL post|get PATH COUNT CONCURRENCY [TOKEN]
"""
import http.client
import json
import sys
import threading
import time
import uuid
from urllib.parse import urlparse

url, mode, path, count, concurrency = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
target = urlparse(url)
latencies, statuses, lock = [], {}, threading.Lock()
per_thread = count // concurrency


def worker():
    conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
    mine, codes = [], {}
    for _ in range(per_thread):
        headers = {"Content-Type": "application/json"}
        body = None
        if mode == "post":
            job_id = "bench-" + uuid.uuid4().hex
            body = json.dumps({"job_id": job_id, "input_key": "in/bench.mp4", "output_key": f"out/{job_id}.mp4",
                               "preset": "h264-720p"})
        started = time.perf_counter()
        conn.request("POST" if mode == "post" else "GET", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        mine.append(time.perf_counter() - started)
        codes[response.status] = codes.get(response.status, 0) + 1
    with lock:
        latencies.extend(mine)
        for code, n in codes.items():
            statuses[code] = statuses.get(code, 0) + n


threads = [threading.Thread(target=worker) for _ in range(concurrency)]
t0 = time.perf_counter()
for t in threads:
    t.start()
for t in threads:
    t.join()
elapsed = time.perf_counter() - t0
latencies.sort()
pct = lambda p: latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000
print(f"{mode:4} {path:40} n={len(latencies)} c={concurrency} rate={len(latencies) / elapsed:.0f}/s "
      f"p50={pct(50):.1f}ms p99={pct(99):.1f}ms statuses={statuses}")
