"""DDL of the partner tables in the warehouse (schema ``raw``).

Only validated, *redacted* rows reach these tables: free text has been through redaction.py and the
submitter fields of the tension report form are dropped (only whether any were given is kept). The
unredacted original file stays in the restricted store on disk (store.py) until its retention ends.

- raw.partner_file_log: every arrival (accepted, duplicate, quarantined) — the audit trail.
- raw.partner_files: one row per accepted file; superseded_by is set when a corrected file for the same
  extract type, partner and period arrives. Rows of superseded files stay in the tables (history); staging
  reads only current files.
- raw.partner_<extract_type>: the rows, each with file_id, sheet (the worksheet; '' for CSV) and row_number
  (the spreadsheet row, header = 1).

``create_all`` also brings a warehouse made by an earlier version up to date without losing a row (columns
added in place; a row table whose key gained ``sheet`` is copied into the new shape in one transaction).
"""

from __future__ import annotations

FILE_LOG_DDL = """
create table if not exists raw.partner_file_log (
    file_id varchar not null,           -- see raw.partner_files (content hash when the name is unusable)
    content_sha256 varchar not null,    -- sha256 of the file's bytes
    extract_type varchar not null,
    file_name varchar not null,
    partner varchar,
    period varchar,
    received_at timestamp not null,     -- UTC
    outcome varchar not null,           -- accepted | duplicate | quarantined
    landing_path varchar,               -- where it was dropped, under the landing folder
    partner_from varchar,               -- file_name | folder | unknown (identity.py)
    period_from varchar,                -- file_name | rows
    row_count integer,
    error_count integer,
    supersedes varchar,                 -- file_id of the file this one replaced, if any
    quarantine_path varchar,
    message varchar
)
"""

FILES_DDL = """
create table if not exists raw.partner_files (
    -- sha256 of extract type, partner, period and the file's content hash: the same bytes sent again
    -- for the same partner and period are a duplicate; identical bytes for another period (a register
    -- that did not change between quarters) are that period's file.
    file_id varchar primary key,
    content_sha256 varchar not null,    -- sha256 of the file's bytes
    extract_type varchar not null,
    partner varchar not null,
    period varchar not null,            -- 2024, 2024-Q2, 2024-05, or from the rows 2023-01..2024-06
    period_start date not null,         -- the span the rows cover: the period, widened to its rows
    period_end date not null,
    file_name varchar not null,
    landing_path varchar,               -- where it was dropped, under the landing folder
    partner_from varchar,               -- file_name | folder | unknown: how the partner was known
    period_from varchar,                -- file_name | rows: how the period was known
    derivation varchar,                 -- the same, in words, with rows dated outside a named period
    sheets varchar[],                   -- worksheets read (empty for CSV)
    received_at timestamp not null,
    row_count integer not null,
    redacted_items integer not null,    -- personal-data items replaced in free text
    superseded_by varchar,              -- file_id of the corrected file that replaced this one
    superseded_at timestamp,
    restricted_path varchar,            -- the unredacted original, until purged
    original_purged_at timestamp
)
"""

