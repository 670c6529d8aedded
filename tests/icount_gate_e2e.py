"""The regression gate end to end, with real builds and real callgrind counts.

In a worktree of HEAD under build/ (ccache hits on every file not changed):
  1. a stale reference (the counts an older commit measured, labelled with HEAD) and no code
     changed: the gate names the reference stale and passes, reporting no regression;
  2. a commit that adds work to the shared-buffer fan-out on top: the gate builds the
     reference's commit in the same run, names the recorded counts stale again, and fails on
     fanout/shared_buffer as a regression.
Usage: icount_gate_e2e.py REPO_ROOT"""
import json
import os
import re
import shutil
import subprocess
import sys

FILTER = "^fanout/shared_buffer/recipients:100$"
NAME = "fanout/shared_buffer/recipients:100"
# Counts recorded at another commit (f898763's, on the other machine class): far from today's.
OLD_COUNT = 3324.9
HOT = "liveshare/core/hot_paths.cpp"
PLAIN = """        std::shared_ptr<const std::string>&) const override {
        return f;
    }"""
SLOWER = """        std::shared_ptr<const std::string>&) const override {
        volatile char first = f->empty() ? 0 : f->front();  // planted: a read per recipient
        (void)first;
        return f;
    }"""


def run(cmd, cwd, check=True):
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if check and r.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)} exited {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


def gate(tree, reference):
    r = run(["bash", "scripts/ci-regress", "--icount-only", "--filter", FILTER,
             "--reference", reference], tree, check=False)
    print(r.stdout + r.stderr)
    return r.returncode, r.stdout + r.stderr


def main():
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0 if len(sys.argv) == 2 else 2
    root = os.path.abspath(sys.argv[1])
    tree = os.path.join(root, "build", "gate-e2e")
    head = run(["git", "rev-parse", "HEAD"], root).stdout.strip()
    run(["git", "worktree", "remove", "--force", tree], root, check=False)
    shutil.rmtree(tree, ignore_errors=True)
    run(["git", "worktree", "add", "--detach", tree, head], root)
    failures = []
    try:
        run(["bash", "scripts/build", "release"], tree)
        reference = os.path.join(tree, "build", "stale-reference.json")
        with open(reference, "w") as f:
            json.dump({"context": {"git_sha": head, "git_dirty": "false"},
                       "benchmarks": [{"name": NAME, "instructions": OLD_COUNT}]}, f)

        # Recording into the tracked reference file keeps the tree clean in the file's context.
        tracked = os.path.join(tree, "results", "baselines", "icount.json")
        run(["bash", "scripts/icount", "build/release/bench/bench", tracked, FILTER], tree)
        if json.load(open(tracked))["context"].get("git_dirty") != "false":
            failures.append("a reference recorded into its tracked file says the tree was dirty")
        run(["git", "checkout", "--", tracked], tree)

        rc, out = gate(tree, reference)
        if rc != 0 or "STALE reference" not in out or "REGRESSION" in out:
            failures.append(f"stale reference, same code: want a pass naming it stale (rc {rc})")
        if "0 of them change the measured code" not in out:
            failures.append("the gate did not say that no measured code changed")

        with open(os.path.join(tree, HOT)) as f:
            text = f.read()
        if PLAIN not in text:
            sys.exit(f"FAIL: {HOT} no longer has the shared fan-out this test plants work in")
        with open(os.path.join(tree, HOT), "w") as f:
            f.write(text.replace(PLAIN, SLOWER))
        run(["git", "-c", "user.email=gate@test", "-c", "user.name=gate test", "commit", "-q",
             "-am", "planted: work per recipient in the shared fan-out"], tree)
        run(["bash", "scripts/build", "release"], tree)
        rc, out = gate(tree, reference)
        if rc == 0:
            failures.append("a planted regression in fanout/shared_buffer passed the gate")
        if not re.search(re.escape(NAME) + r" .*REGRESSION", out):
            failures.append("the planted regression is not named on its benchmark")
        if "STALE reference" not in out or "building it to compare in this run" not in out:
            failures.append("the stale recorded counts were not named against the rebuilt ones")
    finally:
        run(["git", "worktree", "remove", "--force", tree], root, check=False)
        shutil.rmtree(tree, ignore_errors=True)
    for f in failures:
        print("FAIL: " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
