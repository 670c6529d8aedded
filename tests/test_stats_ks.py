"""Tests of the two-sample Kolmogorov-Smirnov test in scripts/lib/stats.py (python3 -m unittest)."""
import os
import random
import statistics
import sys
import unittest
from collections import Counter
from statistics import NormalDist

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "scripts", "lib"))
import stats  # noqa: E402


def linspace(start, stop, num):
    """numpy.linspace: start + i * step, the last value set to stop."""
    step = (stop - start) / (num - 1)
    return [start + i * step for i in range(num - 1)] + [float(stop)]


def quantile_sample(mu, sd, n):
    """n evenly spaced quantiles of N(mu, sd): a sample without sampling noise."""
    dist = NormalDist(mu, sd)
    return [dist.inv_cdf((i + 0.5) / n) for i in range(n)]


class Distance(unittest.TestCase):
    def test_d_by_hand(self):
        # ECDFs of [1,3,5] and [2,4,6,8] after each value: 1/3-0, 1/3-1/4, 2/3-1/4, 2/3-2/4,
        # 1-2/4, 1-3/4, 1-1; the largest gap is 1/2 (after 5).
        self.assertAlmostEqual(stats.ks_2samp([1, 3, 5], [2, 4, 6, 8])[0], 0.5, places=15)
        self.assertAlmostEqual(stats.ks_2samp([2, 4, 6, 8], [1, 3, 5])[0], 0.5, places=15)
        # All of a below all of b: D = 1.
        self.assertEqual(stats.ks_2samp([1, 2, 3], [4, 5, 6])[0], 1.0)

    def test_ties_are_compared_after_the_whole_tie(self):
        # [1,2,2,3] v [2,2,2,4]: after 1: 1/4-0; after 2: 3/4-3/4; after 3: 1-3/4. D = 1/4;
        # stepping through the tie one value at a time would open a false gap of 1/2.
        self.assertAlmostEqual(stats.ks_2samp([1, 2, 2, 3], [2, 2, 2, 4])[0], 0.25, places=15)

    def test_identical_samples(self):
        self.assertEqual(stats.ks_2samp([1, 2, 3, 4], [4, 3, 2, 1]), (0.0, 1.0))
        self.assertEqual(stats.ks_2samp([5, 5, 5], [5, 5]), (0.0, 1.0))
        self.assertEqual(stats.ks_2samp_weighted([1, 2], [3, 4], [2, 1], [8, 6]), (0.0, 1.0))
        self.assertEqual(stats.ks_from_histograms({1: 3, 2: 4}, {1: 3, 2: 4}), (0.0, 1.0))

    def test_clearly_different_distributions(self):
        d, p = stats.ks_2samp(list(range(50)), list(range(100, 150)))
        self.assertEqual(d, 1.0)
        self.assertLess(p, 1e-25)
        rng = random.Random(1)
        a = [rng.gauss(0, 1) for _ in range(300)]
        b = [rng.gauss(1, 1) for _ in range(300)]
        self.assertLess(stats.ks_2samp(a, b)[1], 1e-10)
        self.assertLess(stats.ks_2samp(a, b, method="asymp")[1], 1e-10)


