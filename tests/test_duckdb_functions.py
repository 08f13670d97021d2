"""The exception engine's DuckDB functions (orchestration.lib.duckdb_functions), called through SQL on an in-memory
DuckDB, against the reference they must equal: stats.py, with the argument handling of the row-by-row functions
they replaced (counts rounded half to even, p clipped to [0, 1], mu clipped at 0). Each function runs once over
a grid (counts to 200,000, tails down to underflow), then the edge cases, NULLs and errors."""

from __future__ import annotations

import functools
import math
from statistics import NormalDist

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from orchestration.lib import stats
from orchestration.lib.duckdb_functions import FUNCTIONS, register

REL = 1e-12  # relative agreement with stats.py ...
TINY = 1e-300  # ... or absolute, for values below this (subnormal and underflowing tails)
DBL_MIN = 2.2250738585072014e-308


# --------------------------------------------------------------------------------------------
# The reference: stats.py, row by row, with the previous scalar functions' argument handling
# --------------------------------------------------------------------------------------------


def ref_rate(k1, k0, e1, e0):
    return stats.poisson_rate_increase_test(int(round(k1)), int(round(k0)), e1, e0)


def ref_binom(k, n, p):
    return stats.binomial_two_sided_p(int(round(k)), int(round(n)), min(1.0, max(0.0, p)))


def ref_poisson(k, mu):
    return stats.poisson_upper_p(int(round(k)), max(0.0, mu))


def ref_normal(z):
    return min(1.0, math.erfc(abs(z) / math.sqrt(2.0)))


def ref_quantile(p):
    return NormalDist().inv_cdf(p)


@functools.lru_cache(maxsize=None)
def _garwood(k: int) -> tuple[float, float]:
    return stats.poisson_exact_ci(k, 0.95)


def ref_lower(k):
    return _garwood(int(round(k)))[0]


def ref_upper(k):
    return _garwood(int(round(k)))[1]


REFERENCE = {
    "cm_poisson_rate_increase_p": ref_rate,
    "cm_binom_two_sided_p": ref_binom,
    "cm_poisson_upper_p": ref_poisson,
    "cm_normal_two_sided_p": ref_normal,
    "cm_normal_quantile": ref_quantile,
    "cm_poisson_lower_limit": ref_lower,
    "cm_poisson_upper_limit": ref_upper,
}


@pytest.fixture(scope="module")
def con():
    connection = duckdb.connect()
    register(connection)
    yield connection
    connection.close()


def sql(con, name: str, *columns) -> np.ndarray:
    """name(...) over the rows of the columns: one query, so DuckDB calls the function batch by batch."""
    table = pa.table({"i": pa.array(np.arange(len(columns[0]))),
                      **{f"a{j}": pa.array(np.asarray(c, dtype=np.float64)) for j, c in enumerate(columns)}})
    con.register("grid", table)
    try:
        args = ", ".join(f"a{j}" for j in range(len(columns)))
        rows = con.execute(f"select {name}({args}) from grid order by i").fetchall()
    finally:
        con.unregister("grid")
    return np.array([r[0] for r in rows], dtype=np.float64)


def reference(name: str, *columns) -> np.ndarray:
    fn = REFERENCE[name]
    return np.array([fn(*row) for row in zip(*(np.asarray(c, dtype=np.float64).tolist() for c in columns))])


def assert_agree(name: str, got: np.ndarray, want: np.ndarray, *columns) -> float:
    """Equal to REL relative, or within TINY absolute below TINY; NaN where the reference is NaN. Returns the
    largest relative difference among values above TINY."""
    diff = np.abs(got - want)
    ok = (got == want) | (diff <= REL * np.abs(want)) | ((np.abs(want) < TINY) & (diff <= TINY))
    ok |= np.isnan(got) & np.isnan(want)
    if not ok.all():
        bad = np.flatnonzero(~ok)[:5]
        rows = [tuple(float(c[i]) for c in columns) for i in bad]
        pytest.fail(f"{name}: {(~ok).sum()} rows differ, e.g. {list(zip(rows, got[bad], want[bad]))}")
    big = np.abs(want) >= TINY
    return float(np.max(diff[big] / np.abs(want[big]), initial=0.0))


def check_grid(con, name: str, *columns) -> np.ndarray:
    got, want = sql(con, name, *columns), reference(name, *columns)
    assert_agree(name, got, want, *columns)
    return want


# --------------------------------------------------------------------------------------------
# Grids
# --------------------------------------------------------------------------------------------

