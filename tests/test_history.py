"""scripts/history, scripts/bisect-perf and the whole-distribution comparison of scripts/compare,
on small git repositories and result files of their own (known answers).
Run: python3 -m unittest -v test_history"""
import json
import multiprocessing
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "..", "scripts")
sys.path.insert(0, os.path.join(SCRIPTS, "lib"))
import history_store  # noqa: E402


def git(repo, *args):
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def script(name, *args, cwd=None):
    r = subprocess.run([sys.executable, os.path.join(SCRIPTS, name), *args], capture_output=True,
                       text=True, cwd=cwd)
    return r.returncode, r.stdout + r.stderr


def result_doc(sha, values, metric="cpu_us_per_delivery", name="load/users:50", dirty="false"):
    return {"context": {"git_sha": sha, "git_dirty": dirty, "machine_class": "2core-test",
                        "command": "test"},
            "benchmarks": [{"name": name, "run_name": name, "run_type": "iteration",
                            "repetition_index": i, "real_time": v, metric: v}
                           for i, v in enumerate(values)]}


class Repo(unittest.TestCase):
    """A git repository of N commits, each with a cost the synthetic benchmark reads."""

    def make_repo_again(self, costs):
        subprocess.run(["rm", "-rf", self.repo], check=True)
        self.make_repo(costs)

    def make_repo(self, costs):
        self.repo = os.path.join(self.tmp.name, "repo")
        os.makedirs(self.repo)
        git(self.repo, "init", "-q", "-b", "main")
        git(self.repo, "config", "user.email", "t@t")
        git(self.repo, "config", "user.name", "t")
        with open(os.path.join(self.repo, "measure.py"), "w") as f:
            f.write(MEASURE.replace("@COUNTER@", os.path.join(self.tmp.name, "measure.count")))
        self.shas = []
        for i, c in enumerate(costs):
            with open(os.path.join(self.repo, "cost.txt"), "w") as f:
                f.write(str(c))
            git(self.repo, "add", "-A")
            git(self.repo, "commit", "-q", "--allow-empty", "-m", f"commit {i} cost {c}")
            self.shas.append(git(self.repo, "rev-parse", "HEAD"))

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.db = os.path.join(self.tmp.name, "h.sqlite")

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, name, doc):
        path = os.path.join(self.tmp.name, name)
        with open(path, "w") as f:
            json.dump(doc, f)
        return path

    def history(self, *args):
        return script("history", "--db", self.db, "--repo", self.repo, *args)


# The synthetic benchmark: the commit's cost with 2 % noise, one repetition per call. The noise
# is seeded by a count of the calls so far, so each test sees the same draws on every run.
MEASURE = """import json, os, random
cost = float(open("cost.txt").read())
counter = "@COUNTER@"
n = int(open(counter).read()) if os.path.exists(counter) else 0
open(counter, "w").write(str(n + 1))
rng = random.Random(n)
v = cost * (1 + rng.gauss(0, 0.02))
json.dump({"benchmarks": [{"name": "fanout/shared_buffer/recipients:100", "real_time": v,
           "run_type": "iteration"}]}, open(os.environ["BISECT_OUT"], "w"))
"""


def record_one(args):
    db, repo, path = args
    rc, out = script("history", "--db", db, "--repo", repo, "record", path)
    if rc: print(out)
    return rc


