#!/usr/bin/env python3
"""The HTML report end to end: a real bench run (load/users:10 and a killed server) with its
time series, scripts/report, then the page in headless Chromium (tests/report_browser.mjs):
no JavaScript error or network request, every chart drew its data, the numbers equal the
JSON's and the console summary's. The browser check must also fail when the page is broken,
and scripts/report must refuse bad inputs with a clear message.

usage: report_browser.py PATH/TO/bench
"""
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from checks import check, finish  # noqa: E402

BENCH = sys.argv[1]
REPORT = os.path.join(HERE, "..", "scripts", "report")
CHECKER = os.path.join(HERE, "report_browser.mjs")
short = ["--warmup_s=0.5", "--duration_s=2", "--drain_s=2", "--no_progress", "--interval_ms=500"]


def browser(html, res, ts, console=None):
    cmd = ["node", CHECKER, "--html", html, "--results", res, "--timeseries", ts]
    if console:
        cmd += ["--console", console]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


with tempfile.TemporaryDirectory() as tmp:
    ts, res, out, con = (os.path.join(tmp, n) for n in ("t.json", "r.json", "out", "console.txt"))
    # A short scenario of three phases: its phase table and users chart.
    scenario = os.path.join(tmp, "phases.yaml")
    open(scenario, "w").write("name: phases\nwarmup: 0s\ndrain: 2s\nclasses:\n  - streams:\n"
                              "      - {type: graph_op, start: {uniform: [0ms, 100ms]}, every: 100ms}\n"
                              "phases:\n  - {name: ramp, duration: 2s, users: [0, 10]}\n"
                              "  - {name: spike, duration: 1s, users: 10, rate: 2}\n"
                              "  - {name: steady, duration: 1s, users: 10}\n")
    p = subprocess.run([BENCH, "--benchmark_filter=^load/users:10/|^load/faults/server_kill/durability:group|^load/scenario/",
                        f"--scenario={scenario}", f"--timeseries_out={ts}", f"--benchmark_out={res}", "--benchmark_out_format=json"] + short,
                       capture_output=True, text=True, timeout=300)
    check("the bench run succeeds", p.returncode == 0, p.stderr[-500:])
    open(con, "w").write(p.stdout)
    p = subprocess.run([REPORT, out, res, "--timeseries", ts, "--compare", res], capture_output=True, text=True, timeout=60)
    check("scripts/report succeeds", p.returncode == 0, p.stderr)
    html = os.path.join(out, "index.html")
    check("it wrote the page and the Markdown", os.path.isfile(html) and os.path.isfile(os.path.join(out, "report.md")))
    doc = json.load(open(ts))
    check("the fault run has its kill in the series",
          any(e["what"].startswith("server killed") for r in doc["runs"] for e in r["events"]), doc["runs"])
    b = browser(html, res, ts, con)
    check("the page passes in Chromium", b.returncode == 0, b.stdout[-2000:] + b.stderr[-1000:])
    print(b.stdout.strip().splitlines()[-1] if b.stdout.strip() else "(no output from the browser check)")

    # The browser check fails where the page is broken: a planted error, a chart that draws nothing.
    page = open(html).read()
    broken = os.path.join(out, "broken.html")
    open(broken, "w").write(page.replace("</body>", "<script>throw new Error('planted')</script></body>"))
    b = browser(broken, res, ts)
    check("a JavaScript error fails the browser check", b.returncode == 1 and "no JavaScript error" in b.stdout, b.stdout[-800:])
    open(broken, "w").write(page.replace('width: 2, points:', 'width: 0, alpha: 0, points:'))
    b = browser(broken, res, ts)
    check("a chart that draws nothing fails the browser check", b.returncode == 1 and "drew its" in b.stdout, b.stdout[-800:])
    # The first p99 embedded is the summary's first row: one more millisecond.
    changed = re.sub(r'"p99_ms": ([0-9.]+)', lambda m: f'"p99_ms": {float(m.group(1)) + 1}', page, count=1)
    open(broken, "w").write(changed)
    b = browser(broken, res, ts)
    check("a number that differs from the JSON fails the browser check",
          changed != page and b.returncode == 1 and "p99_ms equals the JSON's" in b.stdout, b.stdout[-800:])

    # Bad inputs: a clear message and a non-zero exit, never a traceback.
    bad = os.path.join(tmp, "bad.json")
    open(bad, "w").write('{"benchmarks": []}')
    for what, args in (("a missing file", [os.path.join(tmp, "nope.json")]),
                       ("no load run", [bad]),
                       ("a time series that is not one", [res, "--timeseries", res])):
        p = subprocess.run([REPORT, os.path.join(tmp, "o2")] + args, capture_output=True, text=True, timeout=60)
        check(f"{what} is refused clearly", p.returncode != 0 and p.stderr.startswith("report: ") and "Traceback" not in p.stderr,
              p.stderr[-500:])
finish("report_browser")
