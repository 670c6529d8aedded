"""Tests of scripts/compare and its statistics (python3 -m unittest, run by ctest)."""
import io
import json
import os
import subprocess
import sys
import unittest
from contextlib import redirect_stdout

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "scripts", "lib"))
import stats  # noqa: E402

COMPARE = os.path.join(ROOT, "scripts", "compare")
BASE = os.path.join(HERE, "fixtures", "compare_base.json")
NEW = os.path.join(HERE, "fixtures", "compare_new.json")


class MannWhitney(unittest.TestCase):
    def test_exact_complete_separation(self):
        # Every a below every b: U = 0 and p = 2 / C(n1+n2, n1).
        u, p = stats.mann_whitney_u([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])
        self.assertEqual(u, 0)
        self.assertAlmostEqual(p, 2 / 252, places=12)
        self.assertAlmostEqual(stats.mann_whitney_u([1, 2, 3], [4, 5, 6])[1], 0.1, places=12)

    def test_exact_known_value(self):
        # scipy.stats.mannwhitneyu([1,4,7],[2,3,5,6], method="exact"): U=6, p=1.0 (U=6 is the
        # center of 0..12). And [1,2,4],[3,5,6,7]: U=1, P(U<=1)=2/35, p=4/35.
        self.assertAlmostEqual(stats.mann_whitney_u([1, 4, 7], [2, 3, 5, 6])[1], 1.0, places=12)
        u, p = stats.mann_whitney_u([1, 2, 4], [3, 5, 6, 7])
        self.assertEqual(u, 1)
        self.assertAlmostEqual(p, 4 / 35, places=12)

    def test_ties_use_the_corrected_normal_approximation(self):
        # Hand-computed: ranks 1,3,3,5.5 | 3,5.5,7,8; U=2.5; sigma^2 = 16/12*(9-30/56);
        # z = (|2.5-8|-0.5)/sigma = 1.48839; p = erfc(z/sqrt2) = 0.136658.
        u, p = stats.mann_whitney_u([1, 2, 2, 3], [2, 3, 4, 5])
        self.assertEqual(u, 2.5)
        self.assertAlmostEqual(p, 0.136658, places=5)

    def test_identical_samples_are_not_different(self):
        self.assertEqual(stats.mann_whitney_u([5, 5, 5], [5, 5, 5])[1], 1.0)
        self.assertGreater(stats.mann_whitney_u([1, 2, 3, 4], [1, 2, 3, 4])[1], 0.9)

    def test_ranks_and_geomean(self):
        self.assertEqual(stats.rank([10, 20, 20, 30]), [1, 2.5, 2.5, 4])
        self.assertAlmostEqual(stats.geomean([1, 4]), 2.0)
        self.assertEqual(stats.median([3, 1, 2]), 2)


class CompareScript(unittest.TestCase):
    def run_compare(self, *args):
        p = subprocess.run([sys.executable, COMPARE, BASE, NEW, *args], capture_output=True, text=True)
        return p.returncode, p.stdout

    def test_flags_the_regression_and_the_improvement_only(self):
        rc, out = self.run_compare("--metric", "time")
        lines = {l.split()[0]: l for l in out.splitlines() if l.startswith(("fanout", "parse", "load"))}
        self.assertIn("REGRESSION", lines["fanout/shared_buffer/recipients:100"])
        self.assertIn("improvement", lines["load/users:10"])
        self.assertNotIn("REGRESSION", lines["parse/simdjson/type:GraphOp"])
        self.assertNotIn("improvement", lines["parse/simdjson/type:GraphOp"])
        self.assertIn("geomean", out)
        self.assertEqual(rc, 0)

    def test_counters_use_their_direction(self):
        rc, out = self.run_compare("--metric", "items_per_second,p99_ms,delivery_pct")
        rows = [l for l in out.splitlines() if "items_per_second" in l]
        self.assertIn("REGRESSION", rows[0])  # throughput fell
        rows = [l for l in out.splitlines() if " p99_ms " in l]
        self.assertIn("improvement", rows[0])  # latency fell
        rows = [l for l in out.splitlines() if "delivery_pct" in l]
        self.assertNotIn("REGRESSION", rows[0])

    def test_exit_code_on_regression_when_asked(self):
        rc, _ = self.run_compare("--fail-on-regression")
        self.assertEqual(rc, 1)
        rc, _ = self.run_compare("--fail-on-regression", "--filter", "^parse/")
        self.assertEqual(rc, 0)

    def test_markdown_output(self):
        rc, out = self.run_compare("--format", "md", "--metric", "time")
        self.assertTrue(out.startswith("| benchmark | metric |"))
        self.assertIn("|---|", out)

    def test_same_file_flags_nothing(self):
        p = subprocess.run([sys.executable, COMPARE, BASE, BASE, "--fail-on-regression"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0)
        self.assertIn("0 regression(s), 0 improvement(s)", p.stdout)

    def test_variants_pair_two_name_components_of_one_run(self):
        import tempfile
        runs = []
        for variant, times in (("none", [1.0, 1.1, 0.9, 1.05, 0.95]), ("group", [2.0, 2.2, 1.9, 2.1, 2.05])):
            for i, t in enumerate(times):
                runs.append({"name": f"load/durability:{variant}/users:50/manual_time", "run_name": f"load/durability:{variant}/users:50/manual_time",
                             "run_type": "iteration", "repetitions": 5, "repetition_index": i, "iterations": 1,
                             "real_time": t, "cpu_time": t, "time_unit": "ms"})
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump({"context": {}, "benchmarks": runs}, f)
        try:
            p = subprocess.run([sys.executable, COMPARE, f.name, f.name, "--variants", "durability:none,durability:group",
                                "--metric", "time"], capture_output=True, text=True)
        finally:
            os.unlink(f.name)
        self.assertEqual(p.returncode, 0, p.stderr)
        row = [l for l in p.stdout.splitlines() if l.startswith("load/durability:*/users:50")]
        self.assertEqual(len(row), 1, p.stdout)
        self.assertIn("REGRESSION", row[0])

    def test_an_error_on_the_new_side_is_a_regression(self):
        import tempfile
        def bench(name, t=None, error=None):
            b = {"name": name, "run_name": name, "run_type": "iteration", "repetitions": 1, "repetition_index": 0,
                 "iterations": 1, "real_time": t or 0, "cpu_time": t or 0, "time_unit": "ms"}
            if error:
                b.update(error_occurred=True, error_message=error)
            return b
        base = [bench("load/capacity/manual_time", 10.0), bench("conn/idle/manual_time", error="probe timed out")]
        new = [bench("load/capacity/manual_time", error="the first step already failed"), bench("conn/idle/manual_time", 3.0)]
        paths = []
        for runs in (base, new):
            with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
                json.dump({"context": {}, "benchmarks": runs}, f)
                paths.append(f.name)
        try:
            p = subprocess.run([sys.executable, COMPARE, *paths, "--fail-on-regression"], capture_output=True, text=True)
        finally:
            for path in paths:
                os.unlink(path)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        row = [l for l in p.stdout.splitlines() if l.startswith("load/capacity")]
        self.assertIn("REGRESSION: the first step already failed", row[0])
        fixed = [l for l in p.stdout.splitlines() if l.startswith("conn/idle")]
        self.assertIn("fixed", fixed[0])
        self.assertIn("1 regression(s)", p.stdout)


if __name__ == "__main__":
    unittest.main()
