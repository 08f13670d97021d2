"""Paths and configuration, resolved once from environment variables.

Every path the warehouse writes is under ``COHESION_DATA_DIR`` (default ``<repo>/data``) unless an
environment variable moves it. No Dagster imports here: scripts, tests and assets all share this.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
SEEDS_DIR = REPO_ROOT / "seeds"


def env_number(name: str, default: float, *, low: float = 0.0, high: float | None = None,
               expected: str = "a number of 0 or more") -> float:
    """A number from the environment variable ``name`` (``default`` when unset or blank), within [low, high];
    anything else is a ValueError naming the variable, what it expects and what it got."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value < low or (high is not None and value > high):
        raise ValueError(f"{name} must be {expected}, got {raw!r}")
    return value


def _path(var: str, default: Path) -> Path:
    value = os.environ.get(var)
    return Path(value).expanduser().resolve() if value else default


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    warehouse_path: Path
    snapshots_dir: Path
    reports_dir: Path
    quarantine_dir: Path
    dagster_home: Path
    mode: str
    landing_dir: Path
    restricted_dir: Path
    restricted_retention_days: int
    landing_settle_seconds: float
    landing_require_marker: bool
    landing_claim_seconds: float
    as_of_date: str | None
    demo_extracts: bool
    gx_dir: Path
    atlas_dir: Path
    atlas_pdf: bool
    published_dir: Path

    @property
    def police_uk_snapshot_dir(self) -> Path:
        return self.snapshots_dir / "police_uk"


def _flag(var: str, default: bool) -> bool:
    value = os.environ.get(var)
    if value is None or not value.strip():
        return default
    return value.strip().lower() not in {"0", "false", "no", "off"}


def get_settings() -> Settings:
    data_dir = _path("COHESION_DATA_DIR", REPO_ROOT / "data")
    mode = os.environ.get("COHESION_MODE", "snapshot")
    demo = _flag("COHESION_DEMO_EXTRACTS", True)
    if mode not in {"snapshot", "live"}:
        raise ValueError(f"COHESION_MODE must be 'snapshot' or 'live', got {mode!r}")
    return Settings(
        data_dir=data_dir,
        warehouse_path=_path("COHESION_WAREHOUSE_PATH", data_dir / "warehouse.duckdb"),
        # The bundled real data ships inside the repository, so it does not move with COHESION_DATA_DIR.
        snapshots_dir=_path("COHESION_SNAPSHOTS_DIR", REPO_ROOT / "data" / "snapshots"),
        reports_dir=_path("COHESION_REPORTS_DIR", data_dir / "reports"),
        quarantine_dir=_path("COHESION_QUARANTINE_DIR", data_dir / "quarantine"),
        dagster_home=_path("DAGSTER_HOME", data_dir / "dagster_home"),
        mode=mode,
        # Partner extracts (Part 3): partners drop files in landing/<extract type>/; the unredacted
        # originals and quarantined files live only in the restricted store, purged after retention.
        landing_dir=_path("COHESION_LANDING_DIR", data_dir / "landing"),
        restricted_dir=_path("COHESION_RESTRICTED_DIR", data_dir / "restricted"),
        restricted_retention_days=int(os.environ.get("COHESION_RESTRICTED_RETENTION_DAYS", "90")),
        # A landing file is read once no program has it open for writing and it has not changed for this
        # long, or at once when a <file>.done marker sits beside it; with REQUIRE_MARKER only the marker (or
        # an atomic rename from a temporary name) counts (lib/partner_extracts/landing.py).
        landing_settle_seconds=float(os.environ.get("COHESION_LANDING_SETTLE_SECONDS", "5")),
        landing_require_marker=_flag("COHESION_LANDING_REQUIRE_MARKER", False),
        # An ingested landing file is moved aside (landing/.claimed) and watched this long: if a writer still
        # adds to it, it is read again; then it is deleted.
        landing_claim_seconds=float(os.environ.get("COHESION_LANDING_CLAIM_SECONDS", "3600")),
        # The day ages and overdue flags are measured to (CIAs, risk reviews); blank = today, except
        # while the demo extracts are on: they end on DEMO_AS_OF, so they are viewed as at that day.
        as_of_date=_as_of_date(demo),
        demo_extracts=demo,
        # Great Expectations' file context: validation results and the Data Docs site
        gx_dir=_path("COHESION_GX_DIR", data_dir / "gx"),
        # The static cohesion atlas (public tier, Welsh and English): dashboards/atlas beside the code for the
        # default data folder, else inside the chosen data folder (so a test or a second instance never
        # overwrites the repository's copy).
        atlas_dir=_path("COHESION_ATLAS_DIR", REPO_ROOT / "dashboards" / "atlas"
                        if data_dir == REPO_ROOT / "data" else data_dir / "atlas"),
        # The annual cohesion profile documents as PDF too (44 PDFs, ~2-2.5 s of CPU each with WeasyPrint; unchanged ones are
        # copied from the previous site). Off: HTML only (the test session: tests/test_profile_document.py renders
        # the PDFs it checks).
        atlas_pdf=_flag("COHESION_ATLAS_PDF", True),
        # Read-only copies of the marts for BI tools (DuckDB 1.x-readable file, Parquet, CSV, manifest)
        published_dir=_path("COHESION_PUBLISHED_DIR", data_dir / "published"),
    )


