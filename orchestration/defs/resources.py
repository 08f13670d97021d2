"""Resources shared by the assets: where the warehouse and bundled data are."""


from pathlib import Path

import dagster as dg

from orchestration.settings import get_settings

# Every asset that writes to the DuckDB file runs in this pool; dagster.yaml limits each pool to one
# step at a time, so two writers never meet on the file lock (DuckDB allows one writing process).
WAREHOUSE_POOL = "duckdb_warehouse"
OWNERS = ["team:cohesion-data"]


class WarehouseResource(dg.ConfigurableResource):
    """Paths for the DuckDB warehouse, the bundled snapshots and the outputs."""

    warehouse_path: str
    snapshots_dir: str
    reports_dir: str
    quarantine_dir: str
    mode: str = "snapshot"

    @property
    def warehouse(self) -> Path:
        return Path(self.warehouse_path)

    @property
    def snapshots(self) -> Path:
        return Path(self.snapshots_dir)

    @property
    def reports(self) -> Path:
        return Path(self.reports_dir)

    @property
    def quarantine(self) -> Path:
        return Path(self.quarantine_dir)


def warehouse_from_settings() -> WarehouseResource:
    s = get_settings()
    return WarehouseResource(
        warehouse_path=str(s.warehouse_path),
        snapshots_dir=str(s.snapshots_dir),
        reports_dir=str(s.reports_dir),
        quarantine_dir=str(s.quarantine_dir),
        mode=s.mode,
    )


class PartnerStoreResource(dg.ConfigurableResource):
    """Where partner extracts land, and the restricted store for unredacted originals and quarantine."""

    landing_dir: str
    restricted_dir: str
    retention_days: int = 90
    settle_seconds: float = 5.0  # a landing file unchanged this long, with no writer, is complete
    require_marker: bool = False  # only a <file>.done marker (or an atomic rename) says a file is complete
    claim_seconds: float = 3600.0  # an ingested file is held aside and watched this long for late writes

    @property
    def landing(self) -> Path:
        return Path(self.landing_dir)

    @property
    def restricted(self) -> Path:
        return Path(self.restricted_dir)


def partner_store_from_settings() -> PartnerStoreResource:
    s = get_settings()
    return PartnerStoreResource(
        landing_dir=str(s.landing_dir), restricted_dir=str(s.restricted_dir), retention_days=s.restricted_retention_days,
        settle_seconds=s.landing_settle_seconds, require_marker=s.landing_require_marker,
        claim_seconds=s.landing_claim_seconds,
    )