PS = [0.0, 1e-9, 0.01, 0.25, 0.5, 0.9, 1.0]
# 1070 and 1100 at p = 0.5: P(Y >= n) = 2**-n is subnormal, then underflows to 0
NS = [0, 1, 2, 3, 4, 5, 7, 10, 13, 20, 30, 50, 100, 250, 1000, 1070, 1100, 3000, 10_000, 30_000, 50_000, 100_000,
      150_000, 200_000]


def binomial_grid():
    """(k, n, p): every k near 0 and near n, 41 across, and the mean +- 40 standard deviations by quarters."""
    rows = []
    for p in PS:
        for n in NS:
            ks = set(range(min(n, 40) + 1)) | set(range(max(0, n - 40), n + 3))
            ks |= {round(x) for x in np.linspace(0, n, 41)}
            mean, sd = n * p, math.sqrt(max(n * p * (1 - p), 1.0))
            ks |= {round(mean + t * sd) for t in np.linspace(-40, 40, 321)}
            rows += [(k, n, p) for k in sorted(ks) if k >= 0]
    return np.array(rows, dtype=np.float64).T


def test_binom_two_sided_grid(con):
    k, n, p = binomial_grid()
    want = check_grid(con, "cm_binom_two_sided_p", k, n, p)
    # the grid reaches the far tails: values below 1e-300, subnormal ones, and tails that underflow to 0
    assert ((want > 0) & (want < TINY)).sum() > 20
    assert ((want > 0) & (want < DBL_MIN)).any()
    assert (want == 0).sum() > 1000


def test_binom_two_sided_underflows_where_stats_does(con):
    k, n, p = binomial_grid()
    got, want = sql(con, "cm_binom_two_sided_p", k, n, p), reference("cm_binom_two_sided_p", k, n, p)
    assert ((got == 0) == (want == 0)).all()


def test_rate_increase_grid(con):
    k, n, p = binomial_grid()
    keep = (p > 0) & (p < 1) & (k <= n)
    k, n, p = k[keep], n[keep], p[keep]
    want = check_grid(con, "cm_poisson_rate_increase_p", k, n - k, p, 1.0 - p)
    assert ((want > 0) & (want < TINY)).any() and (want == 0).any()
    # exposures as the marts pass them: days, and the rest of the force's counts
    rng = np.random.default_rng(7)
    k1 = rng.integers(0, 400, 3000).astype(float)
    k0 = rng.integers(0, 3000, 3000).astype(float)
    e1 = rng.choice([90.0, 91.0, 92.0, 0.0, 1.0, 5000.0, 56890.0], 3000)
    e0 = rng.choice([365.0, 273.0, 1.0, 0.0, 218685.0], 3000)
    keep = (e1 + e0 > 0) | (k1 == 0)
    check_grid(con, "cm_poisson_rate_increase_p", k1[keep], k0[keep], e1[keep], e0[keep])


MUS = [0.0, 1e-9, 0.01, 0.1, 0.4, 1.0, 3.0, 5.5, 10.0, 17.5, 30.0, 100.0, 250.0, 480.0, 1000.0, 3000.0, 1e4, 3e4,
       1e5, 3e5, 1e6]


def test_poisson_upper_grid(con):
    rows = []
    for mu in MUS:
        ks = set(range(61)) | {round(x) for x in np.linspace(0, 3 * mu + 100, 41)}
        ks |= {round(mu + t * math.sqrt(mu)) for t in np.linspace(-40, 40, 161)}
        rows += [(k, mu) for k in sorted(ks) if k >= 0]
    k, mu = np.array(rows, dtype=np.float64).T
    want = check_grid(con, "cm_poisson_upper_p", k, mu)
    assert ((want > 0) & (want < TINY)).any() and (want == 0).any()


def test_poisson_limits_grid(con):
    """Every count to 1,000, every 199th to 100,000, then geometrically to 1e7 (scipy's inverse incomplete gamma),
    and beyond (stats.py's own solution)."""
    counts = np.unique(np.concatenate([
        np.arange(1001), np.arange(1001, 100_001, 199), [100_000],
        np.round(np.geomspace(1e5, 1e7, 25)), [9_999_999, 10_000_000, 10_000_001, 12_345_678],
    ])).astype(np.float64)
    check_grid(con, "cm_poisson_lower_limit", counts)
    check_grid(con, "cm_poisson_upper_limit", counts)


