#!/usr/bin/env python3
"""HTTP fault-injecting proxy for the S3 retry tests (loopback only, stops by itself).

  fault_proxy.py --upstream 127.0.0.1:7480 --rule 'PUT partNumber=2:503,reset' --log FILE

Listens on 127.0.0.1 (random port, printed on stdout as "PORT <n>"), forwards each request
to the upstream with "Connection: close" and relays the answer. A rule "METHOD substring:
actions" makes the first requests whose method matches and whose path+query contains the
substring fail, one action each in order: 503 (SlowDown XML), 500 (InternalError XML), reset
(close the connection without answering), sleep (3 s, then pass), then pass through. Every request is logged as
"<method> <path?query> <action>" so tests can count attempts. Exits after --lifetime seconds.
SIGUSR1 starts an outage (every connection is reset at once, logged "down"), SIGUSR2 ends it.
"""
import argparse, os, signal, socket, sys, threading, time

# The test process starts us with most signals blocked (inherited mask): let SIGTERM through.
signal.pthread_sigmask(signal.SIG_UNBLOCK, signal.valid_signals())

# Drop descriptors inherited from the test process (pipes of concurrent subprocesses): holding
# them would keep those pipes open, and their readers waiting, for our whole lifetime.
os.closerange(3, 65536)

ap = argparse.ArgumentParser()
ap.add_argument("--upstream", default="127.0.0.1:7480")
ap.add_argument("--rule", action="append", default=[])
ap.add_argument("--log", required=True)
ap.add_argument("--lifetime", type=float, default=300)
ap.add_argument("--port", type=int, default=0)
a = ap.parse_args()
uhost, uport = a.upstream.rsplit(":", 1)
rules = []
for r in a.rule:
    head, _, actions = r.rpartition(":")
    method, _, needle = head.partition(" ")
    rules.append([method, needle, actions.split(",")])
lock = threading.Lock()
down = threading.Event()
signal.signal(signal.SIGUSR1, lambda *_: down.set())
signal.signal(signal.SIGUSR2, lambda *_: down.clear())
logf = open(a.log, "a", buffering=1)

ERR = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code>"
       "<Message>injected by fault_proxy</Message><RequestId>fault-proxy</RequestId></Error>")

def recv_head(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None, b""
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest

def read_body(conn, rest, length):
    body = rest
    while len(body) < length:
        chunk = conn.recv(min(1 << 20, length - len(body)))
        if not chunk:
            break
        body += chunk
    return body

def relay_response(up, conn, method):
    """Relays one answer, forcing "Connection: close" so each connection carries one request."""
    head, rest = recv_head(up)
    if head is None:
        return
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    kept = [l for l in lines[1:] if l and not l.lower().startswith("connection:")]
    conn.sendall(("\r\n".join([lines[0]] + kept + ["Connection: close", "", ""])).encode("latin-1"))
    length, chunked = None, False
    for l in kept:
        name, _, value = l.partition(":")
        if name.lower() == "content-length":
            length = int(value)
        if name.lower() == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    if method == "HEAD" or status in (204, 304) or (length is None and not chunked):
        length = 0 if method == "HEAD" or status in (204, 304) else None
    if length is not None:
        sent = len(rest[:length])
        conn.sendall(rest[:length])
        while sent < length:
            chunk = up.recv(min(1 << 20, length - sent))
            if not chunk:
                break
            conn.sendall(chunk)
            sent += len(chunk)
        return
    # Chunked (or close-delimited): relay until the terminating chunk or upstream close.
    data = rest
    conn.sendall(data)
    while not data.endswith(b"0\r\n\r\n"):
        chunk = up.recv(1 << 20)
        if not chunk:
            break
        conn.sendall(chunk)
        data = (data + chunk)[-16:]


def handle(conn):
    try:
        head, rest = recv_head(conn)
        if head is None:
            return
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = [l for l in lines[1:] if l and not l.lower().startswith("connection:")]
        length = 0
        for l in headers:
            if l.lower().startswith("content-length:"):
                length = int(l.split(":", 1)[1])
        action = "down" if down.is_set() else "pass"
        with lock:
            for rule in rules:
                if action == "pass" and rule[0] == method and rule[1] in target and rule[2]:
                    action = rule[2].pop(0)
                    break
        logf.write(f"{method} {target} {action}\n")
        if action in ("reset", "down"):
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            return
        body = read_body(conn, rest, length)
        if action == "sleep":
            time.sleep(3)
        if action in ("503", "500"):
            code = "SlowDown" if action == "503" else "InternalError"
            payload = ERR.format(code=code).encode()
            reason = "Slow Down" if action == "503" else "Internal Server Error"
            conn.sendall(f"HTTP/1.1 {action} {reason}\r\nContent-Type: application/xml\r\n"
                         f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode() + payload)
            return
        up = socket.create_connection((uhost, int(uport)))
        up.sendall(("\r\n".join([lines[0]] + headers + ["Connection: close", "", ""])).encode("latin-1") + body)
        relay_response(up, conn, method)
        up.close()
    except OSError:
        pass
    finally:
        conn.close()

srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", a.port))
srv.listen(64)
print(f"PORT {srv.getsockname()[1]}", flush=True)
deadline = time.time() + a.lifetime
srv.settimeout(1)
while time.time() < deadline:
    try:
        c, _ = srv.accept()
    except socket.timeout:
        continue
    threading.Thread(target=handle, args=(c,), daemon=True).start()