class ScipyReferenceValues(unittest.TestCase):
    def test_exact_small_samples(self):
        # scipy/stats/tests/test_stats.py, class TestKSTwoSamples (testSmall, testTwoVsThree,
        # testTwoVsFour, test100_100, test100_110): two-sided, scipy's default mode.
        cases = [
            ([0], [1], 1.0, 1.0),
            ([1.01, 2.01], [1.0, 2.0, 3.0], 1 / 3, 1.0),
            ([0.99, 1.99], [1.0, 2.0, 3.0], 2 / 3, 0.6),
            ([1.01, 2.01], [1.0, 2.0, 3.0, 4.0], 2 / 4, 14 / 15),
            ([0.99, 1.99], [1.0, 2.0, 3.0, 4.0], 3 / 4, 6 / 15),
        ]
        x100 = linspace(1, 100, 100)
        x110 = linspace(1, 100, 110)
        cases += [
            (x100, [v + 2 + 0.1 for v in x100], 3 / 100, 0.9999999999962055),
            (x100, [v + 2 - 0.1 for v in x100], 2 / 100, 1.0),
            (x100, [v + 20 + 0.1 for v in x110], 232 / 1100, 0.015739183865607353),
            (x100, [v + 20 - 0.1 for v in x110], 229 / 1100, 0.017803803861026313),
        ]
        for a, b, d, p in cases:
            with self.subTest(n=len(a), m=len(b), d=d):
                got_d, got_p = stats.ks_2samp(a, b)
                self.assertAlmostEqual(got_d, d, places=12)
                self.assertAlmostEqual(got_p, p, delta=1e-12)

    def test_exact_with_ties_on_request(self):
        # Same class, testRepeatedValues: scipy applies the exact (continuous) distribution to
        # tied data; here method="exact" asks for it, as "auto" goes asymptotic on ties.
        x2233 = [2] * 3 + [3] * 4 + [5] * 5 + [6] * 4
        x3344 = [v + 1 for v in x2233]
        x2356 = [2] * 3 + [3] * 4 + [5] * 10 + [6] * 4
        x3467 = [3] * 10 + [4] * 2 + [6] * 10 + [7] * 4
        d, p = stats.ks_2samp(x2233, x3344, method="exact")
        self.assertAlmostEqual(d, 5 / 16, places=12)
        self.assertAlmostEqual(p, 0.4262934613454952, delta=1e-12)
        d, p = stats.ks_2samp(x2356, x3467, method="exact")
        self.assertAlmostEqual(d, 190 / 21 / 26, places=12)
        self.assertAlmostEqual(p, 0.0919245790168125, delta=1e-12)
        self.assertEqual(stats.ks_2samp(x2233, x3344), stats.ks_2samp(x2233, x3344, method="asymp"))

    def test_asymptotic_with_the_stephens_correction(self):
        # scipy.stats.ks_2samp docstring examples, SciPy 0.9 to 1.2 (then the asymptotic p was
        # kstwobign.sf((en + 0.12 + 0.11/en) * D), en = sqrt(n m / (n + m))): n1=200, n2=300.
        for d, p in ((0.20833333333333337, 4.6674975515806989e-05),
                     (0.10333333333333333, 0.14498781825751686),
                     (0.07999999999999996, 0.41126949729859719)):
            self.assertAlmostEqual(stats.ks_asymptotic_pvalue(d, 200, 300) / p, 1.0, delta=1e-9)

    def test_kolmogorov_distribution_quantiles(self):
        # Upper critical values of the Kolmogorov distribution (the usual table values):
        # P(K > 1.2238) = 0.10, P(K > 1.3581) = 0.05, P(K > 1.6276) = 0.01, median 0.8276.
        for lam, p in ((1.2238, 0.10), (1.3581, 0.05), (1.6276, 0.01), (0.8276, 0.5)):
            self.assertAlmostEqual(stats.kolmogorov_sf(lam), p, delta=2e-4)
        # The two series used below and above 1.18 agree there.
        below, at = stats.kolmogorov_sf(1.18 - 1e-12), stats.kolmogorov_sf(1.18)
        self.assertAlmostEqual(below, at, places=10)
        self.assertEqual(stats.kolmogorov_sf(0.0), 1.0)
        self.assertEqual(stats.kolmogorov_sf(0.01), 1.0)
        self.assertLess(stats.kolmogorov_sf(6.0), 1e-30)


