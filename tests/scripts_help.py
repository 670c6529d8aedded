#!/usr/bin/env python3
"""Every script answers --help and -h with its usage and exit 0, and does nothing else: no file
of the tree (build folders included) is written. Bad arguments exit 2 with a message.

usage: scripts_help.py REPO_ROOT
"""
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from checks import check, finish  # noqa: E402

if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
    print(__doc__)
    sys.exit(0 if len(sys.argv) == 2 else 2)
ROOT = os.path.abspath(sys.argv[1])
SCRIPTS = sorted(os.path.join("scripts", f) for f in os.listdir(os.path.join(ROOT, "scripts"))
                 if os.path.isfile(os.path.join(ROOT, "scripts", f))
                 and os.access(os.path.join(ROOT, "scripts", f), os.X_OK)) + [".ci/run"]


def changed_since(stamp):
    """Files of the tree written after stamp (ctest's own logs aside)."""
    out = []
    for d, dirs, files in os.walk(ROOT):
        dirs[:] = [x for x in dirs if x not in (".git", "Testing", "node_modules")]
        out += [os.path.join(d, f) for f in files
                if os.path.getmtime(os.path.join(d, f)) > stamp]
    return out


def run(args):
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


check("scripts found", len(SCRIPTS) > 10, SCRIPTS)
for script in SCRIPTS:
    name = os.path.basename(script) if script != ".ci/run" else ".ci/run"
    for flag in ("--help", "-h"):
        stamp = time.time()
        time.sleep(0.01)
        p = run([os.path.join(ROOT, script), flag])
        out = p.stdout + p.stderr
        check(f"{script} {flag}: exit 0", p.returncode == 0, (p.returncode, out[-300:]))
        check(f"{script} {flag}: a usage line naming it", "usage" in out.lower() or name in out,
              out[:300])
        written = changed_since(stamp)
        check(f"{script} {flag}: nothing written", not written, written[:5])

# Bad arguments: exit 2 and a message, before any work.
with tempfile.TemporaryDirectory() as tmp:
    for args in (["scripts/build", "no-such-preset"], ["scripts/fuzz", "ten"],
                 ["scripts/test-sanitizers", "msan"], ["scripts/compare-branches", "HEAD"],
                 ["scripts/compare-branches", "no-such-ref", "HEAD"],
                 ["scripts/compare-servers", "x"], ["scripts/ci-regress", "--bogus"],
                 ["scripts/record-baseline", "--bogus"], ["scripts/icount"],
                 ["scripts/bisect-perf"], ["scripts/results-index", "--bogus"], ["scripts/history", "no-such-command"],
                 ["scripts/history", "--db", os.path.join(tmp, "h"), "detect", "--alpha", "7"]):
        stamp = time.time()
        time.sleep(0.01)
        p = run([os.path.join(ROOT, args[0])] + args[1:])
        check(f"{' '.join(args)}: exit 2 with a message", p.returncode == 2 and (p.stdout + p.stderr).strip(),
              (p.returncode, (p.stdout + p.stderr)[-300:]))
        check(f"{' '.join(args)}: nothing written", not changed_since(stamp), changed_since(stamp)[:5])
finish("scripts_help")
