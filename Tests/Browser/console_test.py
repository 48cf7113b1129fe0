#!/usr/bin/env python3
"""End-to-end test of the web console in headless Chromium.

    python3 Tests/Browser/console_test.py BASE_URL TOKEN MEDIA_FILE SCREENSHOT_DIR

BASE_URL is where the console is served (the API's root, or PREFIX/), TOKEN an API token with
the admin scope ('' when the API needs none), MEDIA_FILE a small real video, SCREENSHOT_DIR
where the screenshots go. An API, a worker and the storage must be running, and the bucket
must let the console's origin PUT (`transcoder api allow-uploads --origin ORIGIN`).
Prints one line per step; exits non-zero with the reason on the first failure.
"""
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
import uuid

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

STARTED = time.monotonic()


class Failure(Exception):
    pass


def log(message):
    print(f"[{time.monotonic() - STARTED:6.1f}s] {message}", flush=True)


def fail(message):
    raise Failure(message)


if len(sys.argv) != 5:
    print(__doc__, file=sys.stderr)
    sys.exit(2)
BASE, TOKEN, MEDIA, SHOTS = sys.argv[1:5]
BASE = BASE if BASE.endswith("/") else BASE + "/"
MEDIA = os.path.abspath(MEDIA)
os.makedirs(SHOTS, exist_ok=True)
RUN = uuid.uuid4().hex[:6]


# ------------------------------------------------------------------ the API, for setup

def call(method, path, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(BASE + path, data=data, method=method)
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if TOKEN:
        request.add_header("Authorization", f"Bearer {TOKEN}")
    for k, v in (headers or {}).items():
        request.add_header(k, v)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
            return json.loads(text) if text else None
    except urllib.error.HTTPError as error:
        fail(f"{method} {path} answered {error.code}: {error.read().decode(errors='replace')[:300]}")


def put_file(url, path):
    with open(path, "rb") as f:
        data = f.read()
    request = urllib.request.Request(url, data=data, method="PUT")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
    except urllib.error.HTTPError as error:
        fail(f"PUT to the storage answered {error.code}: {error.read().decode(errors='replace')[:300]}")


# ------------------------------------------------------------------ the browser

options = webdriver.ChromeOptions()
for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--autoplay-policy=no-user-gesture-required", "--window-size=1280,900",
                 "--disable-search-engine-choice-screen", "--no-first-run"):
    options.add_argument(argument)
options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
for binary in ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"):
    if os.path.exists(binary):
        options.binary_location = binary
        break
driver_path = next((p for p in ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver") if os.path.exists(p)), None)
try:
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path) if driver_path else Service())
except WebDriverException as error:
    print(f"FAIL: cannot start headless Chromium: {error.msg}", file=sys.stderr)
    sys.exit(1)
driver.set_script_timeout(30)


def wait(condition, timeout, what):
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.1,
                             ignored_exceptions=[StaleElementReferenceException]).until(lambda d: condition())
    except TimeoutException:
        fail(f"timed out after {timeout}s waiting for {what}")


def find(selector):
    elements = driver.find_elements(By.CSS_SELECTOR, selector)
    return elements[0] if elements else None


def must(selector, timeout=10):
    return wait(lambda: find(selector), timeout, f"element {selector}")


# The page re-renders while the test reads it: an element may go between finding and reading it.
def text(selector):
    for _ in range(5):
        try:
            el = find(selector)
            return el.text.strip() if el else ""
        except StaleElementReferenceException:
            time.sleep(0.1)
    return ""


def attr(selector, name):
    for _ in range(5):
        try:
            el = find(selector)
            return (el.get_attribute(name) or "") if el else ""
        except StaleElementReferenceException:
            time.sleep(0.1)
    return ""


def go(route):
    """Shows a route (a fresh render even when it is already shown) and waits until it is drawn."""
    before = driver.execute_script("""
        const main = document.getElementById('main');
        const before = main.dataset.render || '';
        const target = '#' + arguments[0].replace(/^#/, '');
        if (location.hash === target) window.dispatchEvent(new HashChangeEvent('hashchange'));
        else location.hash = target;
        return before;""", route or "#/jobs")
    wait(lambda: driver.execute_script(
        "const m = document.getElementById('main'); return m.dataset.render !== arguments[0] && m.dataset.ready === 'true';",
        before), 20, f"page {route} to render")


# Chrome reports 4xx answers of fetch() as console errors; the ones a step provokes on purpose are allowed.
def check_console(step, allow=()):
    entries = driver.get_log("browser")
    severe = [e["message"] for e in entries if e["level"] == "SEVERE"
              and not any(re.search(pattern, e["message"]) for pattern in allow)]
    if severe:
        fail(f"{step}: the browser console has errors:\n  " + "\n  ".join(severe))


