"""The instruction-count gate: which reference to compare with, and the verdict.

Instruction counts are a property of the binary (every class builds -march=haswell), so there
is one reference for every machine class: results/baselines/icount.json, the counts of the
commit named in its context. The reference is trusted only as far as git vouches for it:

  plan   checks the reference (it exists, its commit resolves and is an ancestor of HEAD),
         says how far behind HEAD it is, and prints what the gate must measure:
           same-code SHA   no file the counts depend on changed since SHA: HEAD's counts must
                           equal the recorded ones, and a difference means the reference is
                           stale (it does not describe SHA's code), never a regression;
           rebuild SHA     the measured code changed since SHA: build SHA in this run and
                           compare HEAD with it (the recorded counts are then checked against
                           the rebuilt ones, and named stale when they differ).
  judge  compares HEAD's counts with the reference and fails on a regression over the
         threshold, on a benchmark missing from HEAD's run, and on a run with none at all
         (--same-code: plan said same-code; --rebuilt FILE: plan said rebuild, and FILE holds
         the counts of the reference's commit measured in this run; neither: two runs compared
         as they are, as scripts/compare-branches does).

Exit status: 0 pass, 1 a regression or a refused reference, 2 bad input (unreadable file).
"""
import argparse
import json
import subprocess
import sys

# What the counts depend on: the code in the bench binary, its build, and how it is counted.
MEASURED = ("protocol/", "liveshare/", "optimizations/", "harness/", "bench/", "CMakeLists.txt",
            "server/", "CMakePresets.json", "cmake/", "scripts/icount", "scripts/ci-icount-filter",
            "scripts/build", "scripts/lib/common.sh")


class GateError(Exception):
    """A reference or run the gate refuses; the message says why."""


def load_counts(path, what):
    try:
        with open(path) as f:
            doc = json.load(f)
        counts = {b["name"]: float(b["instructions"]) for b in doc.get("benchmarks", [])}
    except FileNotFoundError:
        raise GateError(f"{what} {path} does not exist")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise GateError(f"{what} {path} is not an instruction-count file ({e})")
    return doc.get("context", {}), counts


def git(repo, *args):
    r = subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True)
    return r.returncode, r.stdout.strip()


def plan(repo, reference, head="HEAD"):
    """Returns (action, sha, lines): action is 'same-code' or 'rebuild'."""
    ctx, counts = load_counts(reference, "reference")
    sha = str(ctx.get("git_sha", ""))
    if not sha or sha == "unknown":
        raise GateError(f"reference {reference} names no commit (context.git_sha)")
    if str(ctx.get("git_dirty", "false")) == "true":
        raise GateError(f"reference {reference} was measured on a dirty tree at {sha}: "
                        "its counts belong to no commit; record it from a clean one")
    if not counts:
        raise GateError(f"reference {reference} holds no benchmarks")
    rc, full = git(repo, "rev-parse", "--verify", "-q", sha + "^{commit}")
    if rc != 0:
        raise GateError(f"reference commit {sha} ({reference}) is not in this repository")
    rc, _ = git(repo, "merge-base", "--is-ancestor", full, head)
    if rc != 0:
        raise GateError(f"reference commit {sha} ({reference}) is not an ancestor of {head}: "
                        "it describes code this history never had")
    _, behind = git(repo, "rev-list", "--count", f"{full}..{head}")
    _, subject = git(repo, "log", "-1", "--format=%s", full)
    _, changed = git(repo, "diff", "--name-only", full, head, "--", *MEASURED)
    _, touching = git(repo, "rev-list", "--count", f"{full}..{head}", "--", *MEASURED)
    files = [f for f in changed.splitlines() if f]
    lines = [f"reference: {reference}, counts of {full[:10]} ({subject}), {behind} commit(s) "
             f"behind {head}; {touching} of them change the measured code ({len(files)} file(s))"]
    if not files:
        return "same-code", full, lines
    return "rebuild", full, lines


def compare(base, new, threshold):
    """Rows (name, base, new, change, flag) for the benchmarks in both."""
    rows = []
    for name in sorted(set(base) & set(new)):
        change = (new[name] - base[name]) / base[name] if base[name] else 0.0
        flag = ""
        if change > threshold:
            flag = "REGRESSION"
        elif change < -threshold:
            flag = "improvement"
        rows.append((name, base[name], new[name], change, flag))
    return rows


