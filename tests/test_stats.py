"""orchestration.lib.stats against scipy (test-only dependency) and exact integer arithmetic."""

from __future__ import annotations

import math
import random

import pytest

import scipy.stats as scipy_stats  # test-only reference implementation

from orchestration.lib.stats import (
    benjamini_hochberg,
    poisson_exact_ci,
    poisson_rate_increase_test,
)

QUARTER_DAYS = 91
YEAR_DAYS = 365
REL_TOL = 1e-9


def _rel_err(a: float, b: float) -> float:
    return abs(a - b) / abs(b) if b != 0 else abs(a)


def _scipy_pvalue(observed: int, baseline: int, e_cur: float, e_base: float) -> float:
    p = e_cur / (e_cur + e_base)
    return scipy_stats.binomtest(observed, observed + baseline, p, alternative="greater").pvalue


def _exact_pvalue(observed: int, baseline: int, e_cur: int, e_base: int) -> float:
    """P(Y >= observed) in exact integer arithmetic (integer exposures), then one rounding."""
    n = observed + baseline
    num = sum(math.comb(n, j) * e_cur**j * e_base ** (n - j) for j in range(observed, n + 1))
    den = (e_cur + e_base) ** n
    return num / den  # int / int true division is correctly rounded, even far below 1e-300


# --------------------------------------------------------------------------------------------
# poisson_rate_increase_test
# --------------------------------------------------------------------------------------------


def test_hand_checkable_small_cases():
    # n = 1, p = 1/2: P(Y >= 1) = 1/2.
    assert poisson_rate_increase_test(1, 0, 1, 1) == pytest.approx(0.5, rel=1e-15)
    # n = 2, p = 1/2: P(Y >= 1) = 3/4, P(Y >= 2) = 1/4.
    assert poisson_rate_increase_test(1, 1, 1, 1) == pytest.approx(0.75, rel=1e-15)
    assert poisson_rate_increase_test(2, 0, 1, 1) == pytest.approx(0.25, rel=1e-15)
    # n = 3, p = 1/4 (one quarter against three): P(Y >= 2) = 3*(1/4)^2*(3/4) + (1/4)^3 = 10/64.
    assert poisson_rate_increase_test(2, 1, 1, 3) == pytest.approx(10 / 64, rel=1e-14)
    # All events in the current period, baseline empty: p ** n.
    p = 91 / 456
    assert poisson_rate_increase_test(5, 0, 91, 365) == pytest.approx(p**5, rel=1e-13)


def test_zero_observed_is_one():
    assert poisson_rate_increase_test(0, 0, 91, 365) == 1.0
    assert poisson_rate_increase_test(0, 50, 91, 365) == 1.0
    assert poisson_rate_increase_test(0, 10**6, 91, 365) == 1.0


def test_zero_exposures():
    # No current exposure: an observed event is impossible under H0 -> p = 0.
    assert poisson_rate_increase_test(3, 10, 0, 365) == 0.0
    # No baseline exposure: every event must fall in the current period -> p = 1.
    assert poisson_rate_increase_test(3, 10, 91, 0) == 1.0
    with pytest.raises(ValueError):
        poisson_rate_increase_test(1, 1, 0, 0)


@pytest.mark.parametrize(
    "args",
    [(-1, 0, 91, 365), (1, -1, 91, 365), (1.5, 2, 91, 365), (1, 2, -91, 365), (1, 2, 91, float("nan"))],
)
def test_invalid_inputs(args):
    with pytest.raises(ValueError):
        poisson_rate_increase_test(*args)


def test_grid_against_scipy():
    """Counts 0..500 against baselines 0..2000, a quarter (91 days) against a year (365 days)."""
    checked = 0
    for observed in list(range(0, 30)) + list(range(30, 501, 11)):
        for baseline in list(range(0, 40, 3)) + list(range(40, 2001, 53)):
            if observed + baseline == 0:
                continue
            ours = poisson_rate_increase_test(observed, baseline, QUARTER_DAYS, YEAR_DAYS)
            assert 0.0 <= ours <= 1.0
            ref = _scipy_pvalue(observed, baseline, QUARTER_DAYS, YEAR_DAYS)
            # Below ~1e-250 scipy's incomplete beta loses digits (see test_deep_tail_exact);
            # there the exact integer reference is the judge.
            if ref < 1e-250:
                continue
            assert _rel_err(ours, ref) < REL_TOL, (observed, baseline, ours, ref)
            checked += 1
    assert checked > 2000


def test_other_exposures_against_scipy():
    for e_cur, e_base in [(92, 365), (91, 366), (90, 270), (30, 335), (1, 1)]:
        for observed, baseline in [(1, 0), (3, 4), (12, 20), (40, 90), (100, 250), (400, 1500)]:
            ours = poisson_rate_increase_test(observed, baseline, e_cur, e_base)
            ref = _scipy_pvalue(observed, baseline, e_cur, e_base)
            assert _rel_err(ours, ref) < REL_TOL, (observed, baseline, e_cur, e_base)


