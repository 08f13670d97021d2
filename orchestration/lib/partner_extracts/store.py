"""Ingest partner files from the landing folder: validate, redact, load, supersede, quarantine, purge.

One file at a time, all or nothing:
- The file is identified by the sha256 of its bytes within its extract type, partner and period (from
  the file name). The same file sent again is a *duplicate*: logged, removed from the landing folder,
  nothing else changes.
- Any problem (validate.py) quarantines the whole file: it moves to <restricted>/quarantine/ beside
  errors.csv and REPORT.md naming file, row, column, value and rule. Nothing from it reaches the
  warehouse; the data already accepted is untouched.
- An accepted file's free text is redacted (redaction.py) and the form's submitter fields are dropped
  before one transaction writes raw.partner_files and raw.partner_<type>. A file with the same extract
  type, partner and period as a current file supersedes it (superseded_by is set; the old rows stay as
  history). The unredacted original moves to <restricted>/originals/, the only place personal data is
  kept, and is purged after the retention period (purge_expired).

No Dagster imports: the Dagster assets and sensor in orchestration/defs/partner_extracts.py call this.
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

from orchestration.lib.partner_extracts import contracts as c
from orchestration.lib.partner_extracts import schema
from orchestration.lib.partner_extracts.reader import FileProblem, read_file
from orchestration.lib.partner_extracts.redaction import redact
from orchestration.lib.partner_extracts.validate import Problem, parse_file_name, validate
from orchestration.lib.warehouse import fetch_row, sha256_of

IGNORED_PREFIXES = (".", "~$")  # hidden files, Excel lock files
IGNORED_SUFFIXES = (".tmp", ".part", ".crdownload", ".partial")
PRIVATE_DIR_MODE = 0o700


@dataclass
class Outcome:
    path: str
    file_name: str
    extract_type: str
    file_id: str
    content_sha256: str
    outcome: str  # accepted | duplicate | quarantined
    partner: str | None = None
    period: str | None = None
    row_count: int = 0
    redacted_items: int = 0
    supersedes: str | None = None
    quarantine_path: str | None = None
    ignored_columns: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    message: str = ""

    def summary(self) -> str:
        return f"{self.extract_type}/{self.file_name}: {self.outcome}. {self.message}".strip()


def landing_folders(landing_dir: Path) -> dict[str, Path]:
    return {name: landing_dir / name for name in c.extract_types()}


def ensure_landing(landing_dir: Path) -> None:
    for folder in landing_folders(landing_dir).values():
        folder.mkdir(parents=True, exist_ok=True)


def is_candidate(path: Path) -> bool:
    name = path.name
    return path.is_file() and not name.startswith(IGNORED_PREFIXES) and not name.lower().endswith(IGNORED_SUFFIXES)


def pending_files(landing_dir: Path, extract_type: str) -> list[Path]:
    """Files waiting in one landing folder, oldest first (arrival order decides which file supersedes)."""
    folder = landing_dir / extract_type
    if not folder.is_dir():
        return []
    files = []
    for path in folder.iterdir():
        try:
            if is_candidate(path):
                files.append((path.stat().st_mtime_ns, path.name, path))
        except FileNotFoundError:
            continue  # taken by another run while listing
    return [path for _, _, path in sorted(files)]


def file_identity(extract_type: str, partner: str, period: str, content_sha256: str) -> str:
    return hashlib.sha256(f"{extract_type}/{partner}/{period}/{content_sha256}".encode()).hexdigest()


def _private_dir(restricted_dir: Path, path: Path) -> Path:
    """Create a folder inside the restricted store; the store's root is readable by its owner only."""
    restricted_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(restricted_dir, PRIVATE_DIR_MODE)
    path.mkdir(parents=True, exist_ok=True)
    return path