class History(Repo):
    def test_record_list_and_the_same_file_twice(self):
        self.make_repo([100, 100])
        path = self.write("r.json", result_doc(self.shas[1], [1.0, 1.1, 0.9]))
        rc, out = self.history("record", path)
        self.assertEqual(rc, 0, out)
        self.assertIn("recorded run 1", out)
        rc, out = self.history("record", path)
        self.assertIn("already in the history", out)
        rc, out = self.history("list")
        self.assertEqual(rc, 0, out)
        self.assertIn(self.shas[1][:10], out)
        db = sqlite3.connect(self.db)
        self.assertEqual(db.execute("SELECT count(*) FROM samples WHERE metric="
                                    "'cpu_us_per_delivery'").fetchone()[0], 3)
        row = db.execute("SELECT parent, subject, machine_class FROM runs").fetchone()
        self.assertEqual(row, (self.shas[0], "commit 1 cost 100", "2core-test"))

    def test_histograms_of_the_time_series_are_kept_but_not_a_failed_runs(self):
        self.make_repo([100])
        path = self.write("r.json", result_doc(self.shas[0], [1.0, 1.2]))
        ts = self.write("t.json", {"runs": [
            {"name": "load/users:50", "repetition": r, "error": False,
             "latency_us": {"count": 3, "buckets": [[10, 2, 10], [20, 1, 20]]}} for r in (0, 1)] +
            [{"name": "load/users:50", "repetition": 2, "error": True, "lost": 5,
              "latency_us": {"count": 1, "buckets": [[10, 1, 10]]}}]})
        rc, out = self.history("record", path, "--timeseries", ts)
        self.assertEqual(rc, 0, out)
        db = sqlite3.connect(self.db)
        self.assertEqual(db.execute("SELECT count(*), sum(count) FROM histograms").fetchone(),
                         (2, 6))

    def test_two_writers_at_once_lose_nothing(self):
        self.make_repo([100])
        paths = [self.write(f"r{i}.json", result_doc(self.shas[0], [float(i), i + 0.5]))
                 for i in range(24)]
        with multiprocessing.Pool(2) as pool:
            codes = pool.map(record_one, [(self.db, self.repo, p) for p in paths])
        self.assertEqual(codes, [0] * 24)
        db = sqlite3.connect(self.db)
        self.assertEqual(db.execute("SELECT count(*) FROM runs").fetchone()[0], 24)
        self.assertEqual(db.execute("SELECT count(*) FROM samples").fetchone()[0], 24 * 2 * 2)

    def test_bad_files_are_refused_with_exit_2(self):
        self.make_repo([100])
        with open(self.db, "w") as f:
            f.write("this is not a database")
        rc, out = self.history("list")
        self.assertEqual(rc, 2)
        self.assertIn("not a SQLite database", out)
        self.assertNotIn("Traceback", out)
        os.remove(self.db)
        foreign = sqlite3.connect(self.db)
        foreign.execute("CREATE TABLE t (x)")
        foreign.commit()
        foreign.close()
        rc, out = self.history("list")
        self.assertEqual(rc, 2)
        self.assertIn("not a history", out)
        os.remove(self.db)
        rc, out = self.history("record", self.write("bad.json", {"x": 1}))
        self.assertEqual(rc, 2)
        self.assertIn("no \"benchmarks\" list", out)

    def test_an_empty_history_and_an_unknown_metric_are_errors(self):
        self.make_repo([100])
        history_store.open_db(self.db).close()
        rc, out = self.history("detect")
        self.assertEqual(rc, 2)
        self.assertIn("the history is empty", out)
        self.history("record", self.write("r.json", result_doc(self.shas[0], [1.0])))
        rc, out = self.history("detect", "--metric", "no_such_metric")
        self.assertEqual(rc, 2)
        self.assertIn("unknown metric 'no_such_metric'", out)
        self.assertIn("cpu_us_per_delivery", out)
        rc, out = self.history("detect", "--filter", "(")
        self.assertEqual(rc, 2)
        self.assertNotIn("Traceback", out)

    def test_an_older_schema_is_migrated_keeping_its_runs(self):
        self.make_repo([100])
        db = sqlite3.connect(self.db)
        db.executescript(history_store.MIGRATIONS[0])
        db.execute("INSERT INTO meta VALUES ('format', 'liveshare-history'), "
                   "('schema_version', '1')")
        db.execute("INSERT INTO runs (digest, kind, recorded_at) VALUES ('d', 'bench', 'now')")
        db.commit()
        db.close()
        history_store.open_db(self.db).close()
        db = sqlite3.connect(self.db)
        self.assertEqual(db.execute("SELECT value FROM meta WHERE key='schema_version'")
                         .fetchone()[0], str(history_store.SCHEMA_VERSION))
        self.assertEqual(db.execute("SELECT count(*) FROM runs").fetchone()[0], 1)
        db.execute("SELECT count(*) FROM histograms")

    def test_detect_names_the_commit_of_a_planted_step(self):
        # 16 commits, a 5 % step in CPU per delivery at commit 9, 5 repetitions each, 2 % noise.
        costs = [100] * 9 + [105] * 7
        self.make_repo(costs)
        rng = random.Random(7)
        for i, (sha, c) in enumerate(zip(self.shas, costs)):
            vals = [c * (1 + rng.gauss(0, 0.02)) for _ in range(5)]
            self.history("record", self.write(f"r{i}.json", result_doc(sha, vals)))
        rc, out = self.history("detect", "--metric", "cpu_us_per_delivery")
        self.assertEqual(rc, 0, out)
        self.assertIn(f"{self.shas[8][:10]}..{self.shas[9][:10]}", out)
        self.assertIn("worse", out)
        self.assertIn("detect: 1 change point(s)", out)
        # The gate: a worse change within the newest 7 commits fails, within the newest 3 not.
        self.assertEqual(self.history("detect", "--fail-on-new", "7")[0], 1)
        self.assertEqual(self.history("detect", "--fail-on-new", "3")[0], 0)

    def test_noise_alone_gives_no_change_point(self):
        self.make_repo([100] * 12)
        rng = random.Random(3)
        for i, sha in enumerate(self.shas):
            vals = [100 * (1 + rng.gauss(0, 0.02)) for _ in range(5)]
            self.history("record", self.write(f"r{i}.json", result_doc(sha, vals)))
        rc, out = self.history("detect")
        self.assertEqual(rc, 0, out)
        self.assertIn("detect: 0 change point(s)", out)


