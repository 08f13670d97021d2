"""The exception engine's exact statistics as DuckDB scalar functions, so that dbt models compute the same
p-values and limits as ``orchestration.lib.stats`` (the documented reference; no copy in SQL).

``register(con)`` adds, on a DuckDB connection:

* ``cm_poisson_rate_increase_p(k1, k0, e1, e0)``  one-sided exact conditional test that the rate of k1 events
  over exposure e1 exceeds that of k0 over e0 (stats.poisson_rate_increase_test)
* ``cm_binom_two_sided_p(k, n, p)`` central two-sided exact binomial p-value (stats.binomial_two_sided_p;
  p is clipped to [0, 1], NaN counts as 0)
* ``cm_poisson_upper_p(k, mu)``   P(X >= k), X ~ Poisson(mu) (stats.poisson_upper_p; mu is clipped at 0, NaN
  counts as 0)
* ``cm_normal_two_sided_p(z)``    2 P(Z >= |z|), Z standard normal, capped at 1 (NaN gives 1)
* ``cm_normal_quantile(p)``       the standard normal quantile (error unless 0 < p < 1; NaN gives NaN)
* ``cm_poisson_lower_limit(k)`` / ``cm_poisson_upper_limit(k)``  exact (Garwood) 95% limits of a count
  (stats.poisson_exact_ci)

They are vectorised (``type="arrow"``): DuckDB hands over a batch (up to 2048 rows) of non-NULL arguments at a
time, and NULL in any argument gives NULL without a call, as for DuckDB's own functions. They compute with:

* the binomial and Poisson tails (the first three): stats.py's own algorithm -- Loader's saddle-point densities,
  tails summed from the small end with the same stopping rule -- vectorised with numpy over the distinct rows of
  the batch. The terms are summed in blocks with ``cumprod``/``cumsum``, which run in order, so every row gets
  the same operations and roundings as stats.py's loop (the one logarithm whose last-bit error the density
  amplifies is taken with ``math.log``, as in stats.py): ~97% of values are bit-identical to stats.py, the rest
  within 3e-14. scipy.special's ``betainc``/``gammainc`` (scipy 1.17) were measured and are not used: against
  stats.py and 50-digit values they lose all digits in binomial tails below ~1e-250 (returning 0 for
  1.3e-287), 6e-11 relative at ordinary values for n = 3e6, p = 1e-6, and 1e-10 (mean 3.7e5) to 4e-4 (mean
  2.2e6) relative in Poisson tails;
* the Garwood limits: ``scipy.special.gammaincinv(k, a/2)`` (0 when k = 0) and ``gammainccinv(k + 1, a/2)``,
  once per distinct count of the batch: within 1e-15 of 40-digit values (counts to 1e6), and within 1e-13 of
  stats.py's Newton solution (its tolerance) for counts to 1e8;
* the normal functions: ``scipy.special.erfc(|z| / sqrt 2)`` (within 6e-14 of ``math.erfc``) and
  ``scipy.special.ndtri`` (within 1e-15 of ``statistics.NormalDist.inv_cdf``).

Rows outside the range this was verified on (a count of 2**53 or more, where a double no longer holds every whole
number, or above 1e7 for the limits) are computed by stats.py itself, row by row. tests/test_duckdb_functions.py
checks every function through SQL against stats.py (to 1e-12 relative, over counts to 200,000 and tails down to
the smallest double), and the edge cases, NULLs and errors.

Counts arrive as DOUBLE (SQL sums); a value that is not a whole number is rounded half to even
(``int(round(x))``), since every caller passes event counts. A count that is negative after rounding, NaN or
infinite, an exposure that is negative, NaN or infinite, both exposures zero with events observed, an infinite
Poisson mean or a quantile outside (0, 1) is an error naming the function and the value (DuckDB's "Invalid
Input Error: Python exception occurred while executing the UDF"), as stats.py raises.

dbt loads them through ``orchestration.lib.dbt_plugin`` (profiles.yml ``plugins``). Models that call them
are materialised as tables, so BI readers of the warehouse never need the functions.
"""

from __future__ import annotations