def screenshot(name):
    for width, height in ((1280, 900), (375, 812)):
        driver.set_window_size(width, height)
        time.sleep(0.3)
        path = os.path.join(SHOTS, f"{name}-{width}.png")
        if not driver.save_screenshot(path):
            fail(f"could not save {path}")
        overflow = driver.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        if width == 375 and overflow > 4:
            log(f"  note: {name} is {overflow}px wider than a 375px screen")
    driver.set_window_size(1280, 900)


def state():
    return attr("#job-state", "data-state")


def job_id_from_url():
    wait(lambda: re.search(r"#/jobs/[^/?]+$", driver.current_url), 15, "the job page after submitting")
    return urllib.request.unquote(driver.current_url.rsplit("/", 1)[1])


def wait_state(wanted, timeout, watch_progress=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = state()
        if watch_progress is not None:
            try:
                watch_progress.append(float(attr("#job-progress", "value")))
            except ValueError:
                pass
        if s in wanted:
            return s
        if s in ("completed", "failed", "cancelled"):
            reason = text("#failure")
            fail(f"job ended {s} while waiting for {'/'.join(wanted)}" + (f": {reason}" if reason else ""))
        time.sleep(0.1)
    fail(f"job still {state() or '?'} after {timeout}s, waiting for {'/'.join(wanted)}")


def fill(selector, value):
    el = must(selector)
    el.clear()
    el.send_keys(value)
    return el


def check(selector):
    el = must(selector)
    if not el.is_selected():
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
        el.click()


def submit_job():
    button = must("#submit")
    wait(lambda: button.is_enabled(), 30, "the submit button")
    button.click()
    wait(lambda: "#/jobs/" in driver.current_url or text("#submit-error"), 20, "the job page or a submit error")
    if "#/jobs/" not in driver.current_url:
        fail(f"submitting was refused: {text('#submit-error')}")
    return job_id_from_url()


steps = 0


def step(name):
    global steps
    steps += 1
    log(f"step {steps}: {name}")



def start_prefix_proxy(base):
    """A reverse proxy on a free port serving BASE under /transcoder/ (streams answers, so SSE
    goes through); returns the console's URL there."""
    import http.client, http.server, threading, urllib.parse
    target = urllib.parse.urlsplit(base)

    class Proxy(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def forward(self):
            if not self.path.startswith("/transcoder/"):
                self.send_error(404)
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=300)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            upstream.request(self.command, self.path[len("/transcoder"):], body=body, headers=headers)
            answer = upstream.getresponse()
            self.send_response(answer.status)
            for k, v in answer.getheaders():
                if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                    self.send_header(k, v)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                while chunk := answer.read1(65536):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
            finally:
                upstream.close()

        do_GET = do_POST = do_PUT = do_DELETE = forward

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/transcoder/"


try:
    # 1. Sign in.
    step("sign in")
    driver.get(BASE)
    wait(lambda: find("#token") or find("#jobs-table"), 15, "the sign-in form or the job list")
    if find("#token"):
        if not TOKEN:
            fail("the console asks for a token and none was given")
        fill("#token", TOKEN)
        must("#sign-in-submit").click()
        wait(lambda: find("#jobs-table") or text("#sign-in-error").startswith("That token"), 15, "the job list after signing in")
        if not find("#jobs-table"):
            fail(f"signing in failed: {text('#sign-in-error')}")
        if not find("#sign-out").is_displayed():
            fail("no Sign out button after signing in")
    check_console("sign in", allow=[r"v1/jobs\?limit=1 .*status of 401"])
    screenshot("jobs")
    log("  signed in; job list shown")

    # 2. Upload the media through the New job page and submit it with h264-480p.
    step("upload and submit a job with preset h264-480p")
    go("#/new")
    must("#file").send_keys(MEDIA)
    wait(lambda: attr("#upload-status", "data-done") in ("true", "false"), 60, "the upload to finish")
    if attr("#upload-status", "data-done") != "true":
        fail(f"the browser upload failed: {text('#upload-status')}; console: {driver.get_log('browser')}")
    input_key = attr("#input-key", "value")
    if not input_key.startswith("uploads/"):
        fail(f"after the upload the input key is {input_key!r}")
    if attr("#upload-progress", "value") not in ("100", "100.0"):
        fail(f"upload progress bar ends at {attr('#upload-progress', 'value')}")
    check("#preset-h264-480p")
    wait(lambda: attr("#validation", "data-valid") in ("true", "false"), 10, "the job to be checked")
    if attr("#validation", "data-valid") != "true":
        fail(f"the dry run refused the job: {text('#validation')}")
    fill("#output-key", f"out/console-{RUN}/480p.mp4")
    screenshot("new-job")
    check_console("upload")
    job480 = submit_job()
    log(f"  uploaded {input_key}; job {job480}")

    # 3. Progress advances and the job completes.
    step("the job page follows the job to completed")
    must("#job-progress")
    seen = []
    wait_state(("completed",), 90, seen)
    values = sorted(set(seen))
    if not values or values[-1] < 100 or len(values) < 2:
        fail(f"the progress bar did not advance (values seen: {values})")
    log(f"  progress values seen: {', '.join(f'{v:g}' for v in values[:12])}{' …' if len(values) > 12 else ''}")
    # The output's facts, as the worker probed them: an h264-480p of a 176x144 clip stays 176x144.
    facts = driver.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('#job-facts dt')]"
        ".map((dt) => [dt.textContent, dt.nextElementSibling.textContent]))")
    if "H.264" not in facts.get("Codec", "") or not re.fullmatch(r"\d+×\d+", facts.get("Resolution", "")):
        fail(f"the job page does not show the output's codec and resolution: {facts}")
    log(f"  output: {facts['Codec']}, {facts['Resolution']}")
    check_console("job page")

    # 4. Play the output.
    step("play the output")
    video = must("#output-video", 15)
    result = driver.execute_async_script("""
        const [video, done] = arguments;
        video.muted = true;
        const t0 = Date.now();
        const ready = () => new Promise((resolve) => {
          const tick = () => (video.readyState >= 2 || Date.now() - t0 > 15000) ? resolve() : setTimeout(tick, 100);
          tick();
        });
        ready().then(() => video.play()).then(() => {
          const start = video.currentTime;
          setTimeout(() => done({ready: video.readyState, start, now: video.currentTime, error: video.error && video.error.message}), 1500);
        }).catch((e) => done({ready: video.readyState, error: String(e)}));
    """, video)
    if result.get("ready", 0) < 2 or "now" not in result or result["now"] <= result["start"]:
        fail(f"the output did not play: {result}")
    if not find("#output-download"):
        fail("no download link")
    screenshot("job-completed")
    check_console("play")
    log(f"  readyState {result['ready']}, currentTime {result['start']:.2f} -> {result['now']:.2f}")

    # 5. A user preset, then a job with it.
    step("create a user preset and run a job with it")
    preset = f"console-160-{RUN}"
    go("#/presets")
    must("#presets-table tr[data-preset='h264-480p']")
    fill("#preset-name", preset)
    fill("#preset-description", "160x120 for the console test")
    check("#preset-kind-fragment")
    fill("#preset-fragment", "videoscale ! video/x-raw,width=160,height=120 ! x264enc speed-preset=ultrafast")
    must("#preset-save").click()
    wait(lambda: find(f"#presets-table tr[data-preset='{preset}']") or text("#preset-error"), 10, "the new preset in the table")
    if not find(f"#presets-table tr[data-preset='{preset}']"):
        fail(f"saving the preset failed: {text('#preset-error')}")
    screenshot("presets")
    go("#/new")
    fill("#input-key", input_key)
    check(f"#preset-{preset}")
    fill("#output-key", f"out/console-{RUN}/160.mp4")
    job160 = submit_job()
    wait_state(("completed",), 90)
    check_console("user preset")
    log(f"  preset {preset}; job {job160} completed")

    # 6. A bad fragment is refused as it is typed.
    step("a forbidden fragment is refused while typing")
    go("#/new")
    fill("#input-key", input_key)
    check("#mode-fragment")
    fill("#fragment", "filesrc location=/etc/passwd ! x264enc")
    wait(lambda: attr("#validation", "data-valid") == "false", 10, "the validation error")
    message = text("#validation")
    if "filesrc" not in message and "location" not in message:
        fail(f"the validation message does not name the element: {message!r}")
    screenshot("new-job-invalid")
    check_console("bad fragment", allow=[r"v1/jobs\?dry_run=true .*status of 422"])
    log(f"  shown: {message}")

    # 7. A job whose input is missing fails with a reason (its key is reserved for the replay below).
    step("a job with a missing input fails with its reason")
    with open(MEDIA, "rb") as f:
        size = len(f.read())
    reserved = call("POST", "v1/uploads", {"filename": f"replay-{RUN}.mp4", "size": size})
    go("#/new")
    fill("#input-key", reserved["key"])
    check("#preset-h264-480p")
    fill("#output-key", f"out/console-{RUN}/replayed.mp4")
    missing_job = submit_job()
    wait_state(("failed",), 60)
    reason = text("#job-reason")
    detail = text("#job-error-message")
    if "does not exist" not in reason + " " + detail:
        fail(f"the failure reason is not shown: {reason!r} {detail!r}")
    screenshot("job-failed")
    check_console("missing input")
    log(f"  reason: {reason} / {detail}")

    # 8. Cancel a running job.
    step("cancel a running job")
    go("#/new")
    fill("#input-key", input_key)
    check("#mode-fragment")
    fill("#fragment", "videoscale ! video/x-raw,width=1920,height=1080 ! x264enc speed-preset=veryslow")
    fill("#output-key", f"out/console-{RUN}/slow.mp4")
    slow = submit_job()
    wait_state(("downloading", "transcoding"), 60)
    must("#cancel").click()
    wait_state(("cancelled",), 45)
    if find("#retry") is None or not find("#retry").is_displayed():
        fail("no Retry button on a cancelled job")
    check_console("cancel")
    log(f"  job {slow} cancelled")

    # 9. Replay the dead letter once its input exists.
    step("replay the dead letter")
    put_file(reserved["url"], MEDIA)
    go("#/dead-letters")
    must("#dead-letters-table")
    deadline = time.monotonic() + 30
    while not find(f"#dead-letters-body tr[data-job-id='{missing_job}'] button.replay"):
        if time.monotonic() > deadline:
            fail(f"job {missing_job} is not on the Dead letters page: {text('#dead-letters-body')[:300]} {text('#dead-letters-error')}")
        time.sleep(1)
        must("#dead-letters-refresh").click()
    screenshot("dead-letters")
    find(f"#dead-letters-body tr[data-job-id='{missing_job}'] button.replay").click()
    wait(lambda: missing_job in attr("#replay-result", "data-replayed") or text("#dead-letters-error"), 15, "the replay")
    if text("#dead-letters-error"):
        fail(f"replay failed: {text('#dead-letters-error')}")
    if find(f"#dead-letters-body tr[data-job-id='{missing_job}']"):
        fail(f"job {missing_job} is still listed after its replay")
    # The record leaves `failed` when a worker takes the replayed job.
    deadline = time.monotonic() + 60
    while True:
        go(f"#/jobs/{missing_job}")
        if state() != "failed":
            break
        if time.monotonic() > deadline:
            fail(f"job {missing_job} is still failed 60s after its replay")
        time.sleep(1)
    wait_state(("completed",), 90)
    check_console("replay")
    log(f"  job {missing_job} replayed and completed")

    # 10. The other pages.
    step("workers and job list pages")
    go("#/workers")
    wait(lambda: find("#workers-body tr[data-worker-id]"), 10, "a worker row")
    screenshot("workers")
    go(f"#/jobs?prefix=out/console-{RUN}/")
    wait(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#jobs-body tr[data-job-id]")) >= 4, 10, "this run's jobs in the filtered list")
    go("#/jobs")
    must(f"#jobs-body tr[data-job-id='{missing_job}']")
    screenshot("jobs-after")
    check_console("pages")

    # 11. Behind a path prefix: a reverse proxy serves the API under /transcoder/.
    step("behind a path prefix")
    prefixed = start_prefix_proxy(BASE)
    driver.get(prefixed + "#/jobs")
    wait(lambda: find("#token") or find("#jobs-table"), 15, "the sign-in form or the job list behind the prefix")
    if find("#token"):  # another origin: its own sessionStorage
        fill("#token", TOKEN)
        must("#sign-in-submit").click()
    wait(lambda: find(f"#jobs-body tr[data-job-id='{missing_job}']"), 20, "the job list behind the prefix")
    go("#/presets")
    must("#presets-table tr[data-preset='h264-480p']")
    go(f"#/jobs/{missing_job}")
    if state() != "completed":
        fail(f"the job page behind the prefix shows {state()!r}")
    check_console("path prefix", allow=[r"v1/jobs\?limit=1 .*status of 401"])
    log(f"  {prefixed}: job list, presets and a job page")
    call("DELETE", f"v1/presets/{preset}")
    log(f"PASS: {steps} steps in {time.monotonic() - STARTED:.0f}s")
except Failure as error:
    try:
        driver.save_screenshot(os.path.join(SHOTS, "failure.png"))
    except WebDriverException:
        pass
    print(f"FAIL at step {steps}: {error}", file=sys.stderr)
    driver.quit()
    sys.exit(1)
except WebDriverException as error:
    print(f"FAIL at step {steps}: webdriver: {error.msg}", file=sys.stderr)
    driver.quit()
    sys.exit(1)
driver.quit()