def print_rows(rows):
    print(f"{'benchmark':50} {'reference':>12} {'HEAD':>12} {'change':>8}")
    for name, b, n, change, flag in rows:
        print(f"{name:50} {b:12.1f} {n:12.1f} {change * 100:+7.2f}% {flag}")


def judge(reference, new_path, rebuilt_path, threshold, same_code=False):
    """Prints the comparison; returns the exit status. same_code: no measured code changed
    since the reference's commit (a difference then means a stale reference)."""
    ref_ctx, recorded = load_counts(reference, "reference")
    _, new = load_counts(new_path, "this run's counts")
    if not new:
        print(f"FAIL: this run measured no benchmarks ({new_path}): nothing was gated")
        return 1
    sha = str(ref_ctx.get("git_sha", "?"))[:10]
    base = recorded
    if rebuilt_path:
        _, rebuilt = load_counts(rebuilt_path, "the reference commit's counts")
        drift = [r for r in compare(recorded, rebuilt, threshold) if r[4]]
        if drift:
            print(f"STALE reference: its recorded counts do not match {sha} built in this run "
                  f"({len(drift)} benchmark(s) off by more than {threshold * 100:.0f}%, e.g. "
                  f"{drift[0][0]} {drift[0][3] * 100:+.1f}%); comparing with the rebuilt counts")
        base = rebuilt
    elif same_code:
        drift = [r for r in compare(recorded, new, threshold) if r[4]]
        if drift:
            print(f"STALE reference: no measured code changed since {sha}, yet {len(drift)} "
                  f"benchmark(s) differ from its recorded counts by more than "
                  f"{threshold * 100:.0f}% (e.g. {drift[0][0]} {drift[0][3] * 100:+.1f}%): the "
                  "reference does not describe its own commit (or the toolchain changed). Not a "
                  "regression; record it again: scripts/record-baseline --icount")
            print_rows([r[:4] + ("differs" if r[4] else "",) for r in compare(recorded, new, threshold)])
            return check_missing(recorded, new, 0)
    rows = compare(base, new, threshold)
    print_rows(rows)
    bad = sum(1 for r in rows if r[4] == "REGRESSION")
    better = [r[0] for r in rows if r[4] == "improvement"]
    if better:
        print(f"{len(better)} improvement(s) over {threshold * 100:.0f}%: record the reference "
              "again (scripts/record-baseline --icount) so the next regression is measured "
              "against these counts")
    print(f"{bad} instruction-count regression(s) over {threshold * 100:.0f}%")
    return check_missing(base, new, bad)


def check_missing(base, new, bad):
    missing = sorted(set(base) - set(new))
    if missing:
        print(f"FAIL: {len(missing)} benchmark(s) of the reference missing from this run: "
              + ", ".join(missing) + " (renamed or removed: record the reference again)")
        return 1
    added = sorted(set(new) - set(base))
    if added:
        print("new in this run, not gated: " + ", ".join(added))
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("plan", help="check the reference and say what to measure")
    p.add_argument("reference")
    p.add_argument("--repo", default=".")
    p.add_argument("--head", default="HEAD")
    j = sub.add_parser("judge", help="compare this run's counts with the reference")
    j.add_argument("reference")
    j.add_argument("new")
    j.add_argument("--rebuilt", help="counts of the reference's commit measured in this run")
    j.add_argument("--same-code", action="store_true",
                   help="no measured code changed since the reference's commit")
    j.add_argument("--threshold", type=float, default=0.02)
    a = ap.parse_args()
    try:
        if a.cmd == "plan":
            action, sha, lines = plan(a.repo, a.reference, a.head)
            for line in lines:
                print(line, file=sys.stderr)
            print(action, sha)
            return 0
        if a.same_code and a.rebuilt:
            raise GateError("--same-code and --rebuilt exclude each other")
        return judge(a.reference, a.new, a.rebuilt, a.threshold, a.same_code)
    except GateError as e:
        print(f"icount gate: {e}", file=sys.stderr)
        return 1 if a.cmd == "plan" else 2


if __name__ == "__main__":
    sys.exit(main())
