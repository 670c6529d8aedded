#!/usr/bin/env python3
"""The Kubernetes example (deploy/k8s) checked offline: the committed manifests pass the
Kubernetes schema and the example's rules (deploy/k8s/tools/validate.mjs), and broken copies
are refused, each with its reason. No cluster runs here; this is what can be checked without.

usage: k8s_manifests.py
"""
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
K8S = os.path.join(ROOT, "deploy", "k8s")
FILES = [os.path.join(K8S, f) for f in ("redis.yaml", "shards.yaml", "collector.yaml")]
failures = []


def validate(paths):
    p = subprocess.run(["node", os.path.join(K8S, "tools", "validate.mjs"), *paths],
                       capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def main():
    if not os.path.isdir(os.path.join(K8S, "tools", "node_modules")):
        print("FAIL deploy/k8s/tools/node_modules missing: run scripts/setup")
        return 1
    rc, out = validate(FILES)
    print(("ok   " if rc == 0 else "FAIL ") + "the committed manifests are valid")
    if rc:
        failures.append(out)
    shards = open(FILES[1]).read()
    broken = {
        "no pod template": (re.sub(r"  template:\n(    .*\n|      .*\n)*", "", shards, count=1),
                            "must have required property template"),
        "completions as text": (shards.replace("completions: 4", 'completions: "two"'),
                                "completions must be integer"),
        "a kind the example does not use": (shards.replace("kind: Job", "kind: Jobb"),
                                            "is not one this example uses"),
        "completions other than --shards": (shards.replace("completions: 4", "completions: 3"),
                                            "must both equal --shards=4"),
        "a misspelt field": (shards.replace("backoffLimit: 0", "backoffLimit: 0\n  backofLimit: 1"),
                             "unknown field 'backofLimit'"),
        "not Indexed": (shards.replace("completionMode: Indexed", "completionMode: NonIndexed"),
                        "completionMode: Indexed"),
        "another run in the collector": (None, "different runs"),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for what, (text, reason) in broken.items():
            paths = [os.path.join(tmp, "shards.yaml"), FILES[0], FILES[2]]
            with open(paths[0], "w") as f:
                f.write(text if text is not None else shards)
            if text is None:
                paths[2] = os.path.join(tmp, "collector.yaml")
                with open(paths[2], "w") as f:
                    f.write(open(FILES[2]).read().replace("example-run --out",
                                                          "other-run --out"))
            rc, out = validate(paths)
            ok = rc == 1 and reason in out
            print(("ok   " if ok else "FAIL ") + f"refused: {what}")
            if not ok:
                failures.append(f"{what}: rc={rc}: {out}")
    for f in failures:
        print(f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
