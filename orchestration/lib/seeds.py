"""Read the reference data the dbt seeds hold (seeds/*.csv), for Python code that needs the same lists:
one reader, cached, so validation, contracts, suites and the demo all see exactly what dbt loads."""

from __future__ import annotations

import csv
from functools import cache

from orchestration.settings import SEEDS_DIR


@cache
def read_seed(relative: str) -> tuple[dict[str, str], ...]:
    """Rows of seeds/<relative> as dicts of strings (read once per process)."""
    with open(SEEDS_DIR / relative, newline="", encoding="utf-8") as handle:
        return tuple(csv.DictReader(handle))


def seed_column(relative: str, column: str) -> tuple[str, ...]:
    return tuple(row[column] for row in read_seed(relative))