import functools
import math

import duckdb
import numpy as np
import pyarrow as pa
from scipy import special

from orchestration.lib import stats

_D = duckdb.sqltype("DOUBLE")

# From this count on, not every whole number is a double (and a sum of two counts may round): such rows go to
# stats.py row by row.
_EXACT_COUNT = 2.0**53
# The Garwood limits were verified against stats.py up to this count; above it stats.py solves them.
_LIMITS_VERIFIED_TO = 1e7
_CONFIDENCE = 0.95
_HALF_ALPHA = (1.0 - _CONFIDENCE) / 2.0  # as stats.poisson_exact_ci computes it
_SQRT2 = math.sqrt(2.0)
# Tail terms are summed in blocks of rows x terms: the first block's width (it doubles), and the largest block.
_FIRST_BLOCK = 16
_MAX_BLOCK = 1 << 18


# --------------------------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------------------------


def _chunk(c: pa.Array) -> np.ndarray:
    if not len(c):
        return np.empty(0)
    if c.null_count or c.type != pa.float64():  # neither happens: default null handling, DOUBLE parameters
        return np.array(c.to_pylist(), dtype=np.float64)
    return np.frombuffer(c.buffers()[1], dtype=np.float64, count=len(c), offset=c.offset * 8)


def _values(arr) -> np.ndarray:
    """A batch argument (pyarrow ChunkedArray/Array of DOUBLE; no NULLs, DuckDB leaves those rows out) as float64,
    read from the Arrow buffers (pyarrow's to_numpy imports pandas on first use: a quarter of a second)."""
    if isinstance(arr, pa.ChunkedArray):
        chunks = [_chunk(c) for c in arr.chunks]
        return chunks[0] if len(chunks) == 1 else np.concatenate(chunks) if chunks else np.empty(0)
    if isinstance(arr, pa.Array):
        return _chunk(arr)
    return np.asarray(arr, dtype=np.float64)


def _result(out: np.ndarray) -> pa.Array:
    """The batch's DOUBLE results (from the buffer: pa.array(ndarray) would import pandas on first use)."""
    out = np.ascontiguousarray(out, dtype=np.float64)
    return pa.Array.from_buffers(pa.float64(), out.size, [None, pa.py_buffer(out)])


def _fail(function: str, message: str, values: np.ndarray, bad: np.ndarray):
    raise ValueError(f"{function}: {message}, got {float(values[bad][0])!r}")


def _counts(function: str, name: str, x: np.ndarray) -> np.ndarray:
    """Whole counts: rounded half to even like ``int(round(x))``; negative (after rounding), NaN or infinite is an error."""
    k = np.rint(x)
    bad = ~(k >= 0) | np.isinf(k)
    if bad.any():
        _fail(function, f"{name} must be a non-negative integer (after rounding)", x, bad)
    return k + 0.0  # -0.0 -> 0.0


def _exposures(function: str, name: str, x: np.ndarray) -> np.ndarray:
    bad = ~(x >= 0) | np.isinf(x)
    if bad.any():
        _fail(function, f"{name} must be a finite non-negative number", x, bad)
    return x


# --------------------------------------------------------------------------------------------
# stats.py's algorithm, vectorised: the same operations in the same order (see stats.py for the method)
# --------------------------------------------------------------------------------------------

_STIRLERR_SMALL = np.array([np.nan] + [stats._stirlerr(i) for i in range(1, 16)])
_S0, _S1, _S2, _S3, _S4 = 1 / 12, 1 / 360, 1 / 1260, 1 / 1680, 1 / 1188


