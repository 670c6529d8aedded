"""Statistics for comparing benchmark repetitions, standard library only.

Mann-Whitney U (two-sided), as google/benchmark's compare.py uses through scipy: the exact
distribution when both samples are small and have no ties, otherwise the normal
approximation with the tie correction and a continuity correction (scipy's defaults).
"""
import math
import statistics
from functools import lru_cache


def rank(values):
    """Average ranks (1-based) of values, ties sharing the mean of their positions."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        avg = (i + j) / 2.0 + 1.0
        for k in range(i, j + 1):
            ranks[order[k]] = avg
        i = j + 1
    return ranks


@lru_cache(maxsize=None)
def _count_u(n1, n2, u):
    """Number of arrangements of n1 x's and n2 y's with exactly u (x > y) pairs."""
    if u < 0:
        return 0
    if n1 == 0 or n2 == 0:
        return 1 if u == 0 else 0
    # The largest element is an x (it beats all n2 y's) or a y.
    return _count_u(n1 - 1, n2, u - n2) + _count_u(n1, n2 - 1, u)


def mann_whitney_u(a, b):
    """Returns (U of a, two-sided p-value)."""
    n1, n2 = len(a), len(b)
    if n1 == 0 or n2 == 0:
        raise ValueError("both samples need at least one value")
    ranks = rank(list(a) + list(b))
    r1 = sum(ranks[:n1])
    u1 = r1 - n1 * (n1 + 1) / 2.0
    u2 = n1 * n2 - u1
    has_ties = len(set(list(a) + list(b))) < n1 + n2
    if not has_ties and n1 <= 20 and n2 <= 20:
        total = math.comb(n1 + n2, n1)
        u = int(round(min(u1, u2)))
        cdf = sum(_count_u(n1, n2, k) for k in range(u + 1)) / total
        return u1, min(1.0, 2.0 * cdf)
    n = n1 + n2
    tie_term = 0.0
    values = sorted(list(a) + list(b))
    i = 0
    while i < n:
        j = i
        while j + 1 < n and values[j + 1] == values[i]:
            j += 1
        t = j - i + 1
        tie_term += t ** 3 - t
        i = j + 1
    sigma = math.sqrt(n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1))))
    if sigma == 0:
        return u1, 1.0
    mu = n1 * n2 / 2.0
    z = (abs(u1 - mu) - 0.5) / sigma
    z = max(z, 0.0)
    p = math.erfc(z / math.sqrt(2.0))
    return u1, min(1.0, p)


def median(values):
    """statistics.median, NaN for no values (a side without repetitions)."""
    return statistics.median(values) if values else float("nan")


def geomean(values):
    """statistics.geometric_mean of the positive values, NaN when there are none."""
    vals = [v for v in values if v > 0]
    return statistics.geometric_mean(vals) if vals else float("nan")
