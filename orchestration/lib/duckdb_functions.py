"""The exception engine's exact statistics as DuckDB scalar functions, so that dbt models compute the same
p-values and limits as ``orchestration.lib.stats`` (one implementation, no copy in SQL).

``register(con)`` adds, on a DuckDB connection:

* ``cm_poisson_rate_increase_p(k1, k0, e1, e0)``  one-sided exact conditional test that the rate of k1 events
  over exposure e1 exceeds that of k0 over e0 (stats.poisson_rate_increase_test)
* ``cm_binom_two_sided_p(k, n, p)`` central two-sided exact binomial p-value
* ``cm_poisson_upper_p(k, mu)``   P(X >= k), X ~ Poisson(mu)
* ``cm_normal_two_sided_p(z)``    2 P(Z >= |z|), Z standard normal (math.erfc)
* ``cm_normal_quantile(p)``       the standard normal quantile (statistics.NormalDist, Wichura's AS 241)
* ``cm_poisson_lower_limit(k)`` / ``cm_poisson_upper_limit(k)``  exact (Garwood) 95% limits of a count

dbt loads them through ``orchestration.lib.dbt_plugin`` (profiles.yml ``plugins``). Models that call them
are materialised as tables, so BI readers of the warehouse never need the functions.
Counts arrive as DOUBLE (SQL sums); a value that is not a whole number is rounded, since every caller
passes event counts.
"""

from __future__ import annotations

import math
from functools import lru_cache
from statistics import NormalDist

import duckdb

from orchestration.lib import stats

_D = duckdb.sqltype("DOUBLE")
_STANDARD_NORMAL = NormalDist()


def _count(x: float) -> int:
    return int(round(x))


@lru_cache(maxsize=65536)
def _limits(k: int) -> tuple[float, float]:
    return stats.poisson_exact_ci(k, 0.95)


def _rate_increase(k1, k0, e1, e0):
    return stats.poisson_rate_increase_test(_count(k1), _count(k0), e1, e0)


def _binom_two_sided(k, n, p):
    return stats.binomial_two_sided_p(_count(k), _count(n), min(1.0, max(0.0, p)))


def _poisson_upper(k, mu):
    return stats.poisson_upper_p(_count(k), max(0.0, mu))


def _normal_two_sided(z):
    return min(1.0, math.erfc(abs(z) / math.sqrt(2.0)))


def _normal_quantile(p):
    return _STANDARD_NORMAL.inv_cdf(p)


def _lower(k):
    return _limits(_count(k))[0]


def _upper(k):
    return _limits(_count(k))[1]


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
            con.create_function(name, fn, params, _D, side_effects=False)
