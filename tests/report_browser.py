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
import random
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


def browser(html, res, ts, console=None, profiles=None):
    # Every run of the time series but the capacity steps has its histogram: a CDF each.
    names = {r["name"] for r in json.load(open(ts))["runs"] if r.get("latency_us") and r.get("repetition", -1) >= 0
             and not r.get("error")}
    cmd = ["node", CHECKER, "--html", html, "--results", res, "--timeseries", ts, "--cdfs", str(len(names))]
    if console:
        cmd += ["--console", console]
    if profiles:
        cmd += ["--profiles", profiles]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


with tempfile.TemporaryDirectory() as tmp:
    ts, res, out, con, prof = (os.path.join(tmp, n) for n in ("t.json", "r.json", "out", "console.txt", "prof"))
    # A short scenario of three phases: its phase table and users chart.
    scenario = os.path.join(tmp, "phases.yaml")
    open(scenario, "w").write("name: phases\nwarmup: 0s\ndrain: 2s\nclasses:\n  - streams:\n"
                              "      - {type: graph_op, start: {uniform: [0ms, 100ms]}, every: 100ms}\n"
                              "phases:\n  - {name: ramp, duration: 2s, users: [0, 10]}\n"
                              "  - {name: spike, duration: 1s, users: 10, rate: 2}\n"
                              "  - {name: steady, duration: 1s, users: 10}\n")
    p = subprocess.run([BENCH, "--benchmark_filter=^load/users:10/|^load/faults/server_kill/durability:group|^load/scenario/",
                        f"--scenario={scenario}", f"--timeseries_out={ts}", f"--benchmark_out={res}", "--benchmark_out_format=json",
                        "--cpu_profile=server", f"--cpu_profile_out={prof}"] + short,
                       capture_output=True, text=True, timeout=300)
    check("the bench run succeeds", p.returncode == 0, p.stderr[-500:])
    open(con, "w").write(p.stdout)
    p = subprocess.run([REPORT, out, res, "--timeseries", ts, "--compare", res, "--compare-timeseries", ts, "--profiles", prof,
                        "--compare-profiles", prof],
                       capture_output=True, text=True, timeout=60)
    check("scripts/report succeeds", p.returncode == 0, p.stderr)
    html = os.path.join(out, "index.html")
    check("it wrote the page and the Markdown", os.path.isfile(html) and os.path.isfile(os.path.join(out, "report.md")))
    doc = json.load(open(ts))
    check("the fault run has its kill in the series",
          any(e["what"].startswith("server killed") for r in doc["runs"] for e in r["events"]), doc["runs"])
    check("profiles were kept", os.path.isdir(prof) and any(f.endswith(".folded") for f in os.listdir(prof)))
    b = browser(html, res, ts, con, prof)
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
    # The criteria table, the legends on hover and the colours per quantity are checked too.
    check("the time series carries the bench's criteria", len(doc.get("criteria", [])) >= 5, doc.get("criteria"))
    for what, old, new_, says in (
            ("a criterion that differs from the JSON", '"measured": "', '"measured": "x', "measured equals the JSON's"),
            ("a legend without values", "const spec = {", "const spec = { legend: { live: false },", "the legend shows"),
            ("a quantity in another colour", "let c = QUANTITY_COLORS[label];", "let c = null;", "has its quantity's colour")):
        open(broken, "w").write(page.replace(old, new_, 1))
        b = browser(broken, res, ts)
        check(f"{what} fails the browser check", old in page and b.returncode == 1 and says in b.stdout, b.stdout[-800:])

    # Trends of a history: a git repository of 10 commits, a 10 % step after the 6th, 5
    # repetitions each; the page draws every repetition, marks the change point, tables it.
    repo, db = os.path.join(tmp, "repo"), os.path.join(tmp, "h.sqlite")
    git = lambda *a: subprocess.run(["git", "-C", repo, *a], check=True, capture_output=True, text=True).stdout.strip()
    os.makedirs(repo)
    git("init", "-q", "-b", "main")
    rng, shas, values = random.Random(5), [], []
    for i in range(10):
        git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", f"commit {i}")
        shas.append(git("rev-parse", "HEAD"))
        vals = [(10 if i < 6 else 11) * (1 + rng.gauss(0, 0.02)) for _ in range(5)]
        values += vals
        hr = os.path.join(tmp, f"h{i}.json")
        json.dump({"context": {"git_sha": shas[-1], "git_dirty": "false", "machine_class": "2core-test"},
                   "benchmarks": [{"name": "load/users:50/iterations:1/manual_time", "run_type": "iteration",
                                   "repetition_index": r, "real_time": 1.0, "server_cpu_us_per_delivery": v}
                                  for r, v in enumerate(vals)]}, open(hr, "w"))
        p = subprocess.run([os.path.join(HERE, "..", "scripts", "history"), "--db", db, "--repo", repo, "record", hr],
                           capture_output=True, text=True, timeout=60)
        check(f"history record {i}", p.returncode == 0, p.stderr)
    hout = os.path.join(tmp, "hout")
    p = subprocess.run([REPORT, hout, res, "--history", db, "--history-repo", repo, "--history-metric",
                        "server_cpu_us_per_delivery"], capture_output=True, text=True, timeout=120)
    check("scripts/report --history succeeds", p.returncode == 0, p.stderr)
    md = open(os.path.join(hout, "report.md")).read() if p.returncode == 0 else ""
    check("the Markdown names the change point's commits", f"{shas[5][:10]}..{shas[6][:10]}" in md, md[-600:])
    want = os.path.join(tmp, "trends.json")
    json.dump([{"benchmark": "load/users:50", "metric": "server_cpu_us_per_delivery", "values": values,
                "change_points": 1, "shas": shas}], open(want, "w"))
    b = subprocess.run(["node", CHECKER, "--html", os.path.join(hout, "index.html"), "--results", res, "--trends", want],
                       capture_output=True, text=True, timeout=120)
    check("the trends pass in Chromium", b.returncode == 0, b.stdout[-2000:] + b.stderr[-1000:])
    # ... and fail where the page forgets the change point or the commit on hover.
    hpage = open(os.path.join(hout, "index.html")).read()
    for what, old, new_ in (("an unmarked change point", "{ events: events, points: true", "{ events: [], points: true"),
                            ("no commit on hover", 'if (v === null || v === undefined) return "-";', 'return "-";')):
        open(broken, "w").write(hpage.replace(old, new_))
        b = subprocess.run(["node", CHECKER, "--html", broken, "--results", res, "--trends", want],
                           capture_output=True, text=True, timeout=120)
        check(f"{what} fails the trends check", old in hpage and b.returncode == 1, b.stdout[-800:])

    # Bad inputs: a clear message and a non-zero exit, never a traceback.
    bad = os.path.join(tmp, "bad.json")
    open(bad, "w").write('{"benchmarks": []}')
    for what, args in (("a missing file", [os.path.join(tmp, "nope.json")]),
                       ("no load run", [bad]),
                       ("a time series that is not one", [res, "--timeseries", res]),
                       ("a history that is not one", [res, "--history", res]),
                       ("an empty history", [res, "--history", os.path.join(tmp, "none.sqlite")]),
                       ("--compare-timeseries alone", [res, "--compare-timeseries", res])):
        p = subprocess.run([REPORT, os.path.join(tmp, "o2")] + args, capture_output=True, text=True, timeout=60)
        check(f"{what} is refused clearly", p.returncode != 0 and p.stderr.startswith("report: ") and "Traceback" not in p.stderr,
              p.stderr[-500:])
finish("report_browser")