def test_normal_grid(con):
    z = np.concatenate([np.linspace(-40, 40, 16001), np.geomspace(1e-300, 1e-3, 200), [38.4, 38.5, 38.6, 1e10]])
    check_grid(con, "cm_normal_two_sided_p", z)
    p = np.concatenate([np.geomspace(1e-300, 0.5, 3000), 1 - np.geomspace(1.2e-16, 0.5, 3000),
                        np.linspace(1e-6, 1 - 1e-6, 4001), 0.5 + np.geomspace(1e-300, 0.1, 300),
                        [5e-324, DBL_MIN, np.nextafter(1.0, 0.0), np.nextafter(0.5, 1.0)]])
    check_grid(con, "cm_normal_quantile", p)


def test_real_arguments_shapes(con):
    """Whole-number and fractional counts (estimated figures are shared out, so not whole), repeated rows."""
    rng = np.random.default_rng(11)
    k = rng.gamma(2.0, 30.0, 6000)
    k = np.where(rng.random(6000) < 0.8, np.round(k), np.round(k, 2))
    n = k + np.round(rng.gamma(2.0, 30.0, 6000))
    p = rng.choice([0.5, 0.4945054945054945, 0.5027624309392266, 0.2, 0.8], 6000)
    check_grid(con, "cm_binom_two_sided_p", k, n, p)
    check_grid(con, "cm_poisson_lower_limit", k)
    check_grid(con, "cm_poisson_upper_limit", k)
    check_grid(con, "cm_poisson_upper_p", k, n / 2)
    check_grid(con, "cm_poisson_rate_increase_p", k, n - k, np.full(6000, 92.0), np.full(6000, 365.0))


# --------------------------------------------------------------------------------------------
# Edge cases: the value stats.py gives, or an error where it raises
# --------------------------------------------------------------------------------------------

NAN, INF = float("nan"), float("inf")

EDGES = {
    "cm_poisson_rate_increase_p": [
        (7, 13, 1, 4), (0, 5, 0, 0), (0.4, 5, 0, 0), (-0.4, 2, 1, 1), (-0.5, 2, 1, 1), (2.5, 3.5, 1, 1),
        (3.5, 0.5, 1, 1), (3, 2, 0, 1), (3, 2, 1, 0), (3, 0, 1, 1), (5, 0, 92, 365), (3, 2, 1e308, 1e308),
        (3, 2, 5e-324, 1), (1e17, 0, 1, 1), (1e17, 3, 1, 1e-300), (2**53 - 1, 2, 1, 1), (2**53 - 1, 0, 1, 1),
        (3, 0, 0, 0), (3, 2, -1, 1), (3, 2, 1, -1e-300), (3, 2, NAN, 1), (3, 2, 1, INF), (NAN, 2, 1, 1),
        (INF, 2, 1, 1), (-0.6, 2, 1, 1), (2, -1, 1, 1), (0, 2, NAN, 1),
    ],
    "cm_binom_two_sided_p": [
        (4, 4, 0.5), (5, 3, 0.5), (0, 0, 0.5), (0, 0, 0), (3, 0, 0.5), (0, 5, 0), (2, 5, 0), (5, 5, 1),
        (2, 5, 1), (0, 5, 1), (3, 10, -0.5), (3, 10, 1.5), (3, 10, NAN), (3, 10, INF), (3, 10, -INF),
        (2.5, 10.5, 0.5), (0.5, 1.5, 0.3), (-0.4, 3, 0.5), (1, 5, 1e-320), (1, 1, 1e-320), (2, 3, 1 - 1e-16),
        (1e17, 5, 0.5), (0, 1e17, 0.5), (2**53 + 2, 2**53 + 2, 0.5),
        (-1, 5, 0.5), (1, -1, 0.5), (NAN, 5, 0.5), (1, INF, 0.5), (-0.6, 5, 0.5),
    ],
    "cm_poisson_upper_p": [
        (14, 0.4), (0, 0), (3, 0), (3, -2), (3, NAN), (3, -INF), (0, 5), (2.5, 1), (0.4, 3), (1, 1e-320),
        (3, 1e300), (1e17, 1.0), (1000000, 1000000.5),
        (3, INF), (0, INF), (-1, 1), (NAN, 1), (INF, 1),
    ],
    "cm_normal_two_sided_p": [
        (0.0,), (-0.0,), (1.959963984540054,), (-3.0,), (NAN,), (INF,), (-INF,), (1e-300,), (40.0,), (38.5,),
    ],
    "cm_normal_quantile": [
        (0.5,), (0.975,), (1e-12,), (5e-324,), (1 - 1.1e-16,), (NAN,),
        (0.0,), (1.0,), (-0.1,), (1.1,), (INF,), (-INF,),
    ],
    "cm_poisson_lower_limit": [(0,), (1,), (2.5,), (3.5,), (-0.4,), (1e6,), (10_000_001,), (-0.6,), (NAN,), (INF,)],
    "cm_poisson_upper_limit": [(0,), (1,), (2.5,), (3.5,), (-0.4,), (1e6,), (10_000_001,), (-0.6,), (NAN,), (-INF,)],
}


