"""Load validated data into ``raw.*`` tables: all-or-nothing, idempotent, logged in raw.load_log.

- A dataset is read and validated completely before the warehouse is touched.
- The write is one transaction: a failure leaves the previous data exactly as it was.
- Reloading identical input (same sha256) changes nothing and is logged as ``unchanged``.
- police.uk months are replaced, never appended, so materializing a month twice cannot duplicate it.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from orchestration.lib import police_uk
from orchestration.lib.lsoa_bridge import SplitResolver
from orchestration.lib.snapshots import DatasetSpec, SnapshotError
from orchestration.lib.sources.base import Pull
from orchestration.lib.warehouse import (
    LOAD_LOG_DDL,
    connect,
    fetch_value,
    log_load,
    sha256_of,
    transaction,
    utc_now,
)

POLICE_UK_LICENCE = "Open Government Licence v3.0"


@dataclass
class LoadResult:
    table: str
    outcome: str  # loaded | unchanged
    row_count: int
    sha256: str
    location: str
    load_id: str | None = None
    details: dict = field(default_factory=dict)


def _table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(
        fetch_value(
            con,
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, table],
        )
    )


def _last_loaded_content(con, source: str, dataset: str, partition_key: str | None) -> str | None:
    """The content hash of the last good load of this dataset (and partition)."""
    con.execute(LOAD_LOG_DDL)
    return fetch_value(
        con,
        """
        select content_sha256 from raw.load_log
        where source = ? and dataset = ? and partition_key is not distinct from ? and outcome in ('loaded', 'unchanged')
        order by retrieved_at desc limit 1
        """,
        [source, dataset, partition_key],
    )


def content_sha256(*frames: pl.DataFrame) -> str:
    """Hash of the validated rows about to be written. 'Unchanged' is decided on this, not on the source
    bytes alone, so a corrected reader or parser reloads data whose source file did not change."""
    digest = hashlib.sha256()
    for frame in frames:
        digest.update(frame.write_csv().encode())
    return digest.hexdigest()


def _combined_sha(paths: list[Path]) -> str:
    if len(paths) == 1:
        return sha256_of(paths[0])
    digest = hashlib.sha256()
    for p in paths:
        digest.update(sha256_of(p).encode())
    return digest.hexdigest()


def _log_rejection(warehouse: Path, **kwargs) -> None:
    con = connect(warehouse)
    try:
        log_load(con, outcome="rejected", **kwargs)
    finally:
        con.close()


def load_pull(
    pull: Pull,
    table: str,
    warehouse: Path,
    *,
    partition_column: str | None = None,
    partition_key: str | None = None,
) -> LoadResult:
    """Write a validated pull to raw.<table> in one transaction and log it.

    Without a partition the table is replaced; with one, only the rows where partition_column =
    partition_key are. A pull whose bytes hash like the last good load of the same dataset and
    partition is logged as 'unchanged' and not rewritten.
    """
    frame = pull.frame
    content = content_sha256(frame)
    con = connect(warehouse)
    try:
        if _last_loaded_content(con, pull.source, pull.dataset, partition_key) == content and _table_exists(con, "raw", table):
            where, params = (f" where {partition_column} = ?", [partition_key]) if partition_column else ("", [])
            rows = fetch_value(con, f"select count(*) from raw.{table}{where}", params)
            # same input and the table still holds exactly what was written: nothing to do (a table
            # someone has since edited is rewritten from the source)
            if rows == frame.height:
                log_load(con, source=pull.source, dataset=pull.dataset, partition_key=partition_key,
                         location=pull.location, release=pull.release, sha256=pull.sha256, row_count=rows,
                         licence=pull.licence, mode=pull.mode, outcome="unchanged", content_sha256=content)
                return LoadResult(table, "unchanged", rows, pull.sha256, pull.location)
    finally:
        con.close()

    if partition_column:
        frame = frame.with_columns(pl.lit(partition_key).alias(partition_column)) if partition_column not in frame.columns else frame
    with transaction(warehouse) as con:
        con.execute("create schema if not exists raw")
        con.register("incoming", frame.to_arrow())
        if partition_column and _table_exists(con, "raw", table):
            con.execute(f"delete from raw.{table} where {partition_column} = ?", [partition_key])
            con.execute(f"insert into raw.{table} by name select * from incoming")
        else:
            con.execute(f"create or replace table raw.{table} as select * from incoming")
        con.unregister("incoming")
        message = "; ".join(pull.notes) or None
        load_id = log_load(con, source=pull.source, dataset=pull.dataset, partition_key=partition_key,
                           location=";".join(pull.locations), release=pull.release, sha256=pull.sha256,
                           row_count=frame.height, licence=pull.licence, mode=pull.mode, outcome="loaded",
                           message=message, content_sha256=content)
    return LoadResult(table, "loaded", frame.height, pull.sha256, pull.location, load_id,
                      {"pages": pull.pages, "notes": pull.notes})


def log_rejection(warehouse: Path, *, source: str, dataset: str, location: str, error: Exception, mode: str,
                  partition_key: str | None = None, licence: str = "Open Government Licence v3.0") -> None:
    """Record a failed or malformed pull; the table keeps its last good data."""
    _log_rejection(warehouse, source=source, dataset=dataset, partition_key=partition_key, location=location,
                   release=None, sha256=None, row_count=None, licence=licence, mode=mode, message=str(error))


def snapshot_pull(spec: DatasetSpec, snapshots_dir: Path) -> Pull:
    """Read a bundled dataset through its validating reader (raises SnapshotError)."""
    paths = [snapshots_dir / f for f in spec.files]
    for p in paths:
        if not p.exists():
            raise SnapshotError(f"{p}: bundled file not found")
    frame = spec.reader(paths)
    return Pull(source=spec.source, dataset=spec.dataset, locations=[str(p) for p in paths],
                sha256=_combined_sha(paths), frame=frame, mode="snapshot", release=spec.release,
                licence=spec.licence)


POLICE_CRIMES_DDL = """
create schema if not exists raw;
create table if not exists raw.police_uk_street_crimes (
    force_id varchar not null,
    source_file varchar not null,
    source_row bigint not null,
    crime_id varchar,
    month varchar not null,
    reported_by varchar,
    falls_within varchar,
    longitude double,
    latitude double,
    location varchar,
    lsoa_code varchar,
    lsoa_name varchar,
    crime_type varchar not null,
    last_outcome_category varchar,
    context varchar,
    load_id varchar not null,
    loaded_at timestamp not null
);
create table if not exists raw.police_uk_split_points (
    force_id varchar not null,
    month varchar not null,
    lsoa11_code varchar not null,
    longitude double not null,
    latitude double not null,
    lsoa21_code varchar not null,
    method varchar not null,
    distance_m double not null
);
"""


def quarantine(path: Path, quarantine_dir: Path, error: Exception) -> Path:
    """Copy a rejected file beside a report of what is wrong with it (the original stays where it is)."""
    stamp = utc_now().strftime("%Y%m%dT%H%M%S")
    target_dir = quarantine_dir / stamp
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / path.name
    if path.exists():
        shutil.copy2(path, target)
    (target_dir / f"{path.name}.errors.txt").write_text(str(error) + "\n", encoding="utf-8")
    return target


def load_police_uk_month(
    path: Path,
    month: str,
    force_id: str,
    warehouse: Path,
    resolver: SplitResolver,
    quarantine_dir: Path,
    mode: str = "snapshot",
) -> LoadResult:
    """Validate one force-month file and replace that force-month in raw.police_uk_street_crimes."""
    sha = sha256_of(path) if path.exists() else None
    if sha is None:
        raise police_uk.PoliceUkParseError(path, problem=f"file not found: {path}")
    release = f"data.police.uk street-level crime {month}"
    try:
        df = police_uk.parse_street_file(path, expected_month=month)
    except police_uk.PoliceUkParseError as exc:
        kept = quarantine(path, quarantine_dir, exc)
        _log_rejection(warehouse, source="police_uk", dataset=f"street_crimes/{force_id}", partition_key=month,
                       location=str(path), release=release, sha256=sha, row_count=None,
                       licence=POLICE_UK_LICENCE, mode=mode, message=f"{exc}\nquarantined copy: {kept}")
        raise

    split_rows = df.filter(pl.col("lsoa_code").is_in(list(resolver.children)))
    resolutions = resolver.resolve(zip(split_rows["lsoa_code"], split_rows["longitude"], split_rows["latitude"]))
    points = pl.DataFrame(
        {
            "force_id": [force_id] * len(resolutions),
            "month": [month] * len(resolutions),
            "lsoa11_code": [r.lsoa11_code for r in resolutions],
            "longitude": [r.longitude for r in resolutions],
            "latitude": [r.latitude for r in resolutions],
            "lsoa21_code": [r.lsoa21_code for r in resolutions],
            "method": [r.method for r in resolutions],
            "distance_m": [r.distance_m for r in resolutions],
        },
        schema={"force_id": pl.String, "month": pl.String, "lsoa11_code": pl.String, "longitude": pl.Float64,
                "latitude": pl.Float64, "lsoa21_code": pl.String, "method": pl.String, "distance_m": pl.Float64},
    )

    content = content_sha256(df, points)
    con = connect(warehouse)
    try:
        con.execute(POLICE_CRIMES_DDL)
        if _last_loaded_content(con, "police_uk", f"street_crimes/{force_id}", month) == content:
            rows = fetch_value(
                con, "select count(*) from raw.police_uk_street_crimes where force_id = ? and month = ?", [force_id, month]
            )
            if rows == df.height:
                log_load(con, source="police_uk", dataset=f"street_crimes/{force_id}", partition_key=month,
                         location=str(path), release=release, sha256=sha, row_count=rows,
                         licence=POLICE_UK_LICENCE, mode=mode, outcome="unchanged", content_sha256=content)
                return LoadResult("police_uk_street_crimes", "unchanged", rows, sha, str(path))
    finally:
        con.close()

    with transaction(warehouse) as con:
        con.execute(POLICE_CRIMES_DDL)
        load_id = log_load(con, source="police_uk", dataset=f"street_crimes/{force_id}", partition_key=month,
                           location=str(path), release=release, sha256=sha, row_count=df.height,
                           licence=POLICE_UK_LICENCE, mode=mode, outcome="loaded", content_sha256=content)
        con.execute("delete from raw.police_uk_street_crimes where force_id = ? and month = ?", [force_id, month])
        con.execute("delete from raw.police_uk_split_points where force_id = ? and month = ?", [force_id, month])
        con.register("incoming", df.to_arrow())
        con.execute(
            """
            insert into raw.police_uk_street_crimes
            select ? as force_id, source_file, source_row, crime_id, month, reported_by, falls_within,
                   longitude, latitude, location, lsoa_code, lsoa_name, crime_type, last_outcome_category,
                   context, ? as load_id, ? as loaded_at
            from incoming
            """,
            [force_id, load_id, utc_now()],
        )
        con.unregister("incoming")
        con.register("incoming_points", points.to_arrow())
        con.execute("insert into raw.police_uk_split_points select * from incoming_points")
        con.unregister("incoming_points")

    details = {
        "rows_without_crime_id": int(df["crime_id"].null_count()),
        "rows_without_location": int(df["longitude"].null_count()),
        "rows_in_english_lsoas": int(df.filter(pl.col("lsoa_code").str.starts_with("E01")).height),
        "rows_in_split_2011_lsoas": split_rows.height,
        "split_points_nearest_child": sum(r.method != "point_in_child_polygon" for r in resolutions),
    }
    return LoadResult("police_uk_street_crimes", "loaded", df.height, sha, str(path), load_id, details)
