"""data.police.uk street-level crime, one Dagster partition per month.

Materializing a month replaces that force-month in raw.police_uk_street_crimes (never appends); a
range of months runs as one run (single-run backfill) so a full rebuild is one step, not 24.
"""


import os
import re
import warnings
from datetime import date
from functools import cache
from pathlib import Path

import dagster as dg

from orchestration.defs.resources import OWNERS, WAREHOUSE_POOL, WarehouseResource
from orchestration.lib.http import FetchError, SourceFormatError
from orchestration.lib.loaders import load_police_uk_month, log_rejection
from orchestration.lib.sources.police_uk_api import MonthArchiveCache, fetch_archive_month
from orchestration.lib.lsoa_bridge import SplitResolver
from orchestration.settings import SEEDS_DIR, get_settings

# Single-run backfills are marked beta in dagster 1.13; we rely on them deliberately (one run for a range).
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`")

# The start of the bundled Gwent series; in live mode POLICE_UK_FIRST_MONTH (YYYY-MM) moves it.
FIRST_MONTH = os.environ.get("POLICE_UK_FIRST_MONTH", "2022-07") + "-01"
_FILE = re.compile(r"^(\d{4}-\d{2})-([a-z-]+)-street\.csv$")


def bundled_files(snapshots_dir: Path) -> dict[tuple[str, str], Path]:
    """{(month, force_id): path} for every bundled street-level file."""
    found = {}
    for path in sorted((snapshots_dir / "police_uk").glob("*/*-street.csv")):
        match = _FILE.match(path.name)
        if match:
            found[(match[1], match[2])] = path
    return found


def _partition_end(snapshots_dir: Path) -> str | None:
    """Snapshot mode: partitions stop after the last bundled month (exclusive end date)."""
    months = sorted({m for m, _ in bundled_files(snapshots_dir)})
    if not months:
        return None
    year, month = map(int, months[-1].split("-"))
    return date(year + month // 12, month % 12 + 1, 1).isoformat()


_settings = get_settings()
police_uk_monthly_partitions = dg.MonthlyPartitionsDefinition(
    start_date=FIRST_MONTH,
    end_date=_partition_end(_settings.snapshots_dir) if _settings.mode == "snapshot" else None,
    # live: police.uk publishes about two months in arrears, so the newest partition is two months back
    end_offset=0 if _settings.mode == "snapshot" else -1,
)


def live_forces() -> list[str]:
    """data.police.uk force ids to pull live (POLICE_UK_FORCES, comma-separated; default the four Welsh forces)."""
    value = os.environ.get("POLICE_UK_FORCES", "dyfed-powys,gwent,north-wales,south-wales")
    return [f.strip() for f in value.split(",") if f.strip()]


def _download(force: str, month: str, warehouse: WarehouseResource, cache: MonthArchiveCache) -> Path:
    """The force's street-level CSV for the month from the monthly archive, kept under data/landing so
    the loader validates exactly the file it keeps. A failed download is logged and keeps the last data."""
    dest = warehouse.warehouse.parent / "landing" / "police_uk" / force
    try:
        return fetch_archive_month(month, force, dest, client=cache)
    except (FetchError, SourceFormatError) as exc:
        log_rejection(warehouse.warehouse, source="police_uk", dataset=f"street_crimes/{force}", location=str(exc.url),
                      error=exc, mode="live", partition_key=month)
        raise dg.Failure(f"{month} {force}: the month keeps its last good data: {exc}") from exc


@cache
def _resolver(snapshots_dir: str) -> SplitResolver:
    return SplitResolver(
        SEEDS_DIR / "geography" / "lsoa11_lsoa21_exact_fit.csv",
        Path(snapshots_dir) / "boundaries" / "wales_lsoa21_bgc.geojson",
    )


@dg.asset(
    key=["raw", "police_uk_street_crimes"],
    group_name="raw_police_uk",
    description=(
        "data.police.uk street-level crime and anti-social behaviour, one partition per month, for every "
        "force with data (bundled: Gwent Police, 2022-07 to 2024-06). Validated row by row; a bad file is "
        "quarantined and the month's previous data is kept. Also writes raw.police_uk_split_points, the "
        "2021 LSOA of each snap point that lies in a 2011 LSOA ONS later split. Licence: OGL v3.0."
    ),
    partitions_def=police_uk_monthly_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"python", "duckdb"},
    owners=OWNERS,
    pool=WAREHOUSE_POOL,
    tags={"source": "police_uk"},
    metadata={"licence": "Open Government Licence v3.0", "publisher": "data.police.uk (Home Office)"},
)
def police_uk_street_crimes(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    months = [key[:7] for key in context.partition_keys]
    if warehouse.mode == "live":
        forces = live_forces()
    else:
        files = bundled_files(warehouse.snapshots)
        forces = sorted({force for _, force in files})
    per_month: dict[str, dict] = {}
    total = 0
    for month in months:
        if warehouse.mode == "live":
            cache = MonthArchiveCache()
            month_files = {force: _download(force, month, warehouse, cache) for force in forces}
        else:
            month_files = {force: files.get((month, force)) for force in forces}
            missing = [force for force, path in month_files.items() if path is None]
            if missing:
                raise dg.Failure(
                    f"No bundled street-level file for {month} for {missing} under "
                    f"{warehouse.snapshots / 'police_uk'}; expected <force>/{month}-<force>-street.csv"
                )
        for force, path in month_files.items():
            result = load_police_uk_month(
                path, month, force, warehouse.warehouse, _resolver(str(warehouse.snapshots)),
                warehouse.quarantine, mode=warehouse.mode,
            )
            total += result.row_count
            per_month[f"{month} {force}"] = {
                "outcome": result.outcome, "rows": result.row_count, "sha256": result.sha256,
                "location": result.location, "release": f"data.police.uk street-level crime {month}",
                "licence": "Open Government Licence v3.0", **result.details,
            }
            context.log.info(f"{month} {force}: {result.outcome}, {result.row_count} rows {result.details}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": total,
            "months": ", ".join(months),
            "forces": ", ".join(forces),
            "per_month": dg.MetadataValue.json(per_month),
            "mode": warehouse.mode,
            "source": "police_uk",
            "licence": "Open Government Licence v3.0",
        }
    )
