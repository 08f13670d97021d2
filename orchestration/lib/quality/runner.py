"""Run a Great Expectations suite (JSON from expectations/) on rows read from the DuckDB warehouse.

GX's SQL datasource fails on DuckDB here (stack notes), so the suite's query is read into a pandas
DataFrame and validated through a pandas datasource of a file-backed GX context under data/gx/, whose
checkpoint also rebuilds the Data Docs site (one that reads offline: orchestration.lib.quality.data_docs).
Every expectation's outcome is appended to ``marts.dq_results`` for reports to read. A suite that names a
``chunk_by`` column is validated in parts when its rows are many (``chunk_queries``, ``merge_results``: the same
results, a fraction of the memory). No Dagster imports.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import threading
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from orchestration.lib.warehouse import quote_identifier, quote_string, utc_now
from orchestration.settings import valid_months

DQ_RESULTS_DDL = """
create table if not exists marts.dq_results (
    checked_at timestamp not null,      -- UTC
    run_id varchar,                     -- the Dagster run, when run by Dagster
    suite varchar not null,
    asset_key varchar not null,
    expectation varchar not null,       -- GX expectation type
    column_name varchar,
    severity varchar not null,          -- error (GX critical: blocks downstream) | warn (GX warning: a caveat)
    success boolean not null,
    element_count bigint,
    unexpected_count bigint,
    unexpected_percent double,
    observed_value varchar,
    sample varchar,                     -- JSON: up to 10 failing values or rows (null for partner data)
    why varchar,                        -- the limit, in words (the expectation's meta)
    kwargs varchar                      -- JSON: the expectation's arguments
)
"""
SEVERITY = {"critical": "error", "warning": "warn", "info": "warn"}
# Validation results (JSON and their Data Docs pages) kept per suite; older ones are deleted before each
# run, so data/gx does not grow by every build for ever. marts.dq_results keeps the full history.
KEEP_RESULTS = 20
# A suite whose meta names a ``chunk_by`` column is validated in parts of about this many rows (whole groups of
# that column's values), one after another, when its query returns more: GX's pandas validation holds the frame
# and copies of its columns, so the police.uk suite's 3.2M rows at 10 years of history took 5.5 GB in one part.
CHUNK_ROWS_ENV, CHUNK_ROWS_DEFAULT = "COHESION_GX_CHUNK_ROWS", 500_000
# Expectations whose outcome over the whole frame follows from their outcomes over parts of it: row by row (map)
# expectations add up; the table's columns are the same in every part. (Uniqueness only within a ``chunk_by``
# group: allowed when the chunk column is one of its columns; a count of distinct values never.)
ROW_WISE = frozenset({
    "expect_column_values_to_be_in_type_list", "expect_column_values_to_not_be_null", "expect_column_values_to_be_null",
    "expect_column_values_to_be_in_set", "expect_column_values_to_be_between", "expect_column_values_to_match_regex",
    "expect_column_values_to_not_match_regex_list", "expect_column_pair_values_a_to_be_greater_than_b",
    "expect_table_columns_to_match_ordered_list", "expect_table_columns_to_match_set",
})
UNIQUE_WITHIN = {"expect_column_values_to_be_unique": "column", "expect_compound_columns_to_be_unique": "column_list"}
DOCS_SITE = "local_site"  # data_docs.SITE_CONFIG's store_backend and docs_index() below name its folder


@dataclass
class SuiteOutcome:
    suite: str
    asset_key: list[str]
    success: bool
    rows: list[dict] = field(default_factory=list)  # one per expectation, as in marts.dq_results
    docs_index: str | None = None

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.rows if not r["success"]]

    @property
    def severity(self) -> str | None:
        """error if any critical expectation failed, else warn if any failed, else None."""
        if any(r["severity"] == "error" for r in self.failed):
            return "error"
        return "warn" if self.failed else None


def _import_gx():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    import great_expectations as gx

    return gx


def import_in_background() -> threading.Thread | None:
    """Import Great Expectations in a daemon thread: 3-6 s that a run's first suite otherwise spends before it
    checks anything, right after dbt and before the report. Called as the dbt step starts (it waits for the dbt
    process meanwhile). None if already imported. A failure is left for the suite's own import to report."""
    if "great_expectations" in sys.modules:
        return None

    def quietly():
        try:
            _import_gx()
        except Exception:  # noqa: BLE001 - the suite imports it again and raises there
            pass

    thread = threading.Thread(target=quietly, name="import-great-expectations", daemon=True)
    thread.start()
    return thread


def _context(gx_dir: Path):
    gx = _import_gx()

    gx_dir.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=str(gx_dir))
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # GX draws tqdm bars to stderr for every metric; keep them out of the Dagster logs (stack notes).
    bars = context.variables.progress_bars
    if (bars.get("globally") if isinstance(bars, dict) else getattr(bars, "globally", None)) is not False:
        context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        context.variables.save()
    # The Data Docs site that reads offline (GX's own templates load their scripts from public CDNs)
    from orchestration.lib.quality.data_docs import SITE_CONFIG

    if context.list_data_docs_sites().get(DOCS_SITE) != SITE_CONFIG:
        sites = context.list_data_docs_sites()
        (context.update_data_docs_site if DOCS_SITE in sites else context.add_data_docs_site)(DOCS_SITE, SITE_CONFIG)
    return context