class Bisect(Repo):
    def bisect(self, good, bad, *extra, build="true"):
        return script("bisect-perf", good, bad, "^fanout/shared_buffer", "time", "--repo",
                      self.repo, "--build", build, "--measure", f"{sys.executable} measure.py",
                      *extra)

    def test_names_the_planted_commit_among_eight(self):
        self.make_repo([100, 100, 100, 100, 100, 120, 120, 120, 120])
        rc, out = self.bisect(self.shas[0], self.shas[8])
        self.assertEqual(rc, 0, out)
        self.assertIn(f"first bad commit: {self.shas[5]} (commit 5 cost 120)", out)
        self.assertIn("found by", out)
        builds = int(out.split(" build(s)")[0].split()[-1])
        self.assertLessEqual(builds, 5, out)  # both ends and log2(8) midpoints

    def test_a_commit_that_does_not_build_is_skipped(self):
        # Commit 4 (the first midpoint) does not build; the bisection goes on around it.
        self.make_repo([100, 100, 100, 100, 100, 100, 120, 120, 120])
        rc, out = self.bisect(self.shas[0], self.shas[8],
                              build=f"test $(git rev-parse HEAD) != {self.shas[4]}")
        self.assertEqual(rc, 0, out)
        self.assertIn(f"{self.shas[4][:10]} does not build: skipped", out)
        self.assertIn(f"first bad commit: {self.shas[6]}", out)
        self.assertEqual(git(self.repo, "worktree", "list").count("\n"), 0, "worktrees left behind")
        # When the change sits next to the commit that does not build, the answer is the range.
        self.make_repo_again([100, 100, 100, 100, 100, 120, 120, 120, 120])
        rc, out = self.bisect(self.shas[0], self.shas[8],
                              build=f"test $(git rev-parse HEAD) != {self.shas[4]}")
        self.assertEqual(rc, 0, out)
        self.assertIn(f"the first bad commit is one of {self.shas[4][:10]}..{self.shas[5][:10]}", out)

    def test_refuses_when_good_and_bad_do_not_differ(self):
        self.make_repo([100, 100, 100])
        rc, out = self.bisect(self.shas[0], self.shas[2], "--max-reps", "10")
        self.assertEqual(rc, 3, out)
        self.assertIn("not significantly different", out)

    def test_refs_that_do_not_resolve_are_bad_input(self):
        self.make_repo([100, 120])
        rc, out = self.bisect("no-such-ref", self.shas[1])
        self.assertEqual(rc, 2)
        self.assertIn("does not name a commit", out)
        rc, out = self.bisect(self.shas[1], self.shas[0])
        self.assertEqual(rc, 2)
        self.assertIn("not an ancestor", out)
        self.assertNotIn("Traceback", out)


