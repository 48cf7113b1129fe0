#!/usr/bin/env python3
"""pika side of bench/amqp.sh: persistent messages, publish with pipelined confirms
(SelectConnection, up to --inflight unconfirmed), then consume + ack (prefetch).
Prints the same line format as amqp-bench."""
import argparse
import os
import resource
import time

import pika


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


ap = argparse.ArgumentParser()
ap.add_argument("--url", default="amqp://guest:guest@localhost:5672/%2f")
ap.add_argument("--count", type=int, default=20000)
ap.add_argument("--size", type=int, default=1024)
ap.add_argument("--inflight", type=int, default=256)
ap.add_argument("--prefetch", type=int, default=256)
a = ap.parse_args()
queue = "bench.pika.%d" % os.getpid()
body = b"a" * a.size
props = pika.BasicProperties(delivery_mode=2)

state = {"sent": 0, "confirmed": 0}


def publish_phase():
    params = pika.URLParameters(a.url)
    result = {}

    def on_open(conn):
        conn.channel(on_open_callback=on_channel)

    def on_channel(ch):
        result["ch"] = ch
        ch.queue_declare(queue, durable=True, callback=lambda _: ch.queue_purge(queue, callback=lambda _: ch.confirm_delivery(on_confirm, callback=lambda _: start(ch))))

    def start(ch):
        result["t0"], result["c0"] = time.monotonic(), cpu()
        fill(ch)

    def fill(ch):
        while state["sent"] < a.count and state["sent"] - state["confirmed"] < a.inflight:
            ch.basic_publish("", queue, body, props)
            state["sent"] += 1

    def on_confirm(frame):
        m = frame.method
        if isinstance(m, pika.spec.Basic.Nack):
            raise SystemExit("nacked")
        if m.multiple:
            state["confirmed"] = max(state["confirmed"], m.delivery_tag)
        else:
            state["confirmed"] += 1
        if state["confirmed"] >= a.count:
            result["t1"], result["c1"] = time.monotonic(), cpu()
            conn.close()
        else:
            fill(result["ch"])

    conn = pika.SelectConnection(params, on_open_callback=on_open,
                                 on_close_callback=lambda *_: conn.ioloop.stop())
    conn.ioloop.start()
    wall, c = result["t1"] - result["t0"], result["c1"] - result["c0"]
    print("pika  publish  msgs=%d rate=%.0f msg/s cpu_us_per_msg=%.2f" % (a.count, a.count / wall, c / a.count * 1e6))


def consume_phase():
    conn = pika.BlockingConnection(pika.URLParameters(a.url))
    ch = conn.channel()
    ch.basic_qos(prefetch_count=a.prefetch)
    t0, c0 = time.monotonic(), cpu()
    n = 0
    for method, _props, _body in ch.consume(queue):
        ch.basic_ack(method.delivery_tag)
        n += 1
        if n == a.count:
            break
    wall, c = time.monotonic() - t0, cpu() - c0
    ch.cancel()
    ch.queue_delete(queue)
    conn.close()
    print("pika  consume  msgs=%d rate=%.0f msg/s cpu_us_per_msg=%.2f" % (a.count, a.count / wall, c / a.count * 1e6))


publish_phase()
consume_phase()