def _stirlerr(n: np.ndarray) -> np.ndarray:
    """stats._stirlerr for whole n >= 1 (n <= 15 from a table of stats._stirlerr itself)."""
    out = np.empty_like(n)
    small = n <= 15.0
    out[small] = _STIRLERR_SMALL[n[small].astype(np.intp)]
    for branch, terms in ((n > 500, 1), ((n > 80) & (n <= 500), 2), ((n > 35) & (n <= 80), 3),
                          ((n > 15) & (n <= 35), 4)):
        if not branch.any():
            continue
        m = n[branch]
        nn = m * m
        if terms == 1:
            out[branch] = (_S0 - _S1 / nn) / m
        elif terms == 2:
            out[branch] = (_S0 - (_S1 - _S2 / nn) / nn) / m
        elif terms == 3:
            out[branch] = (_S0 - (_S1 - (_S2 - _S3 / nn) / nn) / nn) / m
        else:
            out[branch] = (_S0 - (_S1 - (_S2 - (_S3 - _S4 / nn) / nn) / nn) / nn) / m
    return out


def _bd0(x: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """stats._bd0: x log(x/mean) + mean - x without cancellation."""
    out = np.empty_like(x)
    series = np.abs(x - mean) < 0.1 * (x + mean)
    direct = np.flatnonzero(~series)
    if direct.size:
        xd, md = x[direct], mean[direct]
        # x log(x/mean) can be ~10 times the result: math.log as in stats.py, so that numpy's last-bit
        # differences in log are not amplified.
        logs = np.fromiter(map(math.log, (xd / md).tolist()), dtype=np.float64, count=direct.size)
        out[direct] = xd * logs + md - xd
    idx = np.flatnonzero(series)
    if idx.size:
        xs, ms = x[idx], mean[idx]
        v = (xs - ms) / (xs + ms)
        s = (xs - ms) * v
        first = s  # returned as is when below DBL_MIN
        ej = 2.0 * xs * v
        v = v * v
        # The terms keep their sign and shrink, so a sum that stopped changing stays put: iterating every row
        # until the last one stops gives each row the value at which stats.py's loop returns.
        for j in range(1, 1000):
            ej *= v
            s1 = s + ej / (2 * j + 1)
            unchanged = s1 == s
            s = s1
            if unchanged.all():
                break
        out[idx] = np.where(np.abs(first) < stats._DBL_MIN, first, s)
    return out


def _log_dbinom(x: np.ndarray, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    """stats._log_dbinom: log P(Y = x), Y ~ Binomial(n, p), 0 < p < 1, whole 0 <= x <= n."""
    q = 1.0 - p
    out = np.empty_like(x)
    zero = x == 0
    full = (x == n) & ~zero
    mid = np.flatnonzero(~(zero | full))
    if zero.any():
        pz, nz = p[zero], n[zero]
        out[zero] = np.where(pz < 0.1, nz * np.log1p(-pz), nz * np.log(q[zero]))
    if full.any():
        out[full] = n[full] * np.log(p[full])
    if mid.size:
        xm, nm, pm, qm = x[mid], n[mid], p[mid], q[mid]
        m = mid.size
        st = _stirlerr(np.concatenate([nm, xm, nm - xm]))
        bd = _bd0(np.concatenate([xm, nm - xm]), np.concatenate([nm * pm, nm * qm]))
        lc = st[:m] - st[m:2 * m] - st[2 * m:] - bd[:m] - bd[m:]
        lf = stats._LN_2PI + np.log(xm) + np.log1p(-xm / nm)
        out[mid] = lc - 0.5 * lf
    return out


def _log_dpois(x: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """stats._log_dpois: log P(X = x), X ~ Poisson(mu), mu > 0, whole x >= 0."""
    out = np.empty_like(x)
    zero = x == 0
    out[zero] = -mu[zero]
    rest = ~zero
    if rest.any():
        xr, mr = x[rest], mu[rest]
        out[rest] = -_stirlerr(xr) - _bd0(xr, mr) - 0.5 * (stats._LN_2PI + np.log(xr))
    return out


def _sum_ratios(ratio, max_terms: np.ndarray) -> np.ndarray:
    """stats._sum_ratios for every row: 1 + r1 + r1 r2 + ... up to max_terms terms, stopping after the first term
    below _TAIL_EPS times the running sum. ``ratio(rows, i)`` gives the term ratios r_i of those rows, shape
    (len(i), len(rows)). Blocks of terms are multiplied and added up with cumprod/cumsum down the block, which
    run in order: the same operations, and so the same roundings, as stats.py's loop."""
    total = np.ones(max_terms.size)
    term = np.ones(max_terms.size)
    active = np.flatnonzero(max_terms > 0)
    done = 0
    width = _FIRST_BLOCK
    with np.errstate(all="ignore"):  # ratios past a row's last term are computed and discarded
        while active.size:
            block = max(1, min(width, _MAX_BLOCK // active.size))
            i = np.arange(done + 1, done + block + 1, dtype=np.float64)[:, None]
            terms = ratio(active, i)
            terms[0] *= term[active]  # term = term * r_i, as the loop does (term is 1 in the first block)
            np.cumprod(terms, axis=0, out=terms)
            totals = terms.copy()
            totals[0] += total[active]  # total = total + term
            np.cumsum(totals, axis=0, out=totals)
            stop = terms < stats._TAIL_EPS * totals
            hit = stop.any(axis=0)
            remaining = max_terms[active] - done  # the row's last term is number `remaining` of this block
            last = np.minimum(np.where(hit, stop.argmax(axis=0), block - 1), remaining - 1).astype(np.intp)
            cols = np.arange(active.size)
            total[active] = totals[last, cols]
            term[active] = terms[last, cols]
            active = active[~(hit | (remaining <= block))]
            done += block
            width *= 2
    return total


def _binom_upper_tail(k: np.ndarray, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    """stats._binom_upper_tail: P(Y >= k), Y ~ Binomial(n, p), whole k, n >= 0, 0 <= p <= 1."""
    out = np.empty(k.size)
    out[k <= 0] = 1.0
    rest = k > 0
    out[rest & (k > n)] = 0.0
    rest &= ~(k > n)
    out[rest & (p <= 0.0)] = 0.0
    rest &= ~(p <= 0.0)
    out[rest & (p >= 1.0)] = 1.0
    rest &= ~(p >= 1.0)
    idx = np.flatnonzero(rest)
    if not idx.size:
        return out
    kk, nn, pp = k[idx], n[idx], p[idx]
    odds = pp / (1.0 - pp)
    # k > mean: P(Y >= k), terms decreasing from j = k up. Otherwise 1 - P(Y <= k - 1), terms decreasing from
    # j0 = k - 1 down. Ratios (n - (k + i - 1)) / (k + i) * odds and (j0 - i + 1) / (n - j0 + i) / odds are
    # (a - i) / (b + i) times or over odds, with whole a and b (exact in a double below 2**53).
    upper = kk > nn * pp
    log_first = _log_dbinom(np.where(upper, kk, kk - 1), nn, pp)
    a = np.where(upper, nn - kk + 1, kk)
    b = np.where(upper, kk, nn - kk + 1)
    lower = ~upper

    def ratio(rows, i):
        r = (a[rows] - i) / (b[rows] + i)
        c = odds[rows]
        np.multiply(r, c, out=r, where=upper[rows])
        np.divide(r, c, out=r, where=lower[rows])
        return r

    s = _sum_ratios(ratio, np.where(upper, nn - kk, kk - 1))
    tail = np.exp(log_first + np.log(s))
    out[idx] = np.where(upper, tail, np.maximum(0.0, 1.0 - tail))
    return out


def _poisson_sf(k: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """stats._poisson_sf: P(X >= k), X ~ Poisson(mu), whole k, finite mu >= 0."""
    out = np.empty(k.size)
    out[k <= 0] = 1.0
    rest = k > 0
    out[rest & (mu <= 0.0)] = 0.0
    rest &= ~(mu <= 0.0)
    idx = np.flatnonzero(rest)
    if not idx.size:
        return out
    kk, mm = k[idx], mu[idx]
    # k > mu: P(X >= k), ratios mu / (k + i). Otherwise 1 - P(X <= k - 1) (stats._poisson_cdf, as k - 1 < mu),
    # ratios (k - 1 - i + 1) / mu = (k - i) / mu.
    upper = kk > mm
    log_first = _log_dpois(np.where(upper, kk, kk - 1), mm)

    def ratio(rows, i):
        kr, mr = kk[rows], mm[rows]
        return np.where(upper[rows], mr / (kr + i), (kr - i) / mr)

    limit = np.where(upper, np.floor(kk + 50 + 40 * np.sqrt(mm) + 10 * mm), kk - 1)
    s = _sum_ratios(ratio, limit)
    tail = np.exp(log_first + np.log(s))
    out[idx] = np.where(upper, tail, np.maximum(0.0, 1.0 - tail))
    return out


def _distinct(*columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """The distinct rows of the columns, and for each row its distinct row's index (repeated argument rows are
    common: the same counts against the same exposure share)."""
    order = np.lexsort(columns[::-1])
    sorted_cols = [c[order] for c in columns]
    same = np.zeros(order.size, dtype=bool)  # same as the row before, in sorted order
    same[1:] = True
    for c in sorted_cols:
        same[1:] &= c[1:] == c[:-1]
    new = ~same
    where = np.empty(order.size, dtype=np.intp)
    where[order] = np.cumsum(new) - 1
    return [c[new] for c in sorted_cols], where


def _by_row(fn, *columns: np.ndarray) -> np.ndarray:
    return np.array([fn(*row) for row in zip(*(c.tolist() for c in columns))], dtype=np.float64)


# --------------------------------------------------------------------------------------------
# The SQL functions (one batch of non-NULL arguments in, one DOUBLE array out)
# --------------------------------------------------------------------------------------------


def _batch(fn):
    """A SQL function's batch computation, with IEEE overflow/underflow quiet, as in Python floats."""

    @functools.wraps(fn)
    def run(*args):
        with np.errstate(all="ignore"):
            return fn(*args)

    return run



@_batch
def _rate_increase(k1, k0, e1, e0):
    name = "cm_poisson_rate_increase_p"
    observed = _counts(name, "observed", _values(k1))
    baseline = _counts(name, "baseline", _values(k0))
    e_cur = _exposures(name, "exposure_current", _values(e1))
    e_base = _exposures(name, "exposure_baseline", _values(e0))
    out = np.ones(observed.size)  # observed == 0 gives 1
    tested = observed > 0
    total = e_cur + e_base
    bad = tested & ~(total > 0)
    if bad.any():
        _fail(name, "exposure_current and exposure_baseline cannot both be zero when events are observed; observed",
              observed, bad)
    n = observed + baseline
    large = tested & (n >= _EXACT_COUNT)
    fast = np.flatnonzero(tested & ~large)
    (k, nn, p), where = _distinct(observed[fast], n[fast], e_cur[fast] / total[fast])
    out[fast] = np.minimum(1.0, _binom_upper_tail(k, nn, p))[where]
    if large.any():
        out[large] = _by_row(lambda *a: stats.poisson_rate_increase_test(int(a[0]), int(a[1]), a[2], a[3]),
                             observed[large], baseline[large], e_cur[large], e_base[large])
    return _result(out)


@_batch
def _binom_two_sided(k, n, p):
    name = "cm_binom_two_sided_p"
    k = _counts(name, "k", _values(k))
    n = _counts(name, "n", _values(n))
    p = _values(p)
    p = np.where(np.isnan(p), 0.0, np.clip(p, 0.0, 1.0))  # min(1, max(0, p)): NaN -> 0
    large = (k >= _EXACT_COUNT) | (n >= _EXACT_COUNT)
    fast = np.flatnonzero(~large)
    (kf, nf, pf), where = _distinct(k[fast], n[fast], p[fast])
    # min(1, 2 min(P(Y >= k), P(Y <= k))), where P(Y <= k) = P(n - Y >= n - k) with n - Y ~ Binomial(n, 1 - p)
    # (1 when k >= n). The tail on k's side of the mean first; the two add up to 1 + P(Y = k), so when that one
    # is below 0.45 the other is above 0.55 and is not needed: the result is twice the first.
    up_side = kf > nf * pf
    qf = 1.0 - pf
    first = np.minimum(1.0, _binom_upper_tail(np.where(up_side, kf, nf - kf), nf, np.where(up_side, pf, qf)))
    out_f = 2.0 * first
    both = np.flatnonzero(~(first < 0.45))
    u = up_side[both]
    kb, nb = kf[both], nf[both]
    second = np.minimum(1.0, _binom_upper_tail(np.where(u, nb - kb, kb), nb, np.where(u, qf[both], pf[both])))
    out_f[both] = np.minimum(1.0, 2.0 * np.minimum(first[both], second))
    out = np.empty(k.size)
    out[fast] = out_f[where]
    if large.any():
        out[large] = _by_row(lambda a, b, c: stats.binomial_two_sided_p(int(a), int(b), c), k[large], n[large], p[large])
    return _result(out)


@_batch
def _poisson_upper(k, mu):
    name = "cm_poisson_upper_p"
    k = _counts(name, "k", _values(k))
    mu = _values(mu)
    mu = np.where(np.isnan(mu), 0.0, np.maximum(0.0, mu))  # max(0, mu): NaN -> 0
    if np.isinf(mu).any():
        _fail(name, "mu must be a finite non-negative number", mu, np.isinf(mu))
    large = k >= _EXACT_COUNT
    fast = np.flatnonzero(~large)
    out = np.empty(k.size)
    out[fast] = np.minimum(1.0, _poisson_sf(k[fast], mu[fast]))
    if large.any():
        out[large] = _by_row(lambda a, b: stats.poisson_upper_p(int(a), b), k[large], mu[large])
    return _result(out)


@_batch
def _normal_two_sided(z):
    z = _values(z)
    out = np.minimum(1.0, special.erfc(np.abs(z) / _SQRT2))
    out[np.isnan(z)] = 1.0  # min(1, NaN) is 1 in Python
    return _result(out)


@_batch
def _normal_quantile(p):
    p = _values(p)
    bad = (p <= 0.0) | (p >= 1.0)  # NaN passes, as in statistics.NormalDist.inv_cdf, and gives NaN
    if bad.any():
        _fail("cm_normal_quantile", "p must be in the range 0.0 < p < 1.0", p, bad)
    return _result(special.ndtri(p))


def _limits(k, which: int) -> pa.Array:
    name = ("cm_poisson_lower_limit", "cm_poisson_upper_limit")[which]
    k = _counts(name, "count", _values(k))
    distinct, where = np.unique(k, return_inverse=True)
    out = np.empty(distinct.size)
    large = distinct > _LIMITS_VERIFIED_TO
    fast = np.flatnonzero(~large)
    kf = distinct[fast]
    if which == 0:
        res = np.zeros(kf.size)
        pos = kf > 0
        res[pos] = special.gammaincinv(kf[pos], _HALF_ALPHA)  # P(X >= k | L) = a/2
    else:
        res = special.gammainccinv(kf + 1.0, _HALF_ALPHA)  # P(X <= k | U) = a/2
    out[fast] = res
    for i in np.flatnonzero(large):
        out[i] = stats.poisson_exact_ci(int(distinct[i]), _CONFIDENCE)[which]
    return _result(out[where.reshape(-1)])


@_batch
def _lower(k):
    return _limits(k, 0)


@_batch
def _upper(k):
    return _limits(k, 1)


FUNCTIONS = {
    "cm_poisson_rate_increase_p": (_rate_increase, [_D, _D, _D, _D]),
    "cm_binom_two_sided_p": (_binom_two_sided, [_D, _D, _D]),
    "cm_poisson_upper_p": (_poisson_upper, [_D, _D]),
    "cm_normal_two_sided_p": (_normal_two_sided, [_D]),
    "cm_normal_quantile": (_normal_quantile, [_D]),
    "cm_poisson_lower_limit": (_lower, [_D]),
    "cm_poisson_upper_limit": (_upper, [_D]),
}


def register(con) -> None:
    """Create the engine's functions on `con` (idempotent per connection)."""
    existing = {r[0] for r in con.execute(
        "select function_name from duckdb_functions() where function_name like 'cm\\_%' escape '\\'").fetchall()}
    for name, (fn, params) in FUNCTIONS.items():
        if name not in existing:
            con.create_function(name, fn, params, _D, type="arrow", side_effects=False)
