"""Ingest partner files from the landing folder: validate, redact, load, supersede, quarantine, purge.

One file at a time, all or nothing, and nothing lost:
- The file's bytes are read **once**; those bytes are hashed, parsed, loaded and kept as the original. The
  landing file is taken out of the landing folder afterwards only if it still holds exactly those bytes, and
  then by claiming it (landing.claim: moved aside by a rename and watched; if a writer still adds to it, it
  comes back and is read again): a file that changed while it was read (a copy still in progress) stays and
  is read again. A complete version supersedes every partial read of it (same landing path, earlier bytes a
  prefix of its own), whatever partner and period the partial rows suggested.
  A file some program still has open for writing is not read at all (landing.py).
- Partner and period come from the file name when it follows the convention, else from the partner folder
  and the rows' dates (identity.py); how is recorded. A name is never a reason to refuse a file.
- The file is identified by the sha256 of its bytes within its extract type, partner and period. The same
  file sent again is a *duplicate*: logged, removed from the landing folder, nothing else changes.
- Any problem (validate.py) quarantines the whole file: its bytes go to <restricted>/quarantine/ beside
  errors.csv and REPORT.md naming file, sheet, row, column, value and rule (the only place a cell value
  is quoted). Nothing from it reaches the warehouse; the data already accepted is untouched.
- An accepted file's free text is redacted (redaction.py), formula-leading text neutralised
  (safe_text.py), and the form's submitter fields dropped before one transaction writes raw.partner_files
  and raw.partner_<type>. A file with the same extract type, partner and period as a current file
  supersedes it (superseded_by is set; the old rows stay as history); when its partner is unknown, only a
  file at the same landing path for the same period does (a copy completed after a partial read).
  The unredacted original goes to <restricted>/originals/, the only place personal data is kept, and is
  purged after the retention period (purge_expired).
- Messages (raw.partner_file_log, the Dagster UI, logs) name rules, sheets, rows and columns, never a
  cell value; every restricted path is created 0700 / 0600.

No Dagster imports: the Dagster assets and sensor in orchestration/defs/partner_extracts.py call this.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

from orchestration.lib.partner_extracts import contracts as c
from orchestration.lib.partner_extracts import schema
from orchestration.lib.partner_extracts.identity import FileIdentity, identify
from orchestration.lib.partner_extracts.landing import MARKER_SUFFIXES, LandingFile, claim, open_for_writing
from orchestration.lib.partner_extracts.reader import FileProblem, Workbook, column_letter, read_bytes
from orchestration.lib.partner_extracts.redaction import redact
from orchestration.lib.partner_extracts.validate import Problem, validate
from orchestration.lib.private_files import private_dir, write_private
from orchestration.lib.safe_text import csv_row, md_cell, neutralise_formula
from orchestration.lib.warehouse import fetch_row, sha256_of

MISPLACED = "misplaced"  # the extract_type logged for a file outside every extract-type folder


@dataclass
class Outcome:
    path: str
    file_name: str
    extract_type: str
    file_id: str
    content_sha256: str
    outcome: str  # accepted | duplicate | quarantined | waiting (not read: still being written)
    landing_path: str = ""
    partner: str | None = None
    period: str | None = None
    identity: FileIdentity | None = None
    row_count: int = 0
    redacted_items: int = 0
    supersedes: str | None = None
    quarantine_path: str | None = None
    ignored_columns: list[str] = field(default_factory=list)  # positions ("sheet 'Q2' column K"), not names
    problems: list[Problem] = field(default_factory=list)
    left_in_landing: bool = False  # the file changed while being read: its new bytes are read next time
    message: str = ""

    def summary(self) -> str:
        return f"{self.landing_path or self.file_name}: {self.outcome}. {self.message}".strip()


def file_identity(extract_type: str, partner: str, period: str, content_sha256: str) -> str:
    return hashlib.sha256(f"{extract_type}/{partner}/{period}/{content_sha256}".encode()).hexdigest()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _unchanged(path: Path, before: os.stat_result, sha: str) -> bool | None:
    """Does the landing file still hold the bytes that were read? None when it is gone."""
    try:
        now = path.stat()
    except FileNotFoundError:
        return None
    if (now.st_ino, now.st_size, now.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns):
        return True
    try:
        return sha256_of(path) == sha
    except FileNotFoundError:
        return None


def _read_once(path: Path, extract_type: str, landing_path: str) -> tuple[Outcome, os.stat_result | None, bytes]:
    """The file's bytes, read once, with its stat before reading; an outcome 'waiting' (nothing read) while a
    program still has it open for writing."""
    if open_for_writing([path]):
        return (Outcome(path=str(path), file_name=path.name, extract_type=extract_type, file_id="", content_sha256="",
                        outcome="waiting", landing_path=landing_path,
                        message="a program still has it open for writing: left for the next run"), None, b"")
    before = path.stat()
    data = path.read_bytes()
    content = _sha(data)
    return (Outcome(path=str(path), file_name=path.name, extract_type=extract_type, file_id=content,
                    content_sha256=content, outcome="", landing_path=landing_path), before, data)


def _landing_root(path: Path, landing_path: str) -> Path:
    """The landing folder a file was found in (landing_path is its path under that folder)."""
    depth = len(Path(landing_path).parts)
    if depth and path.as_posix().endswith(Path(landing_path).as_posix()) and len(path.parents) >= depth:
        return path.parents[depth - 1]
    return path.parent


def _release(con, outcome: Outcome, path: Path, before: os.stat_result, now: datetime) -> None:
    """Take the landing file (and its marker) out of the landing folder only if it is exactly what was ingested,
    and then by claiming it (landing.claim: moved aside and watched, so a writer that still adds to it loses
    nothing); otherwise leave it and say so in the arrival's row of raw.partner_file_log (logged just before)."""
    same = _unchanged(path, before, outcome.content_sha256)
    if same is False or (same and open_for_writing([path])):
        outcome.left_in_landing = True
        outcome.message += (" The file changed while it was being read (a copy still in progress?): it was left "
                            "in the landing folder and will be read again; its complete version will supersede "
                            "this one.")
        con.execute("update raw.partner_file_log set message = ? where content_sha256 = ? and landing_path = ? "
                    "and received_at = ?", [outcome.message, outcome.content_sha256, outcome.landing_path, now])
        return
    if same:
        claim(path, _landing_root(path, outcome.landing_path), outcome.landing_path, outcome.content_sha256, before)
    for suffix in MARKER_SUFFIXES:
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def _partial_reads(con, extract_type: str, landing_path: str, data: bytes) -> list[str]:
    """Current files from the same landing path whose bytes are a prefix of `data`: partial reads of a copy
    that was still in progress (whatever partner and period their rows gave them), which `data` completes."""
    found = []
    for file_id, restricted_path in con.execute(
            "select file_id, restricted_path from raw.partner_files where extract_type = ? and landing_path = ? "
            "and superseded_by is null and original_purged_at is null", [extract_type, landing_path]).fetchall():
        try:
            earlier = Path(restricted_path).read_bytes()
        except OSError:
            continue
        if len(earlier) < len(data) and data.startswith(earlier):
            found.append(file_id)
    return found


