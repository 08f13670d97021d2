"""Datasets published in several releases or parts, each one a Dagster partition.

A partition is one release or one part of a source (a SAPE year, an ONS ELS indicator, a StatsWales
dataset). Loading a partition replaces exactly its rows (or its table), through the same
validate → load → log path as every other load, live or from the bundled snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from orchestration.lib.snapshots import OGL, read_sape_broad_age
from orchestration.lib.sources.base import Pull, sha256_chunks


@dataclass(frozen=True)
class PartitionedSpec:
    table: str  # raw.<table>; with "{key}" in it, each partition has its own table
    asset_name: str  # the Dagster asset raw/<asset_name>
    source: str
    dataset: str
    description: str
    partitions: tuple[str, ...]
    snapshot: Callable[[str, Path], Pull]  # (partition key, snapshots dir) -> Pull
    live: Callable[[str], Pull] | None = None  # (partition key) -> Pull
    partition_column: str | None = None  # rows of one partition share this column's value
    group: str = "raw_public"
    frequency: str = "annual"
    licence: str = OGL

    def table_for(self, key: str) -> str:
        return self.table.format(key=key.replace("-", "_"))


SAPE_FILE = "population/sape_lsoa11_broadage_timeseries_2017_2020_wales.csv"


def _sape_snapshot(year: str, snapshots_dir: Path) -> Pull:
    path = snapshots_dir / SAPE_FILE
    frame = read_sape_broad_age([path], year)
    # The content hash is of this year's rows, so a re-issued year reloads and the others do not.
    digest = sha256_chunks([frame.write_csv().encode()])
    return Pull(source="ons_sape", dataset="sape_lsoa11_broad_age", locations=[str(path)], sha256=digest,
                frame=frame.drop("year").with_columns(), mode="snapshot",
                release=f"Mid-{year} small area population estimates (2011 LSOAs)")


SAPE = PartitionedSpec(
    table="sape_lsoa11_broad_age",
    asset_name="sape_lsoa11_broad_age",
    source="ons_sape",
    dataset="sape_lsoa11_broad_age",
    description=(
        "ONS small-area population estimates by broad age (0–15, 16–24, 25–64, 65+) per 2011 LSOA, one partition "
        "per mid-year release (2017–2020). Mid-2018 has no 16–24 / 25–64 split in the bundled release."
    ),
    partitions=("2017", "2018", "2019", "2020"),
    snapshot=_sape_snapshot,
    partition_column="year",
    frequency="annual",
)

PARTITIONED: list[PartitionedSpec] = [SAPE]


# --- ONS Explore Local Statistics: one partition per indicator dataset ---------------------------------

ELS_COLUMNS = ["dataset", "areacd", "areanm", "geography", "indicator", "period", "observation", "measure",
               "unit", "lci_95", "uci_95", "status", "notes"]
ELS_SLUGS = (
    "claimant-count", "modelled-unemployment", "employment-rate", "qualifications-none-gb",
    "qualifications-level-3-or-above", "gross-disposable-household-income-per-head", "gross-median-weekly-pay",
    "housing-affordability-ratio", "children-in-relative-poverty", "personal-wellbeing-estimates",
    "healthy-life-expectancy", "homicide-offences", "net-additions-to-the-housing-stock-wales",
)


def _els_fixed_schema(pull: Pull) -> Pull:
    """ELS files differ in their extra dimensions (sex, age band…); keep them in one `dimensions` column so
    every indicator shares the raw table's schema."""
    import polars as pl

    frame = pull.frame
    extras = [c for c in frame.columns if c not in ELS_COLUMNS]
    dims = (pl.concat_str([pl.lit(f"{c}=") + pl.col(c).cast(pl.String).fill_null("") for c in extras], separator=";")
            if extras else pl.lit(None, dtype=pl.String))
    pull.frame = frame.with_columns(dims.alias("dimensions")).select(
        [pl.col(c) if c in frame.columns else pl.lit(None).alias(c) for c in ELS_COLUMNS] + ["dimensions"]
    ).with_columns([pl.col(c).cast(pl.Float64) for c in ("observation", "lci_95", "uci_95")])
    return pull


def _els_snapshot(slug: str, snapshots_dir: Path) -> Pull:
    from orchestration.lib.sources import ons_els

    return _els_fixed_schema(ons_els.read_snapshot(slug, snapshots_dir))


def _els_live(slug: str) -> Pull:
    from orchestration.lib.sources import ons_els

    return _els_fixed_schema(ons_els.fetch(slug))


ONS_ELS = PartitionedSpec(
    table="ons_els_indicators",
    asset_name="ons_els_indicators",
    source="ons_els",
    dataset="ons_els_indicators",
    description=(
        "ONS Explore Local Statistics indicators for the 22 Welsh LAs, Wales and comparators (claimant count, "
        "unemployment, employment, qualifications, income, pay, housing affordability, child poverty, "
        "wellbeing, healthy life expectancy, homicide…), one partition per ELS dataset, with the published "
        "95% intervals and status. Validated against each dataset's CSV-on-the-Web metadata."
    ),
    partitions=ELS_SLUGS,
    snapshot=_els_snapshot,
    live=_els_live,
    partition_column="dataset",
    frequency="annual",
)


# --- StatsWales OData: one partition (and table) per dataset -------------------------------------------

STATSWALES_DATASETS = {
    "popu1009": "Population density by local authority",
    "econ0080": "Business demography by area",
    "envi0201": "Air pollutant concentrations by area",
    "tran0152": "Road traffic by local authority",
}


def _statswales_snapshot(dataset_id: str, snapshots_dir: Path) -> Pull:
    from orchestration.lib.sources import statswales

    return statswales.read_snapshot([snapshots_dir / "statswales" / f"statswales_odata_{dataset_id}.json"], dataset_id)


def _statswales_live(dataset_id: str) -> Pull:
    from orchestration.lib.sources.statswales import StatsWalesClient

    return StatsWalesClient().fetch(dataset_id)


STATSWALES = PartitionedSpec(
    table="statswales_{key}",
    asset_name="statswales",
    source="statswales",
    dataset="statswales_odata",
    description=(
        "StatsWales OData v3 datasets, one partition and one table raw.statswales_<id> per dataset ("
        + "; ".join(f"{k}: {v}" for k, v in STATSWALES_DATASETS.items())
        + "). All pages are followed live; the bundled snapshots of popu1009, econ0080 and envi0201 hold page 1 "
        "only and are marked partial in raw.load_log. Missing-value markers (.., ., *) become nulls with a status."
    ),
    partitions=tuple(STATSWALES_DATASETS),
    snapshot=_statswales_snapshot,
    live=_statswales_live,
    frequency="annual",
)

PARTITIONED.extend([ONS_ELS, STATSWALES])