def test_huge_n_against_scipy():
    """n up to ~100,000 (force-wide totals), across the whole range of the distribution."""
    rng = random.Random(20240630)
    p = QUARTER_DAYS / (QUARTER_DAYS + YEAR_DAYS)
    cases = [(19_956, 80_044), (20_500, 79_500), (21_000, 79_000), (19_000, 81_000), (100_000, 0), (1, 99_999)]
    for _ in range(200):
        n = rng.randint(1_000, 100_000)
        sd = math.sqrt(n * p * (1 - p))
        k = int(round(n * p + rng.uniform(-6, 30) * sd))
        k = max(0, min(n, k))
        cases.append((k, n - k))
    for observed, baseline in cases:
        ours = poisson_rate_increase_test(observed, baseline, QUARTER_DAYS, YEAR_DAYS)
        ref = _scipy_pvalue(observed, baseline, QUARTER_DAYS, YEAR_DAYS)
        if ref < 1e-250:
            continue
        assert _rel_err(ours, ref) < REL_TOL, (observed, baseline, ours, ref)


@pytest.mark.parametrize(
    "observed,baseline",
    [(1, 1), (7, 3), (50, 50), (120, 200), (300, 100), (455, 37), (400, 0), (420, 15), (380, 60)],
)
def test_deep_tail_exact(observed, baseline):
    """Exact rational reference, including tails down to ~1e-300 where scipy is not reliable."""
    ours = poisson_rate_increase_test(observed, baseline, QUARTER_DAYS, YEAR_DAYS)
    ref = _exact_pvalue(observed, baseline, QUARTER_DAYS, YEAR_DAYS)
    assert ref > 0
    assert _rel_err(ours, ref) < REL_TOL, (ours, ref)


def test_underflow_is_zero_not_error():
    # (91/456) ** 500 ~ 1e-350 is below the smallest double: the p-value underflows to 0.
    assert poisson_rate_increase_test(500, 0, QUARTER_DAYS, YEAR_DAYS) < 1e-300
    assert poisson_rate_increase_test(2_000, 0, QUARTER_DAYS, YEAR_DAYS) == 0.0


def test_monotone_in_observed():
    ps = [poisson_rate_increase_test(k, 40, QUARTER_DAYS, YEAR_DAYS) for k in range(0, 60)]
    assert all(a >= b for a, b in zip(ps, ps[1:]))


# --------------------------------------------------------------------------------------------
# benjamini_hochberg
# --------------------------------------------------------------------------------------------


def test_bh_hand_example():
    # m = 4, sorted p: 0.01, 0.02, 0.03, 0.5 -> raw m*p/i: 0.04, 0.04, 0.04, 0.5.
    assert benjamini_hochberg([0.03, 0.5, 0.01, 0.02]) == pytest.approx([0.04, 0.5, 0.04, 0.04])
    # Step-up monotonicity: a larger p with a smaller raw ratio pulls the earlier ones down.
    assert benjamini_hochberg([0.01, 0.04, 0.045]) == pytest.approx([0.03, 0.045, 0.045])


def test_bh_edge_cases():
    assert benjamini_hochberg([]) == []
    assert benjamini_hochberg([0.2]) == [0.2]
    assert benjamini_hochberg([1.0, 1.0]) == [1.0, 1.0]
    assert benjamini_hochberg([0.0, 0.9]) == [0.0, 0.9]
    assert max(benjamini_hochberg([0.6, 0.7, 0.9])) <= 1.0
    with pytest.raises(ValueError):
        benjamini_hochberg([0.1, float("nan")])
    with pytest.raises(ValueError):
        benjamini_hochberg([1.2])