def _outcome(fn):
    try:
        return fn(), None
    except (ValueError, OverflowError) as exc:  # stats.StatisticsError is a ValueError
        return None, exc


@pytest.mark.parametrize("name", list(EDGES))
def test_edge_cases(con, name):
    params = ", ".join("?" * len(EDGES[name][0]))
    for args in EDGES[name]:
        want, ref_error = _outcome(lambda: REFERENCE[name](*map(float, args)))
        got, error = _outcome_sql(con, f"select {name}({params})", [float(a) for a in args])
        if ref_error is not None:
            assert error is not None, (name, args, got, ref_error)
            assert name in str(error), error
            bad = [a for a in map(float, args) if repr(a) in str(error)]
            assert bad, f"{name}{args}: the error names no argument: {error}"
        else:
            assert error is None, (name, args, error)
            assert_agree(name, np.array([got]), np.array([want]), *([a] for a in args))


def _outcome_sql(con, query, args):
    try:
        return con.execute(query, args).fetchone()[0], None
    except duckdb.Error as exc:
        return None, exc


def test_error_in_a_batch_names_the_function_and_value(con):
    with pytest.raises(duckdb.Error, match=r"cm_poisson_rate_increase_p: baseline must be a non-negative .*-3\.0"):
        con.execute("select cm_poisson_rate_increase_p(5, case when i = 3000 then -3 else i end, 92, 365) "
                    "from range(5000) t(i)").fetchall()
    with pytest.raises(duckdb.Error, match=r"cannot both be zero"):
        con.execute("select cm_poisson_rate_increase_p(i % 7, 4, 0, 0) from range(5000) t(i)").fetchall()
    with pytest.raises(duckdb.Error, match=r"cm_poisson_lower_limit: count .* got nan"):
        con.execute("select cm_poisson_lower_limit(case when i = 4000 then 'nan'::double else i end) "
                    "from range(5000) t(i)").fetchall()


def test_quantile_and_tests_where_python_lets_nan_through(con):
    """stats.py's callers clip with max/min, which turn NaN into 0 (p, mu) or 1 (the normal p-value)."""
    row = con.execute("select cm_normal_quantile('nan'::double), cm_normal_two_sided_p('nan'::double), "
                      "cm_binom_two_sided_p(3, 10, 'nan'::double), cm_poisson_upper_p(3, 'nan'::double)").fetchone()
    assert math.isnan(row[0]) and row[1:] == (1.0, 0.0, 0.0)


# --------------------------------------------------------------------------------------------
# NULLs and registration
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_null_in_gives_null_out(con, name):
    arity = len(FUNCTIONS[name][1])
    good = {"cm_poisson_rate_increase_p": [7, 13, 1, 4], "cm_binom_two_sided_p": [4, 10, 0.5],
            "cm_poisson_upper_p": [3, 1.5], "cm_normal_two_sided_p": [1.5], "cm_normal_quantile": [0.3],
            "cm_poisson_lower_limit": [5], "cm_poisson_upper_limit": [5]}[name]
    assert len(good) == arity
    for j in range(arity):
        args = ", ".join("null" if i == j else str(v) for i, v in enumerate(good))
        assert con.execute(f"select {name}({args})").fetchone()[0] is None
    # NULL rows inside batches: left out of the call, every other row still right
    args = ", ".join(f"case when i % 3 = 0 then null else {v} + 0 * i end" if j == 0 else str(v)
                     for j, v in enumerate(good))
    rows = con.execute(f"select i, {name}({args}) from range(5000) t(i) order by i").fetchall()
    want = REFERENCE[name](*map(float, good))
    assert all((v is None) if i % 3 == 0 else v == pytest.approx(want, rel=REL) for i, v in rows)


def test_register_is_idempotent_and_declares_doubles():
    connection = duckdb.connect()
    register(connection)
    register(connection)
    rows = connection.execute(
        "select function_name, parameter_types, return_type from duckdb_functions() "
        "where function_name like 'cm\\_%' escape '\\' order by function_name").fetchall()
    assert sorted(r[0] for r in rows) == sorted(FUNCTIONS)
    for name, types, returns in rows:
        assert types == ["DOUBLE"] * len(FUNCTIONS[name][1]) and returns == "DOUBLE", (name, types, returns)
    assert connection.execute("select cm_binom_two_sided_p(4, 4, 0.5)").fetchone()[0] == pytest.approx(0.125, rel=1e-15)
    connection.close()