def last_passed(con, suite: str) -> str:
    """When every expectation of the suite last passed ('1900-01-01' if never): a suite whose query says
    {last_passed} checks only rows loaded after it, so unchanged months are not validated again."""
    try:
        row = con.execute("""
            select max(checked_at) from (
                select checked_at from marts.dq_results where suite = ? group by checked_at having bool_and(success)
            )
        """, [suite]).fetchall()
    except duckdb.Error:
        return "1900-01-01 00:00:00"
    return str(row[0][0]) if row and row[0][0] is not None else "1900-01-01 00:00:00"


def last_check_failures(con, suite: str) -> list[str] | None:
    """The columns (or column lists) of the expectations that failed at the suite's latest check; None if it
    never ran."""
    try:
        rows = con.execute("select success, coalesce(column_name, expectation) from marts.dq_results "
                           "where suite = ? and checked_at = (select max(checked_at) from marts.dq_results "
                           "where suite = ?)", [suite, suite]).fetchall()
    except duckdb.Error:
        return None
    return [column for success, column in rows if not success] if rows else None


def month_scope(suite_json: dict, months: list[str] | None, con) -> str | None:
    """The SQL condition that limits a suite marked ``"scope": "police_months"`` to what an incremental build
    can have changed: the periods containing the police.uk months it rebuilt ('YYYY-MM'); every other row is
    as the suite last checked it. The rows a row-flag column (meta ``scope_keep``) marks as failing are checked
    every time wherever they are, so a standing warning is reported again, not hidden by a scoped pass.
    None (check every row) for other suites, a full build (no months), a suite never checked, or one whose
    latest check failed an expectation other than those flag columns."""
    meta = suite_json["meta"]
    if meta.get("scope") != "police_months" or not months or con is None:
        return None
    months = valid_months(months, "month_scope")  # they are written into the SQL below
    keep = list(meta.get("scope_keep", []))
    failed = last_check_failures(con, suite_json["name"])
    if failed is None or any(column not in keep for column in failed):
        return None
    overlaps = [f"(period_start < date '{m}-01' + interval 1 month and coalesce(period_end, period_start) >= date '{m}-01')"
                for m in months]
    return " or ".join(overlaps + [f"{column} is not null" for column in keep])


