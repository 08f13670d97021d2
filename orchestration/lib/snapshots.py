"""Readers for the bundled real datasets that are loaded whole (not per month).

Each ``DatasetSpec`` names its files under ``data/snapshots/``, its licence and release, and a reader
that validates the file and returns a polars DataFrame ready for ``raw.<table>``. A reader raises
``SnapshotError`` naming the file, row and column when the data is not what the spec expects, so a
bad file never replaces good data.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

OGL = "Open Government Licence v3.0"


class SnapshotError(ValueError):
    pass


@dataclass(frozen=True)
class DatasetSpec:
    table: str  # raw.<table> and the Dagster asset key raw/<table>
    source: str
    dataset: str
    release: str
    files: tuple[str, ...]  # relative to the snapshots dir
    reader: Callable[[list[Path]], pl.DataFrame]
    description: str
    licence: str = OGL
    group: str = "raw_public"


def _read_csv(path: Path, expected_columns: list[str], encoding: str = "utf8") -> pl.DataFrame:
    if not path.exists():
        raise SnapshotError(f"{path}: file not found")
    try:
        df = pl.read_csv(path, infer_schema=False, encoding=encoding)
    except (pl.exceptions.PolarsError, ValueError) as exc:
        raise SnapshotError(f"{path.name}: not a readable CSV: {exc}") from exc
    df = df.rename({c: c.lstrip("\ufeff") for c in df.columns})
    missing = [c for c in expected_columns if c not in df.columns]
    if missing:
        raise SnapshotError(f"{path.name}: header is missing columns {missing}; found {df.columns}")
    return df


def _require(df: pl.DataFrame, path: Path, column: str, bad: pl.Expr, expected: str) -> None:
    failing = df.with_row_index("_line", offset=2).filter(bad.fill_null(True))
    if failing.height:
        line, value = failing.select("_line", column).row(0)
        raise SnapshotError(
            f"{path.name}: row {line}, column {column!r}: got {value!r}, expected {expected}"
            f" ({failing.height} rows fail)"
        )


def _require_rows(df: pl.DataFrame, path: Path, expected: int, what: str) -> None:
    if df.height != expected:
        raise SnapshotError(f"{path.name}: {df.height} {what}, expected {expected}")


def read_census2021_population(paths: list[Path]) -> pl.DataFrame:
    (path,) = paths
    df = _read_csv(path, ["lsoa21_code", "lsoa21_name", "age_group", "usual_residents"])
    _require(df, path, "lsoa21_code", ~pl.col("lsoa21_code").str.contains(r"^W01\d{6}$"), "a Welsh 2021 LSOA code")
    _require(df, path, "usual_residents", pl.col("usual_residents").cast(pl.Int64, strict=False) < 0,
             "a non-negative whole number")
    _require_rows(df, path, 1917 * 6, "rows")
    if df["lsoa21_code"].n_unique() != 1917:
        raise SnapshotError(f"{path.name}: {df['lsoa21_code'].n_unique()} LSOAs, expected 1,917")
    return df.with_columns(pl.col("usual_residents").cast(pl.Int64))


WIMD2019_SCORE_COLUMNS = {
    "LSOA Code": "lsoa11_code",
    "LSOA Name": "lsoa11_name_wimd",
    "Local Authority Name": "la_name",
    "WIMD 2019 score": "wimd_score",
    "Income score": "income_score",
    "Employment score": "employment_score",
    "Health score": "health_score",
    "Education score": "education_score",
    "Access to Services score": "access_to_services_score",
    "Housing score": "housing_score",
    "Community Safety score": "community_safety_score",
    "Physical Environment score": "physical_environment_score",
}


def read_wimd2019(paths: list[Path]) -> pl.DataFrame:
    scores_path, ranks_path = paths
    scores = _read_csv(scores_path, list(WIMD2019_SCORE_COLUMNS)).rename(WIMD2019_SCORE_COLUMNS)
    for column in list(WIMD2019_SCORE_COLUMNS.values())[3:]:
        _require(scores, scores_path, column, pl.col(column).cast(pl.Float64, strict=False).is_null(), "a number")
        scores = scores.with_columns(pl.col(column).cast(pl.Float64))
    _require_rows(scores, scores_path, 1909, "LSOAs")
    # The ONS/WG rank lookup; this copy is correctly encoded UTF-8 with a BOM (its twin is mojibake).
    ranks = _read_csv(ranks_path, ["lsoa11cd", "wimd_2019"], encoding="utf8")
    _require(ranks, ranks_path, "wimd_2019", ~pl.col("wimd_2019").cast(pl.Int64, strict=False).is_between(1, 1909),
             "a rank 1-1909")
    _require_rows(ranks, ranks_path, 1909, "LSOAs")
    ranks = ranks.select(pl.col("lsoa11cd").alias("lsoa11_code"), pl.col("wimd_2019").cast(pl.Int64).alias("wimd_rank"))
    df = scores.join(ranks, on="lsoa11_code", how="left")
    _require(df, scores_path, "lsoa11_code", pl.col("wimd_rank").is_null(), f"a code present in {ranks_path.name}")
    return df


WIMD2025_DOMAINS = {
    "income": "income_decile",
    "employment": "employment_decile",
    "health": "health_decile",
    "education": "education_decile",
    "access": "access_decile",
    "housing": "housing_decile",
    "community": "community_safety_decile",
    "physical": "physical_environment_decile",
}


def read_wimd2025(paths: list[Path]) -> pl.DataFrame:
    (path,) = paths
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        by_lsoa = payload["byLsoa"]
    except (json.JSONDecodeError, KeyError) as exc:
        raise SnapshotError(f"{path.name}: expected a JSON object with 'byLsoa': {exc}") from exc
    rows = []
    for code, record in sorted(by_lsoa.items()):
        try:
            row = {"lsoa21_code": code, "wimd_rank": int(record["rank"]), "wimd_decile": int(record["decile"])}
            row |= {column: int(record[key]) for key, column in WIMD2025_DOMAINS.items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise SnapshotError(f"{path.name}: LSOA {code}: missing or non-integer field ({exc})") from exc
        rows.append(row)
    df = pl.DataFrame(rows)
    _require_rows(df, path, 1917, "LSOAs")
    _require(df, path, "wimd_decile", ~pl.col("wimd_decile").is_between(1, 10), "a decile 1-10")
    return df


def read_sape2019(paths: list[Path]) -> pl.DataFrame:
    (path,) = paths
    df = _read_csv(path, ["lsoa11_code", "lsoa11_name", "total_population"])
    _require(df, path, "total_population", pl.col("total_population").cast(pl.Int64, strict=False).is_null(),
             "a whole number")
    _require_rows(df, path, 1909, "LSOAs")
    return df.select("lsoa11_code", "lsoa11_name", pl.col("total_population").cast(pl.Int64))


DATASETS: tuple[DatasetSpec, ...] = (
    DatasetSpec(
        table="census2021_population_lsoa21",
        source="ons_census",
        dataset="census2021_age6_lsoa21",
        release="Census 2021 (21 March 2021)",
        files=("population/census2021_age6_lsoa21_wales.csv",),
        reader=read_census2021_population,
        description="Census 2021 usual residents by six age bands for the 1,917 Welsh 2021 LSOAs (ONS). "
        "The denominator of every per-1,000 rate.",
    ),
    DatasetSpec(
        table="wimd2019_lsoa11",
        source="welsh_government_wimd",
        dataset="wimd2019_index_and_domain_scores",
        release="WIMD 2019 (November 2019)",
        files=(
            "wimd/wimd2019_lsoa11_index_and_domain_scores_wales.csv",
            "wimd/dg_ons_imd_dec2019_lookup_wales_utf8bom.csv",
        ),
        reader=read_wimd2019,
        description="Welsh Index of Multiple Deprivation 2019: overall and domain scores and the official "
        "rank for the 1,909 Welsh 2011 LSOAs.",
    ),
    DatasetSpec(
        table="wimd2025_lsoa21",
        source="welsh_government_wimd",
        dataset="wimd2025_ranks_deciles",
        release="WIMD 2025",
        files=("wimd/wimd2025_ranks_deciles_by_lsoa21_derived.json",),
        reader=read_wimd2025,
        description="Welsh Index of Multiple Deprivation 2025: overall rank and decile and domain deciles "
        "for the 1,917 Welsh 2021 LSOAs.",
    ),
    DatasetSpec(
        table="sape2019_population_lsoa11",
        source="ons_sape",
        dataset="sape_mid2019_lsoa11",
        release="Mid-2019 small area population estimates (SAPE22DT2)",
        files=("population/sape_mid2019_lsoa11_syoa_wales.csv",),
        reader=read_sape2019,
        description="ONS mid-2019 population per 2011 LSOA; weights for carrying WIMD 2019 onto merged "
        "2021 LSOAs.",
    ),
)