def ingest(file: LandingFile, con, restricted_dir: Path, now: datetime) -> Outcome:
    """Ingest one waiting landing file (landing.scan) with an open read-write DuckDB connection."""
    if file.extract_type is None:
        return quarantine_misplaced(file, con, restricted_dir, now)
    return ingest_file(file.path, file.extract_type, con, restricted_dir, now, partner_folder=file.partner_folder,
                       landing_path=file.relative)


def ingest_file(path: Path, extract_type: str, con, restricted_dir: Path, now: datetime,
                partner_folder: str | None = None, landing_path: str | None = None) -> Outcome:
    """Ingest one landing file. Never raises for bad input; FileNotFoundError if another run took it."""
    extract = c.extract_types()[extract_type]
    schema.create_all(con)
    landing_path = landing_path or f"{extract_type}/{path.name}"
    outcome, before, data = _read_once(path, extract_type, landing_path)
    if outcome.outcome == "waiting":
        return outcome
    content = outcome.content_sha256
    problems: list[Problem] = []
    rows: list[dict] = []
    book: Workbook | None = None
    try:
        book = read_bytes(data, path.suffix, extract.column_names)
    except FileProblem as err:
        problems.append(Problem(path.name, err.row, err.column, None, err.rule, err.message, err.sheet))
    except Exception as err:  # noqa: BLE001 - a file the readers choke on is quarantined, not a crashed run
        problems.append(Problem(path.name, None, None, None, "unreadable",
                                f"the file could not be read ({type(err).__name__}); send it as CSV UTF-8"))
    else:
        outcome.ignored_columns = [
            f"{'sheet ' + repr(s.name) + ' ' if s.name else ''}column {column_letter(i)}"
            for s in book.sheets for i, h in enumerate(s.header, start=1) if h not in extract.column_names]
        rows, problems = validate(extract, book, path.name, now.date())

    info = identify(extract, path.name, partner_folder, rows) if rows else None
    if info is not None:
        outcome.identity, outcome.partner, outcome.period = info, info.partner, info.period
        outcome.file_id = file_identity(extract_type, info.partner, info.period, content)
        earlier = fetch_row(con, "select file_name, received_at from raw.partner_files where file_id = ?", [outcome.file_id])
        if earlier:
            outcome.outcome = "duplicate"
            outcome.message = (f"identical to {earlier[0]} accepted {earlier[1]:%Y-%m-%d %H:%M} UTC for the same "
                               "partner and period; nothing changed")
            _log(con, outcome, now)
            _release(con, outcome, path, before, now)
            return outcome
    if info is None and not problems:
        problems.append(Problem(path.name, None, None, None, "no_period",
                                "no row has a date, so the period the file covers is unknown"))
    if problems:
        return _quarantine(con, outcome, path, before, data, problems, restricted_dir, now)

    file_id = outcome.file_id
    frame, redacted_items = _redacted_frame(extract, rows, file_id)
    outcome.row_count, outcome.redacted_items = frame.height, redacted_items
    original_dir = private_dir(restricted_dir, restricted_dir / "originals" / extract_type / file_id)
    original = write_private(original_dir / path.name, data)
    try:
        con.execute("begin transaction")
        # the same partner and period; for an unknown partner, only the same file (landing path) for the same
        # period — two unnamed files never replace each other; and whatever the partner and period, a partial
        # read of this very file (an earlier version from the same landing path that this one continues)
        partial = _partial_reads(con, extract_type, landing_path, data)
        superseded = con.execute(
            """
            update raw.partner_files set superseded_by = ?, superseded_at = ?
            where extract_type = ? and superseded_by is null
              and ((partner = ? and period = ? and (? or landing_path = ?)) or file_id in (select unnest(?::varchar[])))
            returning file_id
            """,
            [file_id, now, extract_type, info.partner, info.period, info.partner_from != "unknown", landing_path,
             partial],
        ).fetchall()
        outcome.supersedes = ",".join(sorted(r[0] for r in superseded)) or None
        con.execute(
            """
            insert into raw.partner_files (file_id, content_sha256, extract_type, partner, period, period_start,
                period_end, file_name, landing_path, partner_from, period_from, derivation, sheets, received_at,
                row_count, redacted_items, restricted_path)
            values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [file_id, content, extract_type, info.partner, info.period, info.period_start, info.period_end, path.name,
             landing_path, info.partner_from, info.period_from, info.describe(), [s.name for s in book.sheets if s.name],
             now, frame.height, redacted_items, str(original)],
        )
        con.register("incoming_rows", frame.to_arrow())
        columns = ", ".join(frame.columns)
        con.execute(f"insert into raw.{extract.raw_table} ({columns}) select {columns} from incoming_rows")
        con.unregister("incoming_rows")
        outcome.outcome = "accepted"
        sheets = [s.name for s in book.sheets if s.name]
        outcome.message = (
            f"{frame.height} rows ({info.describe()})"
            + (f" from {len(sheets)} worksheets" if len(sheets) > 1 else "")
            + (f"; completes {len(partial)} partial read(s) of the same file" if partial else "")
            + (f"; supersedes {len(superseded) - len(partial)} earlier file(s) for the same partner and period"
               if len(superseded) > len(partial) else "")
            + (f"; {redacted_items} personal-data item(s) redacted" if redacted_items else "")
            + (f"; {len(outcome.ignored_columns)} column(s) not in the contract ignored "
               f"({', '.join(outcome.ignored_columns)})" if outcome.ignored_columns else "")
            + (f"; empty worksheet(s) skipped: {len(book.empty_sheets)}" if book.empty_sheets else "")
            + _rows_above_header(book)
        )
        _log(con, outcome, now)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        shutil.rmtree(original_dir, ignore_errors=True)
        raise
    _release(con, outcome, path, before, now)
    return outcome


def _rows_above_header(book: Workbook) -> str:
    skipped = [(s.name, r) for s in book.sheets for r in s.rows_above_header]
    if not skipped:
        return ""
    return f"; {len(skipped)} title row(s) above the header not read (" + ", ".join(
        f"{'sheet ' + repr(name) + ' ' if name else ''}row {row}" for name, row in skipped) + ")"


def _redacted_frame(extract: c.ExtractType, rows: list[dict], file_id: str) -> tuple[pl.DataFrame, int]:
    personal = [col.name for col in extract.columns if col.kind == c.PERSONAL]
    records, total = [], 0
    for row in rows:
        record = {"file_id": file_id, "sheet": row.get("sheet", ""), "row_number": row["row_number"]}
        items = 0
        for col in extract.columns:
            if col.kind == c.PERSONAL:
                continue
            value = row.get(col.name)
            if col.kind == c.TEXT:
                result = redact(value)
                value, items = result.text, items + result.items
            if col.kind in (c.TEXT, c.CODE):
                value = neutralise_formula(value)  # '=HYPERLINK(…)' stays text in any spreadsheet export
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
    result = {"file_id": pl.Utf8, "sheet": pl.Utf8, "row_number": pl.Int32}
    for col in extract.columns:
        if col.kind != c.PERSONAL:
            result[col.name] = types[col.kind]
    if any(col.kind == c.PERSONAL for col in extract.columns):
        result["has_submitter_details"] = pl.Boolean
    result["redacted_items"] = pl.Int32
    return result


def _quarantine(con, outcome: Outcome, path: Path, before: os.stat_result, data: bytes, problems: list[Problem],
                restricted_dir: Path, now: datetime) -> Outcome:
    folder = private_dir(restricted_dir, restricted_dir / "quarantine" / outcome.extract_type
                         / f"{now:%Y%m%dT%H%M%S%fZ}_{path.stem}")
    write_private(folder / path.name, data)
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=["file", "sheet", "row", "column", "value", "rule", "message"])
    writer.writeheader()
    writer.writerows(csv_row(p.as_dict()) for p in problems)
    write_private(folder / "errors.csv", buffer.getvalue())
    write_private(folder / "REPORT.md", quarantine_report(outcome, problems, now))
    outcome.outcome = "quarantined"
    outcome.problems = problems
    outcome.quarantine_path = str(folder)
    first = problems[0]
    outcome.message = (f"{len(problems)} problem(s); nothing loaded. First: {first.where}: {first.message} "
                       f"[{first.rule}]. Error report: {folder / 'errors.csv'}")
    _log(con, outcome, now)
    _release(con, outcome, path, before, now)
    return outcome


def quarantine_misplaced(file: LandingFile, con, restricted_dir: Path, now: datetime) -> Outcome:
    """A file outside every extract-type folder: quarantined with a report saying where it should go."""
    schema.create_all(con)
    outcome, before, data = _read_once(file.path, MISPLACED, file.relative)
    if outcome.outcome == "waiting":
        return outcome
    problem = Problem(file.path.name, None, None, None, "folder",
                      "the file is not inside an extract folder of the landing area: put it in one of "
                      + ", ".join(f"{name}/" for name in c.extract_types()) + " (a partner sub-folder inside it is fine)")
    return _quarantine(con, outcome, file.path, before, data, [problem], restricted_dir, now)


def quarantine_report(outcome: Outcome, problems: list[Problem], now: datetime) -> str:
    """REPORT.md for the partner (restricted store): values are quoted here, escaped for Markdown/HTML."""
    named = outcome.identity is not None and outcome.identity.partner_from == "file_name"
    lines = [
        f"# {md_cell(outcome.file_name)} was quarantined",
        "",
        f"Received {now:%Y-%m-%d %H:%M} UTC in landing/{md_cell(outcome.landing_path)}. Nothing from this file was "
        "loaded; data accepted earlier is unchanged. Fix the rows below and send the whole file again"
        + (" (the same file name is fine: it names the same partner and period)." if named else
           ". Naming it `<partner>_<period>.csv` (e.g. `gwent-police_2024-Q2.csv`) lets a corrected file replace "
           "an earlier one."),
        "",
        "| sheet | row | column | value | rule | problem |",
        "|---|---|---|---|---|---|",
    ]
    for p in problems:
        lines.append(f"| {md_cell(p.sheet)} | {p.row or ''} | {md_cell(p.column)} | {md_cell(p.value, 80)} | "
                     f"{md_cell(p.rule)} | {md_cell(p.message)} |")
    lines += ["", "The contract for each extract is in docs/partner-extracts/README.md; blank templates are in "
              "docs/partner-extracts/templates/."]
    return "\n".join(lines) + "\n"


def _log(con, outcome: Outcome, now: datetime) -> None:
    info = outcome.identity
    con.execute(
        """
        insert into raw.partner_file_log (file_id, content_sha256, extract_type, file_name, landing_path, partner,
            partner_from, period, period_from, received_at, outcome, row_count, error_count, supersedes,
            quarantine_path, message)
        values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        [outcome.file_id, outcome.content_sha256, outcome.extract_type, outcome.file_name, outcome.landing_path,
         outcome.partner, info.partner_from if info else None, outcome.period, info.period_from if info else None, now,
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