def query_for(suite_json: dict, as_of: str | None, con=None, months: list[str] | None = None) -> str:
    as_of_sql = f"date '{as_of}'" if as_of else "current_date"
    query = suite_json["meta"]["query"].replace("{as_of}", as_of_sql)
    if "{last_passed}" in query:
        since = last_passed(con, suite_json["name"]) if con is not None else "1900-01-01 00:00:00"
        query = query.replace("{last_passed}", f"timestamp '{since}'")
    scope = month_scope(suite_json, months, con)
    if scope:
        query = f"select * from (\n{query}\n) where {scope}"
    return query


def chunk_rows() -> int:
    from orchestration.settings import env_number

    return max(1, int(env_number(CHUNK_ROWS_ENV, CHUNK_ROWS_DEFAULT)))


def chunkable(suite_json: dict) -> bool:
    """Whether a suite can be validated in parts by its ``chunk_by`` column with the same outcome as whole:
    every expectation row-wise, or a uniqueness whose columns include the chunk column (a group is never split)."""
    column = suite_json["meta"].get("chunk_by")
    if not column:
        return False
    for expectation in suite_json["expectations"]:
        kind, kwargs = expectation["type"], expectation.get("kwargs", {})
        if kind in ROW_WISE and "mostly" not in kwargs:
            continue
        key = kwargs.get(UNIQUE_WITHIN.get(kind, ""), [])
        if column not in ([key] if isinstance(key, str) else key):
            return False
    return True


