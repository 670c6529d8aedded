"""Tests of scripts/lib/edivisive.py, E-divisive means change points (python3 -m unittest)."""
import math
import os
import random
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "scripts", "lib"))
import edivisive  # noqa: E402

# mongodb/signal-processing-algorithms, tests/test_detection.py at commit 36fa04b (the q-hat
# calculator of the paper, U-statistic within terms): randint(1,50) x20, randint(60,120) x20,
# randint(150,250) x20, expected change points 40 (q 2848.1169590643276) and 20 (893.578947368421)
# with pvalue=0.01, permutations=100.
RANDOM_ISH = [41, 18, 23, 3, 32, 11, 40, 13, 29, 48, 47, 35, 18, 21, 6, 2, 23, 3, 4, 7,
              120, 103, 102, 81, 71, 62, 115, 61, 108, 63, 70, 98, 65, 96, 64, 74, 70, 113, 90, 114,
              208, 196, 153, 150, 225, 179, 206, 165, 177, 151, 218, 217, 244, 245, 229, 195, 225,
              229, 176, 250]


def noise(seed, n, mu=100.0, sd=1.0):
    rng = random.Random(seed)
    return [rng.gauss(mu, sd) for _ in range(n)]


def brute_qhat(x, tau):
    """Q of one split by the paper's formula, term by term, O(n^2)."""
    a, b = x[:tau], x[tau:]
    n, m = len(a), len(b)
    cross = sum(abs(u - v) for u in a for v in b)
    wx = sum(abs(a[i] - a[j]) for i in range(n) for j in range(i + 1, n))
    wy = sum(abs(b[i] - b[j]) for i in range(m) for j in range(i + 1, m))
    tx = wx / math.comb(n, 2) if n > 1 else 0.0
    ty = wy / math.comb(m, 2) if m > 1 else 0.0
    return n * m / (n + m) * (2.0 * cross / (n * m) - tx - ty)


def indices(cps):
    return [c.index for c in cps]


class PublishedExamples(unittest.TestCase):
    def test_qhat_profile_of_the_reference_implementation(self):
        # mongodb/signal-processing-algorithms tests/test_algorithm_continuity.py (36fa04b),
        # expected_proper_division: Q at every tau of [1,1,1,1,2,2,2,2,2,3,3,3].
        expected = [0, 1.03333333, 2.2962963, 3.875, 5.9047619, 4.33333333, 3.6, 3.41666667,
                    3.80952381, 5.25, 3.11111111, 1.4]
        got = edivisive.qhat_profile([1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3])
        for g, e in zip(got, expected):
            self.assertAlmostEqual(g, e, places=7)

    def test_random_ish_series_gives_the_published_change_points_and_q(self):
        cps = edivisive.detect(RANDOM_ISH, alpha=0.01, permutations=100, seed=1234)
        self.assertEqual(indices(cps), [20, 40])
        self.assertAlmostEqual(cps[0].stat, 893.578947368421, places=9)
        self.assertAlmostEqual(cps[1].stat, 2848.1169590643276, places=9)
        self.assertEqual(cps[0].p_value, 1 / 101)  # no permutation came near

    def test_step_series_of_the_reference_tests(self):
        # Same file: 50s with an outlier at 2, then 100s from 15 (q 649.9999999999999); then 150s
        # from 30 (q 1209.1954022988505); and a lone intermediate value just before or after.
        series = [50] * 30
        series[2] = 100
        series[15:] = [100] * 15
        cps = edivisive.detect(series, alpha=0.01, permutations=100)
        self.assertEqual(indices(cps), [15])
        self.assertAlmostEqual(cps[0].stat, 650.0, places=9)
        two = series + [150] * 15
        cps = edivisive.detect(two, alpha=0.01, permutations=100)
        self.assertEqual(indices(cps), [15, 30])
        self.assertAlmostEqual(cps[1].stat, 1209.1954022988505, places=9)
        self.assertEqual(indices(edivisive.detect([50] * 14 + [74] + [100] * 15)), [15])
        self.assertEqual(indices(edivisive.detect([50] * 14 + [76] + [100] * 15)), [14])
        self.assertEqual(edivisive.detect([50] * 30), [])

    def test_regression_and_recovery_q_values(self):
        # Same file: 50s, 100s over [15, 30), outliers at 2 and 32. Published: 15 (q 544.74...)
        # and 33 (q 226.66...). The Q values are deterministic; the first test's p is about
        # 0.016 (3000 shuffles here), so at the published alpha=0.01 it passes or not by the
        # luck of the shuffles, and at 0.05 the end of the 100s at 30 is found as well.
        series = [50] * 45
        series[2] = series[32] = 100
        series[15:30] = [100] * 15
        whole = edivisive.qhat_profile(series)
        self.assertEqual(max(range(45), key=whole.__getitem__), 33)
        self.assertAlmostEqual(whole[33], 226.66666666666674, places=9)
        left = edivisive.qhat_profile(series[:33])
        self.assertEqual(max(range(33), key=left.__getitem__), 15)
        self.assertAlmostEqual(left[15], 544.7415329768271, places=9)
        self.assertTrue({15, 33} <= set(indices(edivisive.detect(series))))


