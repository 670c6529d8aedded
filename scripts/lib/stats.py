"""Statistics for comparing benchmark repetitions, standard library only.

Mann-Whitney U (two-sided), as google/benchmark's compare.py uses through scipy: the exact
distribution when both samples are small and have no ties, otherwise the normal
approximation with the tie correction and a continuity correction (scipy's defaults).

Two-sample Kolmogorov-Smirnov (two-sided), also over weighted samples such as two latency
histograms (bucket value, count): D is the largest distance between the two empirical CDFs, so
it sees a change of spread or of the tail that leaves the median alone, which Mann-Whitney
misses. See ks_2samp_weighted for the p-value.
"""
import math
import numbers
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


# Plain samples with n*m at most this many lattice cells get the exact p-value (~15 ms at the cap).
KS_EXACT_MAX_CELLS = 100_000


def kolmogorov_sf(lam):
    """P(K > lam) for the Kolmogorov distribution K, the limit of sqrt(n) * D_n."""
    if lam <= 0:
        return 1.0
    if lam < 1.18:
        # The theta-function form converges in a few terms where the alternating series does not.
        y = math.exp(-math.pi ** 2 / (8.0 * lam * lam))
        s = math.fsum(y ** ((2 * j - 1) ** 2) for j in range(1, 7))
        return min(1.0, max(0.0, 1.0 - math.sqrt(2.0 * math.pi) / lam * s))
    x = math.exp(-2.0 * lam * lam)
    s = math.fsum((-1) ** (j - 1) * x ** (j * j) for j in range(1, 7))
    return min(1.0, max(0.0, 2.0 * s))


def ks_asymptotic_pvalue(d, n, m):
    """Two-sided p of the two-sample D for sizes (total weights) n and m: the Kolmogorov
    distribution at (sqrt(en) + 0.12 + 0.11/sqrt(en)) * D with en = n m / (n + m), Stephens'
    small-sample correction as in Numerical Recipes (and scipy.stats.ks_2samp up to 1.2)."""
    if d <= 0:
        return 1.0
    root = math.sqrt(n * m / (n + m))
    return kolmogorov_sf((root + 0.12 + 0.11 / root) * d)


def _ks_exact_pvalue(n, m, h):
    """P(D >= h / (n m)) under the null for samples of n and m without ties: the share of the
    C(n+m, n) lattice paths from (0,0) to (n,m) that reach |i m - j n| >= h (Hodges 1957)."""
    if h <= 0:
        return 1.0
    inside = [1] + [0] * m
    for j in range(1, m + 1):
        inside[j] = inside[j - 1] if j * n < h else 0
    for i in range(1, n + 1):
        im = i * m
        if im >= h:
            inside[0] = 0
        for j in range(1, m + 1):
            inside[j] = inside[j] + inside[j - 1] if abs(im - j * n) < h else 0
    total = math.comb(n + m, n)
    # Integer arithmetic up to here: a tiny p keeps its digits.
    return (total - inside[m]) / total


def _real(v, what):
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
        raise ValueError(f"{what} is not a finite number: {v!r}")
    return v


def _ks_distance(pairs_a, pairs_b):
    """(D, unnormalised D) of two weighted samples given as [(value, weight)]: the ECDFs are
    compared after all the weight at each distinct value, so ties never open a false gap."""
    na = sum(w for _, w in pairs_a)
    nb = sum(w for _, w in pairs_b)
    merged = {}
    for side, pairs in ((0, pairs_a), (1, pairs_b)):
        for v, w in pairs:
            cell = merged.setdefault(v, [0, 0])
            cell[side] += w
    ca = cb = 0
    h = 0
    for v in sorted(merged):
        ca += merged[v][0]
        cb += merged[v][1]
        # Cross-multiplied, exact for integer weights.
        h = max(h, abs(ca * nb - cb * na))
    return h / (na * nb), h


def _weighted_pairs(values, weights, name):
    if isinstance(values, (str, bytes)) or isinstance(weights, (str, bytes)):
        raise ValueError(f"{name}: values and weights must be sequences of numbers")
    values, weights = list(values), list(weights)
    if len(values) != len(weights):
        raise ValueError(f"{name}: {len(values)} values but {len(weights)} weights")
    pairs = []
    for i, (v, w) in enumerate(zip(values, weights)):
        _real(v, f"{name} value [{i}]")
        if _real(w, f"{name} weight [{i}]") < 0:
            raise ValueError(f"{name} weight [{i}] is negative: {w!r}")
        if w:
            pairs.append((v, w))
    if not pairs:
        raise ValueError(f"{name} has no weight: at least one positive weight is needed")
    return pairs


def ks_2samp_weighted(values_a, weights_a, values_b, weights_b):
    """Two-sided two-sample KS test of weighted samples; returns (D, p_value).

    values are observations (bucket values), weights their counts (1 each for plain samples).
    The p-value is asymptotic: ks_asymptotic_pvalue with n and m the total weights. Histogram
    buckets are ties, which make this p conservative (too large); with large counts even a
    small D is significant, so read D as the size of the difference."""
    a = _weighted_pairs(values_a, weights_a, "sample a")
    b = _weighted_pairs(values_b, weights_b, "sample b")
    d, _ = _ks_distance(a, b)
    n = sum(w for _, w in a)
    m = sum(w for _, w in b)
    return d, ks_asymptotic_pvalue(d, n, m)


def ks_2samp(a, b, method="auto"):
    """Two-sided two-sample KS test of plain samples; returns (D, p_value).

    method "exact": the exact null distribution of D for continuous data (lattice paths, as
    scipy's mode="exact"); "asymp": ks_asymptotic_pvalue; "auto" (default): exact when the
    samples have no ties and n*m <= KS_EXACT_MAX_CELLS, otherwise asymptotic."""
    if method not in ("auto", "exact", "asymp"):
        raise ValueError(f"method must be auto, exact or asymp, got {method!r}")
    a = [(_real(v, f"sample a [{i}]"), 1) for i, v in enumerate(a)]
    b = [(_real(v, f"sample b [{i}]"), 1) for i, v in enumerate(b)]
    if not a or not b:
        raise ValueError("both samples need at least one value")
    n, m = len(a), len(b)
    d, h = _ks_distance(a, b)
    ties = len({v for v, _ in a} | {v for v, _ in b}) < n + m
    if method == "exact" or (method == "auto" and not ties and n * m <= KS_EXACT_MAX_CELLS):
        return d, min(1.0, _ks_exact_pvalue(n, m, h))
    return d, ks_asymptotic_pvalue(d, n, m)


def _histogram_pairs(h, name):
    if not isinstance(h, dict):
        raise ValueError(f"{name} must be a dict {{value: count}}")
    keys = []
    for k in h:
        # JSON object keys arrive as strings.
        try:
            keys.append(float(k) if isinstance(k, str) else k)
        except ValueError:
            raise ValueError(f"{name}: bucket value {k!r} is not a number") from None
    return keys, list(h.values())


def ks_from_histograms(h_a, h_b):
    """ks_2samp_weighted of two histograms {bucket value: count}; numeric-string keys accepted."""
    va, wa = _histogram_pairs(h_a, "histogram a")
    vb, wb = _histogram_pairs(h_b, "histogram b")
    return ks_2samp_weighted(va, wa, vb, wb)