class Weighted(unittest.TestCase):
    def test_weighted_form_equals_the_expanded_plain_form(self):
        ha = {10: 3, 20: 5, 30: 2, 40: 0}
        hb = {10: 1, 20: 2, 30: 6, 50: 4}
        a = [v for v, c in ha.items() for _ in range(c)]
        b = [v for v, c in hb.items() for _ in range(c)]
        plain = stats.ks_2samp(a, b, method="asymp")
        weighted = stats.ks_2samp_weighted(list(ha), list(ha.values()), list(hb), list(hb.values()))
        self.assertEqual(weighted, plain)
        self.assertEqual(stats.ks_from_histograms(ha, hb), plain)
        as_json = {str(k): v for k, v in ha.items()}
        self.assertEqual(stats.ks_from_histograms(as_json, hb), plain)
        # Plain samples are weights of 1; auto mode has ties here, so asymptotic too.
        self.assertEqual(stats.ks_2samp_weighted(a, [1] * len(a), b, [1] * len(b)), plain)
        self.assertEqual(stats.ks_2samp(a, b), plain)

    def test_weights_scale_en_but_not_d(self):
        d1, p1 = stats.ks_2samp_weighted([1, 2, 3], [1, 1, 2], [2, 3, 4], [1, 2, 1])
        d2, p2 = stats.ks_2samp_weighted([1, 2, 3], [10, 10, 20], [2, 3, 4], [10, 20, 10])
        self.assertAlmostEqual(d1, d2, places=15)
        self.assertLess(p2, p1)
        d3, _ = stats.ks_2samp_weighted([1, 2, 3], [0.5, 0.5, 1.0], [2, 3, 4], [0.25, 0.5, 0.25])
        self.assertAlmostEqual(d1, d3, places=15)


class SpreadChange(unittest.TestCase):
    """A wider distribution with the same median: Mann-Whitney, a location test, sees nothing;
    KS sees the ECDFs cross apart on both sides of the median."""

    def test_evenly_spaced_quantiles(self):
        a = quantile_sample(100, 5, 500)
        b = quantile_sample(100, 10, 500)
        self.assertAlmostEqual(statistics.median(a), statistics.median(b), places=9)
        self.assertGreater(stats.mann_whitney_u(a, b)[1], 0.99)
        d, p = stats.ks_2samp(a, b)
        self.assertGreater(d, 0.15)
        self.assertLess(p, 0.01)

    def test_seeded_samples(self):
        rng = random.Random(2)
        a = [rng.gauss(100, 5) for _ in range(500)]
        b = [rng.gauss(100, 10) for _ in range(500)]
        self.assertGreater(stats.mann_whitney_u(a, b)[1], 0.5)
        self.assertLess(stats.ks_2samp(a, b)[1], 0.01)

    def test_latency_histograms(self):
        # 1 ms buckets of the two samples: same median bucket, a heavier tail on both sides.
        ha = Counter(round(v) for v in quantile_sample(100, 5, 500))
        hb = Counter(round(v) for v in quantile_sample(100, 10, 500))
        d, p = stats.ks_from_histograms(dict(ha), dict(hb))
        self.assertGreater(d, 0.15)
        self.assertLess(p, 0.01)
        self.assertLess(stats.ks_from_histograms(dict(ha), dict(ha))[0], 1e-15)


class BadInput(unittest.TestCase):
    def test_rejected_with_value_error(self):
        cases = [
            (stats.ks_2samp, ([], [1]), "at least one"),
            (stats.ks_2samp, ([1], []), "at least one"),
            (stats.ks_2samp, ([1, "x"], [1]), "not a finite number"),
            (stats.ks_2samp, ([1, float("nan")], [1]), "not a finite number"),
            (stats.ks_2samp, ([1], [2], "fast"), "method"),
            (stats.ks_2samp_weighted, ([1, 2], [1], [1], [1]), "2 values but 1 weights"),
            (stats.ks_2samp_weighted, ([1], [-1], [1], [1]), "negative"),
            (stats.ks_2samp_weighted, ([1], [0], [1], [1]), "no weight"),
            (stats.ks_2samp_weighted, ([], [], [1], [1]), "no weight"),
            (stats.ks_2samp_weighted, ([1], [float("inf")], [1], [1]), "not a finite number"),
            (stats.ks_2samp_weighted, ("ab", [1, 1], [1], [1]), "sequences"),
            (stats.ks_from_histograms, ({"fast": 1}, {1: 1}), "not a number"),
            (stats.ks_from_histograms, ([1, 2], {1: 1}), "dict"),
        ]
        for fn, args, message in cases:
            with self.subTest(fn=fn.__name__, args=args):
                with self.assertRaisesRegex(ValueError, message):
                    fn(*args)


if __name__ == "__main__":
    unittest.main()