def _literal(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(f"chunk_by values must be text or whole numbers, not {type(value).__name__}")
    return str(value) if isinstance(value, int) else quote_string(value)


def chunk_queries(suite_json: dict, con, query: str, limit: int | None = None) -> list[str] | None:
    """The queries of the parts a ``chunkable`` suite's rows are validated in (each about ``limit`` rows, whole
    groups of the chunk column's values), or None to validate them in one frame (not chunkable, or not more rows
    than the limit)."""
    if not chunkable(suite_json):
        return None
    limit = limit or chunk_rows()
    column = quote_identifier(suite_json["meta"]["chunk_by"])
    counts = con.execute(f"select {column}, count(*) from (\n{query}\n) group by 1 order by 1 nulls last").fetchall()
    if sum(n for _, n in counts) <= limit:
        return None
    groups: list[list] = []
    size = 0
    for value, n in counts:
        if not groups or (size and size + n > limit):
            groups.append([])
            size = 0
        groups[-1].append(value)
        size += n
    parts = []
    for values in groups:
        conditions = [f"{column} is null"] if any(v is None for v in values) else []
        known = [_literal(v) for v in values if v is not None]
        if known:
            conditions.append(f"{column} in ({', '.join(known)})")
        parts.append(f"select * from (\n{query}\n) where {' or '.join(conditions)}")
    return parts


def merge_results(results: list[dict], successes: list[bool], keep: int) -> dict:
    """One expectation's GX result over the whole frame from its ``results`` over the parts (``chunkable``):
    counts summed, percentages as GX computes them (of the non-missing values where it counts missing ones), the
    first ``keep`` failing values in part order, an aggregate's observed value from the first part that failed
    (else the first)."""
    if len(results) == 1:
        return results[0]
    failed = [r for r, ok in zip(results, successes, strict=True) if not ok]
    merged = dict((failed or results)[0])
    if all(r.get("element_count") is not None for r in results):
        elements = sum(r["element_count"] for r in results)
        merged["element_count"] = elements
        if all(r.get("unexpected_count") is not None for r in results):
            unexpected = sum(r["unexpected_count"] for r in results)
            merged["unexpected_count"] = unexpected
            total = unexpected / elements * 100 if elements > 0 else None
            merged["unexpected_percent"] = total
            if all(r.get("missing_count") is not None for r in results):  # GX: of the non-missing values
                missing = sum(r["missing_count"] for r in results)
                nonmissing = elements - missing
                merged["missing_count"] = missing
                merged["missing_percent"] = missing / elements * 100 if elements > 0 else None
                merged["unexpected_percent"] = unexpected / nonmissing * 100 if elements > 0 and nonmissing > 0 \
                    else None
            for key, value in (("unexpected_percent_total", total),
                               ("unexpected_percent_nonmissing", merged["unexpected_percent"])):
                if key in merged:
                    merged[key] = value
    if all(isinstance(r.get("partial_unexpected_list"), list) for r in results):
        merged["partial_unexpected_list"] = [v for r in results for v in r["partial_unexpected_list"]][:keep]
    return merged


def build_docs(gx_dir: Path) -> Path:
    """Render the Data Docs site once for every stored validation (a run's checks skip it: rendering the
    site after each of 29 suites took ~0.8 s each; once at the end of a run takes about as long as one)."""
    _context(gx_dir).build_data_docs()
    return docs_index(gx_dir)


def run_suite(suite_json: dict, con, gx_dir: Path, *, as_of: str | None = None, run_id: str | None = None,
              now: datetime | None = None, update_docs: bool = True, months: list[str] | None = None) -> SuiteOutcome:
    """Validate the rows of the suite's query; the caller writes outcome.rows with record_results().
    update_docs=False leaves the Data Docs to one build_docs() at the end of the run. ``months``: the police.uk
    months an incremental build rebuilt; a suite scoped by them checks only those periods (month_scope)."""
    import great_expectations as gx

    context = _context(gx_dir)
    name = suite_json["name"]
    checked_at = (now or utc_now()).replace(microsecond=0)
    try:
        query = query_for(suite_json, as_of, con, months)
        # over chunk_rows() rows, a chunkable suite is validated part by part (chunk_queries; the same outcome)
        queries = chunk_queries(suite_json, con, query) or [query]
        frame = read_frame(con, queries[0])
    except duckdb.Error as err:
        return _unreadable(suite_json, checked_at, run_id, err)
    prune_history(gx_dir, name, KEEP_RESULTS - 1)
    source = context.data_sources.add_or_update_pandas("warehouse")
    asset = next((a for a in source.assets if a.name == name), None) or source.add_dataframe_asset(name)
    batch_definition = next((b for b in asset.batch_definitions if b.name == "whole"), None) \
        or asset.add_batch_definition_whole_dataframe("whole")
    suite = context.suites.add_or_update(gx.ExpectationSuite(
        name=name, expectations=suite_json["expectations"], meta=suite_json.get("meta", {})))
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=name, data=batch_definition, suite=suite))
    # Rows from partner files may hold personal data that redaction could not recognise: their failing values
    # are not copied into the results, the Data Docs pages, marts.dq_results or Dagster's metadata.
    withhold = bool(suite_json["meta"].get("withhold_values"))
    keep = 0 if withhold else 10
    checkpoint = context.checkpoints.add_or_update(gx.Checkpoint(
        name=name,
        validation_definitions=[definition],
        actions=[gx.checkpoint.UpdateDataDocsAction(name="update_data_docs")] if update_docs else [],
        # GX computes a pandas "unexpected index query" for every column map expectation, which SUMMARY results
        # leave out unless asked for; not asking for it skips that work (a filtered copy of the whole frame each)
        result_format={"result_format": "SUMMARY", "partial_unexpected_count": keep,
                       "return_unexpected_index_query": False},
    ))
    with warnings.catch_warnings():
        # GX searches text columns with pandas str.contains; pandas warns that the redaction patterns (which
        # need their groups, e.g. for back-references) have capture groups. Harmless here.
        warnings.filterwarnings("ignore", message="This pattern is interpreted as a regular expression")
        from great_expectations.core.run_identifier import RunIdentifier

        parts = []  # per part: its expectations' results, in the suite's order
        run_time = now or utc_now()  # one for every part: the check's results are kept or pruned together
        for number in range(len(queries)):
            if number:
                try:
                    frame = read_frame(con, queries[number])
                except duckdb.Error as err:
                    return _unreadable(suite_json, checked_at, run_id, err)
            # the Dagster run id names the validation in Data Docs, so a page can be traced to its run
            label = run_id or "manual"
            if len(queries) > 1:
                label += f" part {number + 1} of {len(queries)}"
            result = checkpoint.run(batch_parameters={"dataframe": frame},
                                    run_id=RunIdentifier(run_name=label, run_time=run_time))
            parts.append([item for validation in result.run_results.values() for item in validation.results])
            del frame, result
    rows = []
    for items in zip(*parts, strict=True):
        item = next((i for i in items if not i.success), items[0])
        config = item.expectation_config
        kwargs = {k: v for k, v in config.kwargs.items() if k not in ("batch_id",)}
        outcome = merge_results([i.result or {} for i in items], [bool(i.success) for i in items], keep)
        sample = outcome.get("partial_unexpected_list")
        if sample is None and outcome.get("details"):
            sample = outcome["details"]
        observed = outcome.get("observed_value")
        if withhold:
            sample = None
            observed = observed if isinstance(observed, (int, float)) else None
        rows.append({
            "checked_at": checked_at,
            "run_id": run_id,
            "suite": name,
            "asset_key": "/".join(suite_json["meta"]["asset_key"]),
            "expectation": config.type,
            "column_name": kwargs.get("column") or kwargs.get("column_A") or (
                ",".join(kwargs["column_list"]) if kwargs.get("column_list") else None),
            "severity": SEVERITY.get(str(getattr(config.severity, "value", config.severity)), "error"),
            "success": all(bool(i.success) and not i.exception_info.get("raised_exception", False)
                           for i in items),
            "element_count": outcome.get("element_count"),
            "unexpected_count": outcome.get("unexpected_count"),
            "unexpected_percent": outcome.get("unexpected_percent"),
            "observed_value": _json(observed),
            "sample": _json(sample[:10] if isinstance(sample, list) else sample),
            "why": (config.meta or {}).get("why"),
            "kwargs": _json({k: v for k, v in kwargs.items() if k not in ("value_set", "regex_list", "type_list")}
                            | ({"value_set": f"{len(kwargs['value_set'])} values"} if "value_set" in kwargs else {})),
            "error": next((i.exception_info.get("exception_message") for i in items
                           if i.exception_info.get("raised_exception")), None),
        })
    docs = context.get_docs_sites_urls()
    return SuiteOutcome(suite=name, asset_key=suite_json["meta"]["asset_key"],
                        success=all(r["success"] for r in rows), rows=rows,
                        docs_index=docs[0]["site_url"] if docs else None)