class Distribution(Repo):
    def test_a_fatter_tail_at_the_same_median_is_found_by_ks_not_by_u(self):
        # 5 repetitions a side. New: same median, 6 % of deliveries moved from ~1 ms to 3-4 ms.
        # Each repetition's p50 (the "time" a U test over repetitions sees) stays at 1 ms.
        rng = random.Random(11)

        def rep(tail):
            h = {}
            for _ in range(4000):
                slow = rng.random() < tail
                v = int(rng.uniform(3000, 4000) if slow else rng.gauss(1000, 60))
                h[v] = h.get(v, 0) + 1
            return h

        base = [rep(0.005) for _ in range(5)]
        new = [rep(0.06) for _ in range(5)]
        ts = lambda reps: {"runs": [{"name": "load/users:50", "repetition": i, "error": False,
                                     "latency_us": {"count": sum(h.values()), "buckets": [
                                         [0, n, v] for v, n in sorted(h.items())]}}
                                    for i, h in enumerate(reps)]}
        p50 = lambda h: sorted(v for v, n in h.items() for _ in range(n))[sum(h.values()) // 2]
        res = lambda reps: {"benchmarks": [{"name": "load/users:50", "run_name": "load/users:50",
                                            "run_type": "iteration", "repetition_index": i,
                                            "real_time": p50(h) / 1000.0}
                                           for i, h in enumerate(reps)]}
        rc, out = script("compare", self.write("a.json", res(base)), self.write("b.json", res(new)),
                         "--timeseries", self.write("ta.json", ts(base)),
                         self.write("tb.json", ts(new)))
        self.assertEqual(rc, 0, out)
        time_row = [ln for ln in out.splitlines() if ln.startswith("load/users:50") and " time " in ln]
        dist_row = [ln for ln in out.splitlines() if "latency distribution" in ln]
        self.assertTrue(time_row and "REGRESSION" not in time_row[0], out)
        self.assertTrue(dist_row and "REGRESSION: found by KS;" in dist_row[0], out)

    def test_the_same_runs_are_the_same(self):
        h = {1000: 50, 1100: 30, 5000: 2}
        ts = {"runs": [{"name": "load/users:10", "repetition": i, "error": False,
                        "latency_us": {"count": 82, "buckets": [[0, n, v] for v, n in h.items()]}}
                       for i in range(3)]}
        res = {"benchmarks": [{"name": "load/users:10", "run_type": "iteration",
                               "repetition_index": i, "real_time": 1.0 + i / 100}
                              for i in range(3)]}
        a, t = self.write("a.json", res), self.write("t.json", ts)
        rc, out = script("compare", a, a, "--timeseries", t, t)
        self.assertEqual(rc, 0, out)
        self.assertIn("same: no difference found; KS D = 0.0000", out)
        rc, out = script("compare", a, a, "--timeseries", t, self.write("x.json", {"x": 1}))
        self.assertEqual(rc, 2)
        self.assertNotIn("Traceback", out)


if __name__ == "__main__":
    unittest.main()
