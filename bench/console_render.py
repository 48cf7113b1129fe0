"""Driver for the console line of bench/api.sh: headless Chromium opens the console's job
list on the seeded store (no token needed on loopback without tokens) and reports the time
to the first full page of rows and the bytes transferred, against fetching the same page
of the API alone (the raw cost under the page)."""
import json, statistics as st, sys, time, urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

URL = sys.argv[1].rstrip("/")
RUNS = 5

options = webdriver.ChromeOptions()
for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
    options.add_argument(arg)
driver = webdriver.Chrome(options=options, service=Service(executable_path="/usr/bin/chromedriver"))
driver.set_script_timeout(60)
renders, transferred = [], []
for run in range(RUNS):
    driver.get("about:blank")
    driver.get(URL + "/#/jobs")
    # Milliseconds from navigation start to 50 rows in the table, then every byte fetched so far.
    ms = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const tick = () => document.querySelectorAll('tr[data-job-id]').length >= 50
            ? done(performance.now()) : requestAnimationFrame(tick);
        tick();""")
    size = driver.execute_script("""
        const all = [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')];
        return all.reduce((sum, e) => sum + (e.transferSize || 0), 0);""")
    renders.append(ms)
    transferred.append(size)
driver.quit()

api = []
for _ in range(RUNS * 4):
    t0 = time.monotonic()
    with urllib.request.urlopen(URL + "/v1/jobs?limit=50") as r:
        r.read()
    api.append((time.monotonic() - t0) * 1000)
render, raw = st.median(renders), st.median(api)
print(f"console job list, first 50 rows rendered: median {render:.0f} ms of {RUNS} loads (fresh tab each), "
      f"{st.median(transferred) / 1024:.0f} KiB transferred; GET /v1/jobs?limit=50 alone {raw:.1f} ms "
      f"(render/API {render / raw:.0f}x)")
