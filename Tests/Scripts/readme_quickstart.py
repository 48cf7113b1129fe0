#!/usr/bin/env python3
"""Follows README.md's quick start literally, as a newcomer would, so the README cannot
drift from what works.

Reads the first ```sh block under "## Quick start", runs its lines in one bash in the
repository with none of the test environment's settings (only what the commands
themselves set up, such as .env, counts), and checks what a newcomer should see: the
job's progress bar, its completion, and the output object as an H.264 file of at most
720 lines. Then runs the README's `scripts/quickstart down` line and checks that the
workers are gone. A .env the run created is removed again.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
# Settings of the test run that a newcomer's shell would not have.
SETTINGS = re.compile(r"^(AWS_|AMQP_URL$|S3_BUCKET_NAME$|TRANSCODER_)")


def fail(message, output=""):
    print(f"readme quickstart: FAIL: {message}")
    if output:
        print("---- output ----\n" + output[-6000:])
    sys.exit(1)


def quick_start_lines():
    section = README.split("\n## Quick start", 1)
    if len(section) < 2:
        fail("README.md has no '## Quick start' section")
    body = section[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", body, re.S)
    if not block:
        fail("the Quick start section has no ```sh block")
    lines = [l for l in block.group(1).splitlines() if l.strip() and not l.lstrip().startswith("#")]
    if len(lines) != 2:
        fail(f"the quick start should be two commands, found {len(lines)}: {lines}")
    return lines


def readme_line(prefix):
    for line in README.splitlines():
        found = re.search(r"`(" + re.escape(prefix) + r"[^`]*)`", line)
        if found:
            return found.group(1)
    fail(f"README.md names no `{prefix}...` command")


def run(command, env):
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=3600)
    return result.returncode, result.stdout


def dotenv(path):
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.fullmatch(r"\s*([A-Z][A-Z0-9_]*)=(.*)", line)
        if m:
            values[m.group(1)] = m.group(2)
    return values


def main():
    env = {k: v for k, v in os.environ.items() if not SETTINGS.match(k)}
    env_file = ROOT / ".env"
    created_env = not env_file.exists()
    up, submit = quick_start_lines()
    down = readme_line("scripts/quickstart down")
    pids = []
    try:
        print(f"readme quickstart: $ {up}", flush=True)
        status, out = run(up, env)
        if status != 0:
            fail(f"'{up}' exited {status}", out)
        pids = [p.read_text().strip() for p in (ROOT / ".cache/quickstart").glob("worker-*.pid")]
        if not pids:
            fail(f"'{up}' started no worker", out)
        print(f"readme quickstart: $ {submit}", flush=True)
        status, out = run(submit, env)
        if status != 0:
            fail(f"'{submit}' exited {status}", out)
        # Not a terminal: the bar prints one line per change.
        bars = [float(m.group(1)) for m in re.finditer(r"^\[[#.]{30}\]\s+([\d.]+)% transcoding", out, re.M)]
        if len(bars) < 2 or bars != sorted(bars):
            fail(f"expected a progress bar advancing through 'transcoding', saw {bars}", out)
        done = re.search(r"^completed: (\S+) \((\d+) bytes", out, re.M)
        if not done or int(done.group(2)) < 100_000:
            fail("no 'completed: KEY (N bytes, ...)' line for a real output", out)
        key = done.group(1)

        import boto3  # installed by scripts/stack
        settings = dotenv(env_file)
        s3 = boto3.client("s3", endpoint_url=settings.get("AWS_S3_ENDPOINT_URL") or None,
                          aws_access_key_id=settings["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=settings["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1")
        with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
            s3.download_file(settings["S3_BUCKET_NAME"], key, f.name)
            probe = json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-of", "json", f.name],
                                              capture_output=True, text=True, check=True).stdout)
        video = [s for s in probe["streams"] if s["codec_type"] == "video"]
        if not video or video[0]["codec_name"] != "h264" or int(video[0]["height"]) > 720:
            fail(f"the output {key} is not H.264 of at most 720 lines: {video}")
        print(f"readme quickstart: completed {key}, {done.group(2)} bytes, "
              f"{video[0]['width']}x{video[0]['height']} h264, bar {bars[0]:.1f}% -> {bars[-1]:.1f}%")
    finally:
        status, out = run(down, env)
        if created_env:
            env_file.unlink(missing_ok=True)
    if status != 0:
        fail(f"'{down}' exited {status}", out)
    alive = [p for p in pids if Path(f"/proc/{p}").exists()]
    if alive:
        fail(f"workers still running after '{down}': {alive}")
    print("readme quickstart: ok")


if __name__ == "__main__":
    main()