def ingest_file(path: Path, extract_type: str, con, restricted_dir: Path, now: datetime) -> Outcome:
    """Ingest one landing file with an open read-write DuckDB connection. Never raises for bad input."""
    extract = c.extract_types()[extract_type]
    schema.create_all(con)
    content = sha256_of(path)
    outcome = Outcome(path=str(path), file_name=path.name, extract_type=extract_type, file_id=content,
                      content_sha256=content, outcome="")
    problems: list[Problem] = []
    rows: list[dict] = []
    try:
        info = parse_file_name(path.name, extract_type)
    except ValueError as err:
        info = None
        problems.append(Problem(path.name, None, None, path.name, "file_name", str(err)))
    else:
        outcome.partner, outcome.period = info.partner, info.period
        outcome.file_id = file_identity(extract_type, info.partner, info.period, content)
        earlier = fetch_row(con, "select file_name, received_at from raw.partner_files where file_id = ?", [outcome.file_id])
        if earlier:
            outcome.outcome = "duplicate"
            outcome.message = (f"identical to {earlier[0]} accepted {earlier[1]:%Y-%m-%d %H:%M} UTC for the same "
                               "partner and period; nothing changed")
            _log(con, outcome, now)
            path.unlink()
            return outcome
        try:
            sheet = read_file(path)
        except FileProblem as err:
            problems.append(Problem(path.name, err.row, err.column, None, err.rule, err.message))
        except Exception as err:  # noqa: BLE001 - a file the readers choke on is quarantined, not a crashed run
            problems.append(Problem(path.name, None, None, None, "unreadable",
                                    f"the file could not be read ({type(err).__name__}: {err}); send it as CSV UTF-8"))
        else:
            outcome.ignored_columns = [h for h in sheet.header if h not in extract.column_names]
            rows, problems = validate(extract, sheet, info, now.date())

    if problems:
        return _quarantine(con, outcome, path, problems, restricted_dir, now)

    file_id = outcome.file_id
    frame, redacted_items = _redacted_frame(extract, rows, file_id)
    outcome.row_count, outcome.redacted_items = frame.height, redacted_items
    original_dir = _private_dir(restricted_dir, restricted_dir / "originals" / extract_type / file_id)
    original = original_dir / path.name
    shutil.copy2(path, original.with_name(original.name + ".partial"))
    os.replace(original.with_name(original.name + ".partial"), original)
    try:
        con.execute("begin transaction")
        superseded = con.execute(
            """
            update raw.partner_files set superseded_by = ?, superseded_at = ?
            where extract_type = ? and partner = ? and period = ? and superseded_by is null
            returning file_id
            """,
            [file_id, now, extract_type, info.partner, info.period],
        ).fetchall()
        outcome.supersedes = ",".join(sorted(r[0] for r in superseded)) or None
        con.execute(
            """
            insert into raw.partner_files (file_id, content_sha256, extract_type, partner, period, period_start,
                period_end, file_name, received_at, row_count, redacted_items, restricted_path)
            values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [file_id, content, extract_type, info.partner, info.period, info.period_start, info.period_end, path.name, now,
             frame.height, redacted_items, str(original)],
        )
        con.register("incoming_rows", frame.to_arrow())
        columns = ", ".join(frame.columns)
        con.execute(f"insert into raw.{extract.raw_table} ({columns}) select {columns} from incoming_rows")
        con.unregister("incoming_rows")
        outcome.outcome = "accepted"
        outcome.message = (
            f"{frame.height} rows from {info.partner} for {info.period}"
            + (f"; supersedes {len(superseded)} earlier file(s) for the same partner and period" if superseded else "")
            + (f"; {redacted_items} personal-data item(s) redacted" if redacted_items else "")
            + (f"; columns not in the contract ignored: {', '.join(outcome.ignored_columns)}" if outcome.ignored_columns else "")
        )
        _log(con, outcome, now)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        shutil.rmtree(original_dir, ignore_errors=True)
        raise
    path.unlink()
    return outcome


def _redacted_frame(extract: c.ExtractType, rows: list[dict], file_id: str) -> tuple[pl.DataFrame, int]:
    text_columns = [col.name for col in extract.columns if col.kind == c.TEXT]
    personal = [col.name for col in extract.columns if col.kind == c.PERSONAL]
    records, total = [], 0
    for row in rows:
        record = {"file_id": file_id, "row_number": row["row_number"]}
        items = 0
        for col in extract.columns:
            if col.kind == c.PERSONAL:
                continue
            value = row.get(col.name)
            if col.name in text_columns:
                result = redact(value)
                value, items = result.text, items + result.items
            record[col.name] = value
        if personal:
            record["has_submitter_details"] = any(row.get(name) for name in personal)
        record["redacted_items"] = items
        total += items
        records.append(record)
    schema_ = _polars_schema(extract)
    return pl.DataFrame(records, schema=schema_, orient="row"), total


def _polars_schema(extract: c.ExtractType) -> dict:
    types = {c.TEXT: pl.Utf8, c.CODE: pl.Utf8, c.ENUM: pl.Utf8, c.ENUM_LIST: pl.List(pl.Utf8), c.DATE: pl.Date,
             c.INT: pl.Int32, c.GRADE: pl.Utf8, c.AREA: pl.Utf8, c.YES_NO: pl.Boolean}
    result = {"file_id": pl.Utf8, "row_number": pl.Int32}
    for col in extract.columns:
        if col.kind != c.PERSONAL:
            result[col.name] = types[col.kind]
    if any(col.kind == c.PERSONAL for col in extract.columns):
        result["has_submitter_details"] = pl.Boolean
    result["redacted_items"] = pl.Int32
    return result


def _quarantine(con, outcome: Outcome, path: Path, problems: list[Problem], restricted_dir: Path, now: datetime) -> Outcome:
    folder = _private_dir(restricted_dir, restricted_dir / "quarantine" / outcome.extract_type / f"{now:%Y%m%dT%H%M%S%fZ}_{path.stem}")
    shutil.move(str(path), folder / path.name)
    with open(folder / "errors.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["file", "row", "column", "value", "rule", "message"])
        writer.writeheader()
        writer.writerows(p.as_dict() for p in problems)
    (folder / "REPORT.md").write_text(quarantine_report(outcome.extract_type, path.name, problems, now), encoding="utf-8")
    outcome.outcome = "quarantined"
    outcome.problems = problems
    outcome.quarantine_path = str(folder)
    first = problems[0]
    where = f"row {first.row}" if first.row else "file"
    outcome.message = (f"{len(problems)} problem(s); nothing loaded. First: {where}"
                       f"{', column ' + first.column if first.column else ''}: {first.message}. "
                       f"Error report: {folder / 'errors.csv'}")
    _log(con, outcome, now)
    return outcome


def quarantine_report(extract_type: str, file_name: str, problems: list[Problem], now: datetime) -> str:
    lines = [
        f"# {file_name} was quarantined",
        "",
        f"Received {now:%Y-%m-%d %H:%M} UTC in landing/{extract_type}/. Nothing from this file was loaded; "
        "data accepted earlier is unchanged. Fix the rows below and send the whole file again "
        "(the same file name is fine).",
        "",
        "| row | column | value | rule | problem |",
        "|---|---|---|---|---|",
    ]
    for p in problems:
        value = "" if p.value is None else str(p.value).replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {p.row or ''} | {p.column or ''} | {value[:80]} | {p.rule} | {p.message} |")
    lines += ["", "The contract for each extract is in docs/partner-extracts/README.md; blank templates are in "
              "docs/partner-extracts/templates/."]
    return "\n".join(lines) + "\n"


def _log(con, outcome: Outcome, now: datetime) -> None:
    con.execute(
        """
        insert into raw.partner_file_log (file_id, content_sha256, extract_type, file_name, partner, period,
            received_at, outcome, row_count, error_count, supersedes, quarantine_path, message)
        values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        [outcome.file_id, outcome.content_sha256, outcome.extract_type, outcome.file_name, outcome.partner, outcome.period, now,
         outcome.outcome, outcome.row_count if outcome.outcome == "accepted" else None,
         len(outcome.problems) if outcome.outcome == "quarantined" else None, outcome.supersedes,
         outcome.quarantine_path, outcome.message],
    )


@dataclass
class PurgeResult:
    originals: int
    quarantined: int


def purge_expired(con, restricted_dir: Path, retention_days: int, now: datetime) -> PurgeResult:
    """Delete unredacted originals and quarantined files received more than retention_days ago."""
    schema.create_all(con)
    cutoff = now - timedelta(days=retention_days)
    expired = con.execute(
        "select file_id, restricted_path from raw.partner_files where original_purged_at is null and received_at < ?",
        [cutoff],
    ).fetchall()
    for file_id, restricted_path in expired:
        if restricted_path:
            shutil.rmtree(Path(restricted_path).parent, ignore_errors=True)
        con.execute("update raw.partner_files set original_purged_at = ? where file_id = ?", [now, file_id])
    quarantined = 0
    quarantine_root = restricted_dir / "quarantine"
    if quarantine_root.is_dir():
        for folder in sorted(quarantine_root.glob("*/*")):
            try:
                stamp = datetime.strptime(folder.name.split("_", 1)[0], "%Y%m%dT%H%M%S%fZ")
            except ValueError:
                continue
            if stamp < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
                quarantined += 1
    return PurgeResult(originals=len(expired), quarantined=quarantined)