# make run drops the deterministic demo partner extracts (orchestration/lib/partner_extracts/demo.py)
# into the landing folder unless COHESION_DEMO_EXTRACTS=0. Turn it off in production.
DEMO_AS_OF = "2024-06-30"


def _as_of_date(demo: bool) -> str | None:
    value = os.environ.get("COHESION_AS_OF_DATE") or (DEMO_AS_OF if demo else None)
    if value:
        try:
            date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"COHESION_AS_OF_DATE must be a date yyyy-mm-dd, got {value!r}") from None
    return value


# New files and folders are never world-readable: the warehouse, the Dagster instance (its event log names
# partner files), reports and Data Docs get owner read-write and group read at most. The restricted store and
# the Dagster instance are set owner-only explicitly (lib/private_files.py, build.prepare_instance).
UMASK = 0o027


def export_for_subprocesses(settings: Settings | None = None) -> Settings:
    """Put absolute paths into os.environ so dbt (a subprocess) writes the same warehouse file, and set the
    process umask (inherited by dbt) so nothing the warehouse writes is world-readable."""
    os.umask(UMASK)
    settings = settings or get_settings()
    os.environ["COHESION_WAREHOUSE_PATH"] = str(settings.warehouse_path)
    # the tension marts' as-of date (macro tension_as_of): the demo's fixed day, a configured one, or blank = today
    os.environ["COHESION_AS_OF_DATE"] = settings.as_of_date or ""
    # dbt imports the exception engine's SQL functions from this checkout (dbt_project/profiles.yml)
    os.environ["COHESION_REPO_ROOT"] = str(Path(__file__).resolve().parents[1])
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    return settings


# `make run` with only some police.uk months new (build.incremental_months) names them here for the run it starts:
# the dbt asset rebuilds the crime models for those months only (defs/dbt.py) and the month-scoped Great
# Expectations suites check only their periods (lib/quality/runner.month_scope). Unset: a full build.
POLICE_MONTHS_ENV = "COHESION_DBT_POLICE_MONTHS"
# the same months on a run the daemon launches (sensor rebuild_after_public_loads after a police.uk-only load)
POLICE_MONTHS_TAG = "cohesion/police_months"
# The Dagster process that starts a dbt (make run's, or a daemon run's): dbt ends when it dies (lib/dbt_plugin.py)
DBT_PARENT_ENV = "COHESION_DBT_PARENT_PID"
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def valid_months(months: list[str], where: str) -> list[str]:
    """`months` sorted without repeats; a ValueError naming `where` unless each is 'YYYY-MM'."""
    months = sorted(set(months))
    bad = [m for m in months if not _MONTH.fullmatch(m)]
    if bad:
        raise ValueError(f"{where} must list months as YYYY-MM, comma-separated; got {bad}")
    return months


def incremental_police_months() -> list[str]:
    """The police.uk months ('YYYY-MM') this build rebuilds alone; [] = a full build."""
    raw = os.environ.get(POLICE_MONTHS_ENV, "").strip()
    return valid_months([m.strip() for m in raw.split(",") if m.strip()], POLICE_MONTHS_ENV)