ROW_TABLES = {
    "tension_reports": """
create table if not exists raw.partner_tension_reports (
    file_id varchar not null, sheet varchar not null default '', row_number integer not null,
    submitted_on date not null,
    source_type varchar not null,
    area_code varchar not null,
    area_description varchar,           -- redacted
    community_types varchar[] not null, -- empty list when none given
    tension_categories varchar[] not null,
    information varchar not null,       -- redacted
    has_submitter_details boolean not null,
    contact_consent boolean not null,   -- required since the form asks (blank is not "no")
    redacted_items integer not null,
    primary key (file_id, sheet, row_number)
)""",
    "incidents": """
create table if not exists raw.partner_incidents (
    file_id varchar not null, sheet varchar not null default '', row_number integer not null,
    incident_ref varchar not null,
    occurred_on date not null,
    reported_on date not null,          -- = occurred_on when the file left it blank
    area_code varchar not null,
    incident_type varchar not null,
    hate_strands varchar[] not null,
    community_type varchar,
    source_organisation varchar not null,
    description varchar,                -- redacted
    redacted_items integer not null,
    primary key (file_id, sheet, row_number)
)""",
    "tension_assessments": """
create table if not exists raw.partner_tension_assessments (
    file_id varchar not null, sheet varchar not null default '', row_number integer not null,
    assessment_date date not null,
    period_start date not null,
    period_end date not null,
    area_code varchar not null,
    community_type varchar not null,
    scale varchar not null,             -- eep6 | level4
    current_grade varchar not null,     -- '1'..'6' (eep6) or high | medium | low | none (level4)
    potential_grade varchar not null,
    rationale varchar,                  -- redacted
    assessed_by_role varchar,           -- redacted
    redacted_items integer not null,
    primary key (file_id, sheet, row_number)
)""",
    "community_impact_assessments": """
create table if not exists raw.partner_community_impact_assessments (
    file_id varchar not null, sheet varchar not null default '', row_number integer not null,
    cia_id varchar not null,
    trigger varchar not null,
    triggered_on date not null,
    area_code varchar not null,
    community_types varchar[] not null,
    subject varchar not null,           -- redacted
    status varchar not null,
    completed_on date,
    overall_risk varchar,
    redacted_items integer not null,
    primary key (file_id, sheet, row_number)
)""",
    "risk_register": """
create table if not exists raw.partner_risk_register (
    file_id varchar not null, sheet varchar not null default '', row_number integer not null,
    risk_id varchar not null,
    area_code varchar not null,
    raised_on date not null,
    description varchar not null,       -- redacted
    ppplem_heading varchar not null,
    likelihood integer not null,
    impact integer not null,
    residual_likelihood integer,
    residual_impact integer,
    action_plan_ref varchar,            -- redacted
    owner_role varchar not null,        -- redacted
    review_due date not null,
    status varchar not null,
    redacted_items integer not null,
    primary key (file_id, sheet, row_number)
)""",
}


# Columns added since the first release, per table: (name, type). Added in place when missing.
ADDED_COLUMNS = {
    "partner_file_log": [("landing_path", "varchar"), ("partner_from", "varchar"), ("period_from", "varchar")],
    "partner_files": [("landing_path", "varchar"), ("partner_from", "varchar"), ("period_from", "varchar"),
                      ("derivation", "varchar"), ("sheets", "varchar[]")],
}


def _columns(con, table: str) -> list[str]:
    return [r[0] for r in con.execute(
        "select column_name from information_schema.columns where table_schema = 'raw' and table_name = ? "
        "order by ordinal_position", [table]).fetchall()]


def _migrate_row_table(con, extract_type: str) -> None:
    """A row table from before worksheets were read gets the `sheet` key column, keeping every row."""
    table = f"partner_{extract_type}"
    existing = _columns(con, table)
    if not existing or "sheet" in existing:
        return
    con.execute("begin transaction")
    try:
        con.execute(f"alter table raw.{table} rename to {table}__before_sheet")
        con.execute(ROW_TABLES[extract_type])
        columns = ", ".join(existing)
        con.execute(f"insert into raw.{table} ({columns}, sheet) select {columns}, '' from raw.{table}__before_sheet")
        con.execute(f"drop table raw.{table}__before_sheet")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def create_all(con) -> None:
    con.execute("create schema if not exists raw")
    con.execute(FILE_LOG_DDL)
    con.execute(FILES_DDL)
    for table, columns in ADDED_COLUMNS.items():
        for name, type_ in columns:
            con.execute(f"alter table raw.{table} add column if not exists {name} {type_}")
    for name, ddl in ROW_TABLES.items():
        _migrate_row_table(con, name)
        con.execute(ddl)
