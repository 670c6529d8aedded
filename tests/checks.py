"""The checks of the Python tests: each failure is printed at once and counted; finish() prints
the verdict and exits 1 if any failed."""
import sys

failures = []


def check(what, ok, detail=""):
    if not ok:
        failures.append(what)
        print(f"FAIL {what}: {detail}", flush=True)


def finish(name):
    print(f"{name}: " + ("FAIL: " + "; ".join(failures) if failures else "all checks passed"))
    sys.exit(1 if failures else 0)