class Statistic(unittest.TestCase):
    def test_fast_pass_equals_the_formula_term_by_term(self):
        rng = random.Random(5)
        for _ in range(25):
            x = [rng.choice([1.0, 2.0, 2.0, 7.5, rng.gauss(0, 10), 1e6 + rng.random()])
                 for _ in range(rng.randint(2, 30))]
            got = edivisive.qhat_profile(x)
            for tau in range(1, len(x)):
                want = brute_qhat(x, tau)
                self.assertAlmostEqual(got[tau], want, delta=1e-6 * max(1.0, abs(want)))

    def test_large_values_with_small_spread_keep_their_precision(self):
        base = noise(3, 40, 0.0, 1.0)
        shifted = [v + 1e9 for v in base]
        for a, b in zip(edivisive.qhat_profile(base), edivisive.qhat_profile(shifted)):
            self.assertAlmostEqual(a, b, delta=1e-4)


class Detection(unittest.TestCase):
    def test_noise_only_has_no_change(self):
        # Single series; about 4 % of them alarm (test_false_alarm_rate_on_noise).
        self.assertEqual(edivisive.detect(noise(1, 60)), [])
        self.assertEqual(edivisive.detect(noise(3, 150)), [])
        self.assertEqual(edivisive.detect(noise(4, 300)), [])

    def test_one_step(self):
        cps = edivisive.detect(noise(7, 30, 100) + noise(8, 30, 110))
        self.assertEqual(indices(cps), [30])
        cp = cps[0]
        self.assertEqual(cp.group, 30)
        self.assertEqual(cp.p_value, 1 / 200)
        self.assertAlmostEqual(cp.before_mean, 100, delta=0.6)
        self.assertAlmostEqual(cp.after_mean, 110, delta=0.6)
        self.assertAlmostEqual(cp.change, cp.after_mean / cp.before_mean - 1, places=12)
        self.assertLess(cp.ci_low, cp.change)
        self.assertGreater(cp.ci_high, cp.change)
        self.assertLess(cp.ci_low, 0.10)
        self.assertGreater(cp.ci_high, 0.10)
        self.assertLess(cp.ci_high - cp.ci_low, 0.02)
        self.assertEqual(set(cp.as_dict()), {"index", "group", "p_value", "stat", "before_mean",
                                             "after_mean", "change", "ci_low", "ci_high"})

    def test_two_steps(self):
        cps = edivisive.detect(noise(9, 30, 100) + noise(10, 30, 110) + noise(11, 30, 95))
        self.assertEqual(indices(cps), [30, 60])
        self.assertGreater(cps[0].change, 0)
        self.assertLess(cps[1].change, 0)
        # Adjacent segments: the second change compares [30, 60) with [60, 90).
        self.assertAlmostEqual(cps[1].before_mean, cps[0].after_mean, places=12)

    def test_slow_drift(self):
        # A trend of 6 sd over 60 points comes back as a staircase: 2 to 4 change points, each
        # one upward, where a flat series of the same noise has none.
        for seed in range(20, 25):
            rng = random.Random(seed)
            drift = [100 + 0.1 * i + rng.gauss(0, 1) for i in range(60)]
            cps = edivisive.detect(drift)
            self.assertTrue(1 <= len(cps) <= 5, indices(cps))
            for cp in cps:
                self.assertGreater(cp.change, 0)
                self.assertGreater(cp.ci_low, 0)
        self.assertEqual(edivisive.detect([100.0] * 60), [])
        self.assertEqual(edivisive.detect(noise(20, 60)), [])

    def test_a_single_outlier_is_not_a_change(self):
        for seed in range(40, 45):
            for where in (0, 25, 59):
                series = noise(seed, 60)
                series[where] = 150.0
                self.assertEqual(edivisive.detect(series), [], (seed, where))

    def test_min_size_bounds_the_segments(self):
        # Two high points at the end: min_size=3 can only cut 3 points off (index 39).
        series = [0.0] * 40 + [10.0] * 2
        self.assertEqual(indices(edivisive.detect(series)), [39])
        self.assertEqual(indices(edivisive.detect(series, min_size=2)), [40])
        self.assertEqual(edivisive.detect([1.0, 5.0]), [])
        self.assertEqual(edivisive.detect([1.0, 1.0, 1.0, 9.0, 9.0]), [])

    def test_a_short_burst_inside_a_flat_run_is_not_found(self):
        # The documented limit: the first split puts the whole burst on one side.
        self.assertEqual(edivisive.detect([0.0] * 20 + [10.0] * 2 + [0.0] * 20, min_size=2), [])

    def test_same_seed_same_answer(self):
        series = noise(12, 40, 100, 2) + noise(13, 40, 103, 2)
        a = edivisive.detect(series, seed=3)
        self.assertEqual(a, edivisive.detect(series, seed=3))
        self.assertEqual(len(a), 1)
        self.assertLessEqual(abs(a[0].index - 40), 2)

    def test_five_percent_step_in_two_percent_noise(self):
        # 20 commits of 5 repetitions, sd 2 % of the mean, +5 % from commit 10 on.
        for seed in range(80, 86):
            rng = random.Random(seed)
            series = [rng.gauss(100 if c < 10 else 105, 2) for c in range(20) for _ in range(5)]
            labels = [c for c in range(20) for _ in range(5)]
            cps = edivisive.detect(series, groups=labels)
            hits = [cp for cp in cps if abs(cp.group - 10) <= 2]
            self.assertEqual(len(hits), 1, [(cp.group, cp.p_value) for cp in cps])
            self.assertTrue(0 < hits[0].ci_low < hits[0].change < hits[0].ci_high)
            self.assertAlmostEqual(hits[0].change, 0.05, delta=0.015)

    def test_false_alarm_rate_on_noise(self):
        # 50 noise-only series of 60 points: 3 had a change point (6 %). The first test of each
        # series rejects when at most 8 of 199 shuffles reach the observed Q, a 4.5 % chance;
        # 2000 such series gave 78 (3.9 %). More than 6 of 50 has about 1 % probability.
        alarms = sum(1 for k in range(50) if edivisive.detect(noise(1000 + k, 60), seed=k))
        self.assertLessEqual(alarms, 6)

    def test_n150_with_199_permutations_is_fast(self):
        series = noise(14, 50, 100) + noise(15, 50, 104) + noise(16, 50, 99)
        start = time.perf_counter()
        cps = edivisive.detect(series)
        elapsed = time.perf_counter() - start
        self.assertEqual(indices(cps), [50, 100])
        self.assertLess(elapsed, 3.0)