def _unreadable(suite_json: dict, checked_at: datetime, run_id: str | None, err: Exception) -> SuiteOutcome:
    """The rows to check cannot even be read (a table missing or renamed): a failed critical check that says so,
    rather than a stack trace."""
    return SuiteOutcome(suite=suite_json["name"], asset_key=suite_json["meta"]["asset_key"], success=False,
                        rows=[_query_failure(suite_json, checked_at, run_id, err)])


def _query_failure(suite_json: dict, checked_at: datetime, run_id: str | None, err: Exception) -> dict:
    return {
        "checked_at": checked_at, "run_id": run_id, "suite": suite_json["name"],
        "asset_key": "/".join(suite_json["meta"]["asset_key"]), "expectation": "suite_query", "column_name": None,
        "severity": "error", "success": False, "element_count": None, "unexpected_count": None,
        "unexpected_percent": None, "observed_value": None, "sample": None,
        "why": f"the rows this suite checks could not be read: {type(err).__name__}: {str(err).splitlines()[0]}",
        "kwargs": _json({"query": suite_json["meta"]["query"][:500]}),
    }


def prune_history(gx_dir: Path, suite: str, keep: int) -> int:
    """Delete all but the newest `keep` checks' stored validation results of a suite (JSON and Data Docs page). A
    check is one run time (<run name>/<run time>): the parts of a suite validated in parts share theirs, so a
    check's parts are kept or deleted together."""
    uncommitted = gx_dir / "gx" / "uncommitted"
    removed = 0
    for root in (uncommitted / "validations" / suite, uncommitted / "data_docs" / "local_site" / "validations" / suite):
        runs = sorted(root.glob("*/*"), key=lambda p: p.name) if root.is_dir() else []
        times = sorted({p.name for p in runs})
        old_times = set(times[: max(len(times) - keep, 0)])
        for old in (p for p in runs if p.name in old_times):
            shutil.rmtree(old, ignore_errors=True)
            removed += 1
            if not any(old.parent.iterdir()):
                old.parent.rmdir()
    return removed