@pytest.mark.parametrize("m", [2, 5, 37, 500, 5000])
def test_bh_against_scipy(m):
    rng = random.Random(m)
    ps = [rng.random() ** rng.choice([1, 3, 8]) for _ in range(m)]
    ps[: m // 10] = [ps[0]] * (m // 10)  # ties
    ours = benjamini_hochberg(ps)
    ref = scipy_stats.false_discovery_control(ps, method="bh")
    assert len(ours) == m
    for a, b in zip(ours, ref):
        assert a == pytest.approx(float(b), rel=1e-12, abs=1e-300)
    # Order preserved and monotone in p.
    pairs = sorted(zip(ps, ours))
    assert all(q1 <= q2 for (_, q1), (_, q2) in zip(pairs, pairs[1:]))


# --------------------------------------------------------------------------------------------
# poisson_exact_ci
# --------------------------------------------------------------------------------------------


def _garwood_scipy(k: int, confidence: float) -> tuple[float, float]:
    a = 1 - confidence
    lower = scipy_stats.chi2.ppf(a / 2, 2 * k) / 2 if k > 0 else 0.0
    upper = scipy_stats.chi2.ppf(1 - a / 2, 2 * k + 2) / 2
    return float(lower), float(upper)


def test_garwood_hand_values():
    lo, hi = poisson_exact_ci(0)
    assert lo == 0.0
    assert hi == pytest.approx(-math.log(0.025), rel=1e-10)  # 3.6889
    lo, hi = poisson_exact_ci(1)
    assert lo == pytest.approx(-math.log(0.975), rel=1e-10)  # 0.0253
    assert hi == pytest.approx(5.5716, abs=1e-4)
    lo, hi = poisson_exact_ci(10)
    assert (round(lo, 2), round(hi, 2)) == (4.80, 18.39)


@pytest.mark.parametrize("confidence", [0.95, 0.9, 0.99, 0.999, 0.5])
def test_garwood_against_scipy(confidence):
    for k in list(range(0, 101)) + list(range(101, 501, 13)) + [1_000, 5_000, 20_000, 100_000]:
        lo, hi = poisson_exact_ci(k, confidence)
        ref_lo, ref_hi = _garwood_scipy(k, confidence)
        assert lo <= k <= hi
        if k == 0:
            assert lo == 0.0
        else:
            assert _rel_err(lo, ref_lo) < 1e-9, (k, lo, ref_lo)
        assert _rel_err(hi, ref_hi) < 1e-9, (k, hi, ref_hi)


def test_garwood_invalid():
    for bad in (0.0, 1.0, -0.5, 1.5):
        with pytest.raises(ValueError):
            poisson_exact_ci(5, bad)
    with pytest.raises(ValueError):
        poisson_exact_ci(-1)


# --------------------------------------------------------------------------------------------
# The exception engine's binomial / Poisson tails and the SQL functions dbt uses
# --------------------------------------------------------------------------------------------

from orchestration.lib.stats import (  # noqa: E402
    binomial_lower_p,
    binomial_two_sided_p,
    binomial_upper_p,
    poisson_upper_p,
)


def _central_two_sided(k: int, n: int, p: float) -> float:
    return min(1.0, 2 * min(scipy_stats.binom.sf(k - 1, n, p), scipy_stats.binom.cdf(k, n, p)))


@pytest.mark.parametrize("n", [1, 4, 10, 37, 250, 4000])
def test_binomial_tails_against_scipy(n):
    rng = random.Random(n)
    for _ in range(40):
        k, p = rng.randint(0, n), rng.uniform(0.01, 0.99)
        assert binomial_upper_p(k, n, p) == pytest.approx(scipy_stats.binom.sf(k - 1, n, p), rel=1e-9, abs=1e-300)
        assert binomial_lower_p(k, n, p) == pytest.approx(scipy_stats.binom.cdf(k, n, p), rel=1e-9, abs=1e-300)
        assert binomial_two_sided_p(k, n, p) == pytest.approx(_central_two_sided(k, n, p), rel=1e-9, abs=1e-300)


def test_two_sided_hand_value_from_the_audit():
    # W01001604, public order 4 against 0 in equal periods: the z-test said 0.046, the exact test 0.125
    assert binomial_two_sided_p(4, 4, 0.5) == pytest.approx(0.125, rel=1e-12)


@pytest.mark.parametrize("mu", [0.4, 3.0, 17.5, 480.0])
def test_poisson_upper_against_scipy(mu):
    for k in [0, 1, 2, 5, 14, 30, 500, 700]:
        assert poisson_upper_p(k, mu) == pytest.approx(scipy_stats.poisson.sf(k - 1, mu), rel=1e-9, abs=1e-300)


def test_duckdb_functions_are_the_same_statistics():
    import duckdb

    from orchestration.lib.duckdb_functions import register

    con = duckdb.connect()
    register(con)
    register(con)  # idempotent
    row = con.execute(
        "select cm_poisson_rate_increase_p(7, 13, 1, 4), cm_binom_two_sided_p(4, 4, 0.5), cm_poisson_upper_p(14, 0.4), "
        "cm_poisson_lower_limit(1), cm_poisson_upper_limit(1), cm_normal_two_sided_p(1.959963984540054), "
        "cm_normal_quantile(0.975), cm_normal_quantile(1e-12)"
    ).fetchall()[0]
    low, high = _garwood_scipy(1, 0.95)
    assert row[0] == pytest.approx(scipy_stats.binom.sf(6, 20, 0.2), rel=1e-12)
    assert row[1] == pytest.approx(0.125, rel=1e-12)
    assert row[2] == pytest.approx(scipy_stats.poisson.sf(13, 0.4), rel=1e-9)
    assert (row[3], row[4]) == (pytest.approx(low, rel=1e-9), pytest.approx(high, rel=1e-9))
    assert row[5] == pytest.approx(0.05, rel=1e-9)
    assert (row[6], row[7]) == (pytest.approx(scipy_stats.norm.ppf(0.975), rel=1e-12),
                                pytest.approx(scipy_stats.norm.ppf(1e-12), rel=1e-12))


@pytest.mark.parametrize("mu", [0.04, 0.38, 1.0, 2.2, 9.5, 14.7, 120.3, 2500.0])
def test_poisson_interval_is_scipys_central_interval(mu):
    from orchestration.lib.stats import poisson_interval

    lo, hi = scipy_stats.poisson.interval(0.95, mu)
    assert poisson_interval(mu) == (int(lo), int(hi))
    assert poisson_interval(0.0) == (0, 0)