class Groups(unittest.TestCase):
    def test_step_at_commit_8_of_16(self):
        rng = random.Random(60)
        series = [rng.gauss(100 if c < 8 else 110, 1) for c in range(16) for _ in range(5)]
        labels = [f"c{c}" for c in range(16) for _ in range(5)]
        cps = edivisive.detect(series, groups=labels)
        self.assertEqual([(cp.index, cp.group) for cp in cps], [(40, "c8")])

    def test_cuts_fall_on_group_boundaries_only(self):
        # The step is at point 22, inside commit 4 (points 20..24): the cut goes to a boundary.
        series = [0.0] * 22 + [10.0] * 28
        labels = [i // 5 for i in range(50)]
        cps = edivisive.detect(series, groups=labels)
        self.assertEqual(len(cps), 1)
        self.assertIn(cps[0].index, (20, 25))
        self.assertEqual(cps[0].index, 5 * cps[0].group)

    def test_min_size_counts_groups(self):
        # The last 2 of 30 commits are high: 10 points, but 2 groups, under min_size=3, so the
        # cut leaves 3 groups after it; counted in points the cut would be at 140.
        series = [0.0] * 140 + [10.0] * 10
        labels = [i // 5 for i in range(150)]
        self.assertEqual(indices(edivisive.detect(series)), [140])
        self.assertEqual([cp.group for cp in edivisive.detect(series, groups=labels)], [27])
        cps = edivisive.detect(series, groups=labels, min_size=2)
        self.assertEqual([cp.group for cp in cps], [28])

    def test_few_commits_cannot_reach_a_small_p(self):
        # 2 high commits of 8 have C(8,2) = 28 places: shuffles as extreme are too many for 0.05.
        series = [0.0] * 30 + [10.0] * 10
        labels = [i // 5 for i in range(40)]
        self.assertEqual(edivisive.detect(series, groups=labels, min_size=2), [])
        cps = edivisive.detect(series, groups=labels, min_size=2, permute="points")
        self.assertEqual(indices(cps), [30])

    def test_shuffling_groups_resists_commit_offsets(self):
        # Each commit has its own offset as large as the repetition noise and no step. Shuffling
        # points reads the offsets as changes; shuffling whole commits does not.
        rng = random.Random(62)
        series, labels = [], []
        for c in range(16):
            offset = rng.gauss(0, 1)
            series += [100 + offset + rng.gauss(0, 1) for _ in range(5)]
            labels += [c] * 5
        self.assertEqual(edivisive.detect(series, groups=labels), [])
        self.assertNotEqual(edivisive.detect(series, groups=labels, permute="points"), [])

    def test_unequal_repetitions(self):
        rng = random.Random(61)
        sizes = [3, 6, 4, 5, 3, 6, 5, 4, 3, 6, 4, 5]
        series, labels = [], []
        for c, size in enumerate(sizes):
            series += [rng.gauss(100 if c < 6 else 108, 1) for _ in range(size)]
            labels += [c] * size
        cps = edivisive.detect(series, groups=labels)
        self.assertEqual([cp.group for cp in cps], [6])
        self.assertEqual(cps[0].index, sum(sizes[:6]))


class BadInput(unittest.TestCase):
    def test_rejected_with_value_error(self):
        cases = [
            ([], {}, "empty"),
            ([1.0, "x", 2.0], {}, "series\\[1\\]"),
            ([1.0, float("nan")], {}, "finite"),
            ([1.0, True], {}, "series\\[1\\]"),
            ("123", {}, "sequence"),
            (None, {}, "sequence"),
            ([1.0, 2.0, 3.0], {"groups": [0, 0]}, "2 labels for 3 points"),
            ([1.0, 2.0, 3.0], {"groups": ["a", "b", "a"]}, "not contiguous"),
            ([1.0, 2.0], {"groups": [[0], [1]]}, "not hashable"),
            ([1.0, 2.0], {"alpha": 0}, "alpha"),
            ([1.0, 2.0], {"alpha": 1.5}, "alpha"),
            ([1.0, 2.0], {"permutations": 0}, "permutations"),
            ([1.0, 2.0], {"min_size": 0}, "min_size"),
            ([1.0, 2.0], {"min_size": 2.5}, "min_size"),
            ([1.0, 2.0], {"permute": "commits"}, "permute"),
            ([1.0, 2.0], {"alpha": 0.01, "permutations": 50}, "out of reach"),
        ]
        for series, kwargs, message in cases:
            with self.subTest(series=series, kwargs=kwargs):
                with self.assertRaisesRegex(ValueError, message):
                    edivisive.detect(series, **kwargs)

    def test_integers_and_tuples_are_accepted(self):
        self.assertEqual(edivisive.detect((1, 2, 3, 4, 5, 6)), [])


if __name__ == "__main__":
    unittest.main()