def validation_frame(frame):
    """pandas 3 reads VARCHAR as StringDtype, which GX 1.24's type expectations do not recognise; as object
    columns their values are plain str, which it does."""
    return frame.astype({c: object for c, t in frame.dtypes.items() if str(t) == "str"})


# Column types whose pandas conversion by DuckDB is the same from the query as from its Arrow copy (read_frame)
_ARROW_SAFE_TYPES = {"BIGINT", "INTEGER", "SMALLINT", "TINYINT", "DOUBLE", "FLOAT", "BOOLEAN", "TIMESTAMP", "DATE"}


def read_frame(con, query: str):
    """The rows of a suite's query as the DataFrame GX validates: the same frame as
    ``validation_frame(con.sql(query).df())`` (tests/test_quality_checks.py compares them on every suite), read
    three times faster. DuckDB's own conversion makes each text value a str, pandas then packs them into a
    StringDtype column and validation_frame unpacks them into str objects again (3.6 s of the police.uk suite's
    13 s at 2 years of history); here the query runs once into Arrow, its text columns become object columns
    straight from Arrow (NaN for a NULL, as StringDtype's astype(object) gives; all-NULL or empty: None, as
    DuckDB gives), and DuckDB converts the other columns from the Arrow copy. Any other column type, or
    repeated column names, take DuckDB's own path."""
    import numpy as np
    import pandas as pd

    relation = con.sql(query)
    columns, types = relation.columns, [str(t) for t in relation.types]
    if len(set(columns)) < len(columns) or any(
            t != "VARCHAR" and t not in _ARROW_SAFE_TYPES and not t.startswith("DECIMAL(") for t in types):
        return validation_frame(relation.df())
    table = relation.to_arrow_table()
    others = [c for c, t in zip(columns, types) if t != "VARCHAR"]
    frame = con.from_arrow(table.select(others)).df() if others else pd.DataFrame(index=pd.RangeIndex(table.num_rows))
    for position, (column, type_) in enumerate(zip(columns, types)):
        if type_ != "VARCHAR":
            continue
        arrow = table.column(column)
        values = arrow.to_numpy(zero_copy_only=False)  # an object array: str, None for NULL
        if 0 < arrow.null_count < len(arrow):
            values[arrow.is_null().to_numpy(zero_copy_only=False)] = np.nan
        frame.insert(position, column, pd.Series(values, dtype=object, index=frame.index, copy=False))
    return frame


def _json(value) -> str | None:
    if value is None:
        return None
    return json.dumps(value, default=str, ensure_ascii=False)


def record_results(con, outcome: SuiteOutcome) -> None:
    con.execute("create schema if not exists marts")
    con.execute(DQ_RESULTS_DDL)
    columns = ["checked_at", "run_id", "suite", "asset_key", "expectation", "column_name", "severity", "success",
               "element_count", "unexpected_count", "unexpected_percent", "observed_value", "sample", "why", "kwargs"]
    con.executemany(
        f"insert into marts.dq_results ({', '.join(columns)}) values ({', '.join('?' for _ in columns)})",
        [[row[c] for c in columns] for row in outcome.rows],
    )


def docs_index(gx_dir: Path) -> Path:
    return gx_dir / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
