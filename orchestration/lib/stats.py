"""The exception engine's exact statistics (stdlib ``math`` only; method: dbt docs block exception_method).

Police-recorded crime per LSOA and quarter is a small count, so normal approximations (z-scores on rates) are
unreliable. These are the exact methods every mart and report uses; dbt models call them as DuckDB functions
(``orchestration.lib.duckdb_functions``, registered by ``orchestration.lib.dbt_plugin``):

* ``poisson_rate_increase_test`` - the one-sided conditional (binomial) test for two Poisson counts
  (Przyborowski & Wilenski 1940): the quarterly crime exceptions, own past and force adjusted.
* ``binomial_upper_p`` / ``binomial_lower_p`` / ``binomial_two_sided_p`` - exact binomial tails; the two-sided
  central test is the change mart's test of two counts.
* ``poisson_upper_p`` - P(X >= k) against an expected count (tension evidence exceedance).
* ``benjamini_hochberg`` - false discovery rate control across many tests (Benjamini & Hochberg 1995);
  the SQL macro ``select_with_bh_q`` computes the same q-values inside dbt.
* ``poisson_exact_ci`` - Garwood (1936) exact confidence interval for a Poisson count.

Probabilities are built from Loader's (2000) saddle-point binomial/Poisson densities
("Fast and Accurate Computation of Binomial Probabilities", as used in R's ``dbinom``), which keep
full relative accuracy for n in the hundreds of thousands, where differences of ``lgamma`` values
would lose digits. Tails are summed from the small end so that tiny p-values keep their relative
accuracy. No numpy/scipy: this runs inside the production code location and inside dbt.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = [
    "poisson_rate_increase_test",
    "binomial_upper_p",
    "binomial_lower_p",
    "binomial_two_sided_p",
    "poisson_upper_p",
    "benjamini_hochberg",
    "poisson_exact_ci",
]

_LN_2PI = math.log(2.0 * math.pi)
_DBL_MIN = 2.2250738585072014e-308
# A term this much smaller than the running sum no longer changes it in double precision.
_TAIL_EPS = 1e-17


# --------------------------------------------------------------------------------------------
# Loader's saddle-point densities
# --------------------------------------------------------------------------------------------


def _stirlerr(n: float) -> float:
    """log(n!) - log(sqrt(2*pi*n) * (n/e)**n): the error of Stirling's formula (Loader 2000)."""
    if n <= 15.0:
        # Small n: direct evaluation loses at most ~1e-15 absolute, which is harmless here.
        return math.lgamma(n + 1.0) - (n + 0.5) * math.log(n) + n - 0.5 * _LN_2PI
    s0, s1, s2, s3, s4 = 1 / 12, 1 / 360, 1 / 1260, 1 / 1680, 1 / 1188
    nn = n * n
    if n > 500:
        return (s0 - s1 / nn) / n
    if n > 80:
        return (s0 - (s1 - s2 / nn) / nn) / n
    if n > 35:
        return (s0 - (s1 - (s2 - s3 / nn) / nn) / nn) / n
    return (s0 - (s1 - (s2 - (s3 - s4 / nn) / nn) / nn) / nn) / n


def _bd0(x: float, np_: float) -> float:
    """Deviance term x*log(x/np) + np - x, computed without cancellation (Loader 2000)."""
    if abs(x - np_) < 0.1 * (x + np_):
        v = (x - np_) / (x + np_)
        s = (x - np_) * v
        if abs(s) < _DBL_MIN:
            return s
        ej = 2.0 * x * v
        v = v * v
        for j in range(1, 1000):
            ej *= v
            s1 = s + ej / (2 * j + 1)
            if s1 == s:
                return s1
            s = s1
        return s
    return x * math.log(x / np_) + np_ - x


def _log_dbinom(x: int, n: int, p: float) -> float:
    """log P(Y = x) for Y ~ Binomial(n, p), 0 < p < 1 (Loader's algorithm)."""
    q = 1.0 - p
    if x == 0:
        return n * math.log1p(-p) if p < 0.1 else n * math.log(q)
    if x == n:
        return n * math.log(p)
    lc = _stirlerr(n) - _stirlerr(x) - _stirlerr(n - x) - _bd0(x, n * p) - _bd0(n - x, n * q)
    lf = _LN_2PI + math.log(x) + math.log1p(-x / n)
    return lc - 0.5 * lf


def _log_dpois(x: int, mu: float) -> float:
    """log P(X = x) for X ~ Poisson(mu), mu > 0 (Loader's algorithm)."""
    if x == 0:
        return -mu
    return -_stirlerr(x) - _bd0(x, mu) - 0.5 * (_LN_2PI + math.log(x))


