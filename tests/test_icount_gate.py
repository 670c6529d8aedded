"""The instruction-count gate (scripts/lib/icount_gate.py) on a small git repository of its
own: references that are missing, foreign, dirty or stale, runs with a benchmark missing or
none at all, a real regression, an improvement. Run: python3 -m unittest test_icount_gate"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
GATE = os.path.join(HERE, "..", "scripts", "lib", "icount_gate.py")

COUNTS = {"fanout/shared_buffer/recipients:100": 4134.2, "fanout/copy/recipients:100": 47922.2,
          "serialize/splice/type:GraphOp": 900.0}


def git(repo, *args):
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True,
                          text=True).stdout.strip()


class Gate(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.repo = os.path.join(self.tmp.name, "repo")
        os.makedirs(self.repo)
        git(self.repo, "init", "-q", "-b", "main")
        git(self.repo, "config", "user.email", "gate@test")
        git(self.repo, "config", "user.name", "gate test")
        self.commit("optimizations/fanout/shared.cpp", "int f() { return 1; }\n", "fan-out")
        self.first = git(self.repo, "rev-parse", "HEAD")

    def tearDown(self):
        self.tmp.cleanup()

    def commit(self, path, text, subject):
        full = os.path.join(self.repo, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text)
        git(self.repo, "add", path)
        git(self.repo, "commit", "-q", "-m", subject)
        return git(self.repo, "rev-parse", "HEAD")

    def counts(self, name, counts, sha="", dirty="false"):
        path = os.path.join(self.tmp.name, name)
        doc = {"context": {"git_sha": sha, "git_dirty": dirty},
               "benchmarks": [{"name": n, "instructions": v} for n, v in counts.items()]}
        with open(path, "w") as f:
            json.dump(doc, f)
        return path

    def gate(self, *args):
        r = subprocess.run([sys.executable, GATE, *args], capture_output=True, text=True,
                           cwd=self.repo)
        self.assertNotIn("Traceback", r.stderr)
        return r.returncode, r.stdout + r.stderr

    def plan(self, reference):
        return self.gate("plan", reference, "--repo", self.repo)

    # ---- the reference

    def test_missing_reference_fails_with_its_reason(self):
        rc, out = self.plan(os.path.join(self.tmp.name, "none.json"))
        self.assertEqual(rc, 1)
        self.assertIn("does not exist", out)

    def test_reference_outside_the_history_is_refused(self):
        git(self.repo, "checkout", "-q", "-b", "other")
        other = self.commit("liveshare/x.cpp", "a\n", "elsewhere")
        git(self.repo, "checkout", "-q", "main")
        rc, out = self.plan(self.counts("ref.json", COUNTS, other))
        self.assertEqual(rc, 1)
        self.assertIn("not an ancestor", out)
        rc, out = self.plan(self.counts("ref.json", COUNTS, "0123456789abcdef"))
        self.assertEqual(rc, 1)
        self.assertIn("not in this repository", out)

    def test_reference_of_a_dirty_tree_or_no_commit_is_refused(self):
        rc, out = self.plan(self.counts("ref.json", COUNTS, self.first, dirty="true"))
        self.assertEqual(rc, 1)
        self.assertIn("dirty", out)
        rc, out = self.plan(self.counts("ref.json", COUNTS, ""))
        self.assertEqual(rc, 1)
        self.assertIn("names no commit", out)

    def test_plan_says_how_far_behind_and_what_to_measure(self):
        ref = self.counts("ref.json", COUNTS, self.first)
        self.commit("docs/a.md", "words\n", "docs only")
        rc, out = self.plan(ref)
        self.assertEqual(rc, 0)
        self.assertIn(f"same-code {self.first}", out)
        self.assertIn("1 commit(s) behind HEAD; 0 of them change the measured code", out)
        self.commit("liveshare/core/room.cpp", "b\n", "server change")
        rc, out = self.plan(ref)
        self.assertEqual(rc, 0)
        self.assertIn(f"rebuild {self.first}", out)
        self.assertIn("2 commit(s) behind HEAD; 1 of them change the measured code", out)

    # ---- the verdict

    def test_a_run_missing_a_benchmark_fails(self):
        ref = self.counts("ref.json", COUNTS, self.first)
        partial = dict(COUNTS)
        del partial["fanout/copy/recipients:100"]
        rc, out = self.gate("judge", ref, self.counts("new.json", partial))
        self.assertEqual(rc, 1)
        self.assertIn("missing from this run: fanout/copy/recipients:100", out)

    def test_a_run_with_no_benchmarks_fails(self):
        ref = self.counts("ref.json", COUNTS, self.first)
        rc, out = self.gate("judge", ref, self.counts("new.json", {}))
        self.assertEqual(rc, 1)
        self.assertIn("measured no benchmarks", out)

    def test_an_unreadable_run_is_bad_input(self):
        ref = self.counts("ref.json", COUNTS, self.first)
        bad = os.path.join(self.tmp.name, "bad.json")
        with open(bad, "w") as f:
            f.write("{not json")
        rc, out = self.gate("judge", ref, bad)
        self.assertEqual(rc, 2)
        self.assertIn("not an instruction-count file", out)

    def test_stale_reference_with_unchanged_code_is_named_not_a_regression(self):
        # The counts of an older commit, labelled with this one: what the Intel class held.
        old = {"fanout/shared_buffer/recipients:100": 3324.9,
               "fanout/copy/recipients:100": 45613.6, "serialize/splice/type:GraphOp": 1290.0}
        ref = self.counts("ref.json", old, self.first)
        rc, out = self.gate("judge", ref, self.counts("new.json", COUNTS), "--same-code")
        self.assertEqual(rc, 0, out)
        self.assertIn("STALE reference", out)
        self.assertNotIn("REGRESSION", out)
        # The same two files as two builds compared as they are (compare-branches): regressions.
        rc, out = self.gate("judge", ref, self.counts("new.json", COUNTS))
        self.assertEqual(rc, 1, out)
        self.assertIn("+24.34% REGRESSION", out)

    def test_stale_reference_with_changed_code_is_judged_on_the_rebuilt_counts(self):
        old = {k: v * 0.8 for k, v in COUNTS.items()}
        ref = self.counts("ref.json", old, self.first)
        rc, out = self.gate("judge", ref, self.counts("new.json", COUNTS),
                            "--rebuilt", self.counts("rebuilt.json", COUNTS))
        self.assertEqual(rc, 0, out)
        self.assertIn("STALE reference", out)
        self.assertIn("0 instruction-count regression(s)", out)

    def test_planted_regression_against_the_rebuilt_reference_fails(self):
        ref = self.counts("ref.json", COUNTS, self.first)
        slower = dict(COUNTS)
        slower["fanout/shared_buffer/recipients:100"] *= 1.2
        rc, out = self.gate("judge", ref, self.counts("new.json", slower),
                            "--rebuilt", self.counts("rebuilt.json", COUNTS))
        self.assertEqual(rc, 1)
        self.assertNotIn("STALE", out)
        self.assertRegex(out, r"fanout/shared_buffer/recipients:100 .* \+20\.00% REGRESSION")
        self.assertIn("1 instruction-count regression(s)", out)

    def test_change_within_the_threshold_passes_and_improvement_is_reported(self):
        ref = self.counts("ref.json", COUNTS, self.first)
        near = {k: v * 1.015 for k, v in COUNTS.items()}
        rc, out = self.gate("judge", ref, self.counts("new.json", near),
                            "--rebuilt", self.counts("rebuilt.json", COUNTS))
        self.assertEqual(rc, 0, out)
        faster = dict(COUNTS)
        faster["serialize/splice/type:GraphOp"] *= 0.7
        rc, out = self.gate("judge", ref, self.counts("new.json", faster),
                            "--rebuilt", self.counts("rebuilt.json", COUNTS))
        self.assertEqual(rc, 0, out)
        self.assertIn("1 improvement(s) over 2%: record the reference again", out)


if __name__ == "__main__":
    unittest.main()