def _sum_ratios(first_ratio, max_terms: int) -> float:
    """Sum 1 + r1 + r1*r2 + ... for a decreasing-term tail; ``first_ratio(i)`` gives term i/term i-1."""
    total = 1.0
    term = 1.0
    for i in range(1, max_terms + 1):
        term *= first_ratio(i)
        total += term
        if term < _TAIL_EPS * total:
            break
    return total


# --------------------------------------------------------------------------------------------
# Tail probabilities
# --------------------------------------------------------------------------------------------


def _binom_upper_tail(k: int, n: int, p: float) -> float:
    """P(Y >= k) for Y ~ Binomial(n, p), exact, summed from whichever tail is the small one."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    odds = p / (1.0 - p)
    if k > n * p:
        # Upper tail: terms decrease from j = k upwards.
        log_first = _log_dbinom(k, n, p)
        s = _sum_ratios(lambda i: (n - (k + i - 1)) / (k + i) * odds, n - k)
        return math.exp(log_first + math.log(s))
    # k <= mean: the answer is >= ~0.5, so 1 - (lower tail) loses nothing relative.
    j0 = k - 1
    log_first = _log_dbinom(j0, n, p)
    s = _sum_ratios(lambda i: (j0 - i + 1) / (n - j0 + i) / odds, j0)
    return max(0.0, 1.0 - math.exp(log_first + math.log(s)))


def _poisson_cdf(k: int, mu: float) -> float:
    """P(X <= k) for X ~ Poisson(mu)."""
    if k < 0:
        return 0.0
    if mu <= 0.0:
        return 1.0
    if k < mu:
        log_first = _log_dpois(k, mu)
        s = _sum_ratios(lambda i: (k - i + 1) / mu, k)
        return math.exp(log_first + math.log(s))
    return max(0.0, 1.0 - _poisson_sf(k + 1, mu))


def _poisson_sf(k: int, mu: float) -> float:
    """P(X >= k) for X ~ Poisson(mu)."""
    if k <= 0:
        return 1.0
    if mu <= 0.0:
        return 0.0
    if k > mu:
        log_first = _log_dpois(k, mu)
        # Terms decrease (ratio mu/(k+i) < 1); the loop stops far earlier, this is only a cap.
        limit = int(k + 50 + 40 * math.sqrt(mu) + 10 * mu)
        s = _sum_ratios(lambda i: mu / (k + i), limit)
        return math.exp(log_first + math.log(s))
    return max(0.0, 1.0 - _poisson_cdf(k - 1, mu))


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def _check_count(name: str, value: int) -> int:
    if isinstance(value, bool) or int(value) != value or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def _check_exposure(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite non-negative number, got {value!r}")
    return value


def poisson_rate_increase_test(
    observed: int, baseline: int, exposure_current: float, exposure_baseline: float
) -> float:
    """One-sided exact p-value that the current Poisson rate exceeds the baseline rate.

    Conditional test of Przyborowski & Wilenski (1940): given the total n = observed + baseline,
    under H0 (equal rates) ``observed ~ Binomial(n, p)`` with
    p = exposure_current / (exposure_current + exposure_baseline). Conditioning removes the
    unknown common rate, so the test is exact for small counts. Returns P(Y >= observed);
    ``observed == 0`` gives 1.0. Exposures are in any common unit (e.g. days).
    """
    observed = _check_count("observed", observed)
    baseline = _check_count("baseline", baseline)
    e_cur = _check_exposure("exposure_current", exposure_current)
    e_base = _check_exposure("exposure_baseline", exposure_baseline)
    if observed == 0:
        return 1.0
    if e_cur + e_base <= 0:
        raise ValueError("exposure_current and exposure_baseline cannot both be zero")
    p = e_cur / (e_cur + e_base)
    return min(1.0, _binom_upper_tail(observed, observed + baseline, p))


def _check_probability(name: str, value: float) -> float:
    value = float(value)
    if not (0.0 <= value <= 1.0):  # also rejects NaN
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return value


def binomial_upper_p(k: int, n: int, p: float) -> float:
    """P(Y >= k) for Y ~ Binomial(n, p), exact (the one-sided p-value for an excess)."""
    k, n = _check_count("k", k), _check_count("n", n)
    return min(1.0, _binom_upper_tail(k, n, _check_probability("p", p)))


def binomial_lower_p(k: int, n: int, p: float) -> float:
    """P(Y <= k) for Y ~ Binomial(n, p), exact: P(n - Y >= n - k) with n - Y ~ Binomial(n, 1 - p)."""
    k, n = _check_count("k", k), _check_count("n", n)
    p = _check_probability("p", p)
    if k >= n:
        return 1.0
    return min(1.0, _binom_upper_tail(n - k, n, 1.0 - p))


def binomial_two_sided_p(k: int, n: int, p: float) -> float:
    """Two-sided exact binomial p-value by the central (doubling) method: min(1, 2 min(P(Y >= k), P(Y <= k))).

    For two Poisson counts k1, k0 with exposures e1, e0 this is the exact conditional test of equal rates
    (k = k1, n = k1 + k0, p = e1 / (e1 + e0)): e.g. 4 events against 0 in equal periods gives 0.125.
    """
    return min(1.0, 2.0 * min(binomial_upper_p(k, n, p), binomial_lower_p(k, n, p)))


def poisson_upper_p(k: int, mu: float) -> float:
    """P(X >= k) for X ~ Poisson(mu), exact (the one-sided p-value of an observed count against an expected)."""
    k = _check_count("k", k)
    mu = _check_exposure("mu", mu)
    return min(1.0, _poisson_sf(k, mu))


def poisson_interval(mu: float, coverage: float = 0.95) -> tuple[int, int]:
    """Central interval [lo, hi] of X ~ Poisson(mu): the smallest lo with P(X <= lo) > a/2 and the smallest hi
    with P(X <= hi) >= 1 - a/2 (a = 1 - coverage): the range a count is expected to fall in if nothing
    changed (the "expected band" of the pack's trend charts)."""
    mu = _check_exposure("mu", mu)
    coverage = float(coverage)
    if not (0.0 < coverage < 1.0):
        raise ValueError(f"coverage must be strictly between 0 and 1, got {coverage!r}")
    half = (1.0 - coverage) / 2.0
    lo = 0
    while _poisson_cdf(lo, mu) <= half:
        lo += 1
    hi = lo
    while _poisson_cdf(hi, mu) < 1.0 - half:
        hi += 1
    return lo, hi


def benjamini_hochberg(pvalues: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg (1995) adjusted p-values (q-values), in the input order.

    Step-up: q_(i) = min_{j >= i} min(1, m * p_(j) / j) over the ascending order, so the q-values
    are monotone in p and an LSOA is flagged at FDR level alpha exactly when q <= alpha.
    Controls the expected share of false flags among all flags across the many tests.
    """
    ps = [float(p) for p in pvalues]
    for p in ps:
        if not (0.0 <= p <= 1.0):  # also rejects NaN
            raise ValueError(f"p-values must be in [0, 1], got {p!r}")
    m = len(ps)
    order = sorted(range(m), key=lambda i: ps[i])
    q = [0.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        idx = order[rank - 1]
        running = min(running, ps[idx] * m / rank)
        q[idx] = min(1.0, running)
    return q


def poisson_exact_ci(count: int, confidence: float = 0.95) -> tuple[float, float]:
    """Garwood (1936) exact two-sided confidence interval for the mean of a Poisson count.

    Lower L solves P(X >= count | L) = a/2 (L = 0 when count = 0); upper U solves
    P(X <= count | U) = a/2, with a = 1 - confidence. Equivalent to the chi-square form
    chi2(a/2, 2k)/2 and chi2(1 - a/2, 2k + 2)/2. Solved by safeguarded Newton iteration on the
    exact Poisson CDF, to ~1e-12 relative. Guaranteed coverage, appropriate for small counts.
    """
    k = _check_count("count", count)
    confidence = float(confidence)
    if not (0.0 < confidence < 1.0):
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence!r}")
    half = (1.0 - confidence) / 2.0

    lower = 0.0
    if k > 0:
        # f(mu) = P(X >= k | mu) - half increases in mu; f(0) < 0 and f(k) >= 0.5 - half > 0.
        lower = _solve_increasing(
            lambda mu: _poisson_sf(k, mu) - half,
            lambda mu: math.exp(_log_dpois(k - 1, mu)),
            0.0,
            float(k),
        )

    # g(mu) = half - P(X <= k | mu) increases in mu; g(k) <= half - 0.5 < 0.
    lo = float(k)
    hi = k + 1.0 + 10.0 * math.sqrt(k + 1.0) + 10.0
    while half - _poisson_cdf(k, hi) < 0:
        lo, hi = hi, 2.0 * hi
    upper = _solve_increasing(
        lambda mu: half - _poisson_cdf(k, mu),
        lambda mu: math.exp(_log_dpois(k, mu)),
        lo,
        hi,
    )
    return lower, upper


def _solve_increasing(f, df, lo: float, hi: float, rtol: float = 1e-13) -> float:
    """Root of an increasing f on [lo, hi] (f(lo) <= 0 <= f(hi)): Newton, bisection fallback."""
    x = 0.5 * (lo + hi)
    for _ in range(200):
        fx = f(x)
        if fx == 0.0:
            return x
        if fx < 0:
            lo = x
        else:
            hi = x
        d = df(x)
        step_ok = False
        if d > 0 and math.isfinite(d):
            x_new = x - fx / d
            if lo < x_new < hi:
                step_ok = True
        if not step_ok:
            x_new = 0.5 * (lo + hi)
        if abs(x_new - x) <= rtol * max(abs(x_new), 1e-300) or hi - lo <= rtol * max(hi, 1e-300):
            return x_new
        x = x_new
    return x
