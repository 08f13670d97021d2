"""data.police.uk street-level crime, one Dagster partition per month.

Materializing a month replaces that force-month in raw.police_uk_street_crimes (never appends); a
range of months runs as one run (single-run backfill) so a full rebuild is one load step, not 24.

The asset is two steps: ``download_months`` (live mode: which months police.uk has published, each month's
archive downloaded once to disk and every force's file extracted; it never opens the warehouse and holds no
``duckdb_warehouse`` slot, so a slow download does not hold up partner files or builds) and ``load_months``
(validate and load each force-month, in the pool). Snapshot mode reads the bundled files in ``load_months``.

Each month of a run succeeds or fails alone: a month whose every force loaded is recorded as
materialized for its partition at once (an ``AssetMaterialization`` per month), a month that failed is
not, and the run then fails with one paragraph per failed month (force, URL, reason, what was kept), so
Dagster shows the good months materialized and the bad ones failed. In live mode, months police.uk has
not published yet (``published_months``) are not asked for: they are reported "not published yet
(latest published: YYYY-MM)" and left unmaterialized, never failed by themselves.
"""


import json
import os
import re
import shutil
import tempfile
import traceback
import warnings
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path

import dagster as dg
import duckdb

from orchestration.defs.resources import OWNERS, WAREHOUSE_POOL, WarehouseResource
from orchestration.lib.http import FetchError, SourceFormatError
from orchestration.lib.loaders import LoadResult, load_police_uk_month, log_rejection, police_uk_month_held
from orchestration.lib.lsoa_bridge import SplitResolver
from orchestration.lib.police_uk import PoliceUkParseError
from orchestration.lib.sources.police_uk_api import (
    SCRATCH_PREFIX,
    ArchiveFile,
    MonthArchiveCache,
    Publication,
    archive_plan,
    archive_replaced,
    archive_validator,
    archive_zip_url,
    fetch_archive_file,
    make_client,
    published_months,
    sweep_scratch,
)
from orchestration.lib.warehouse import RunConnection
from orchestration.settings import SEEDS_DIR, get_settings

# Single-run backfills are marked beta in dagster 1.13; we rely on them deliberately (one run for a range).
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`")

# The first bundled month (all four Welsh forces from 2022-01); POLICE_UK_FIRST_MONTH (YYYY-MM) moves it.
FIRST_MONTH = os.environ.get("POLICE_UK_FIRST_MONTH", "2022-01") + "-01"
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


def monthly_partitions(mode: str, snapshots_dir: Path) -> dg.MonthlyPartitionsDefinition:
    """Snapshot: the bundled months. Live: open-ended, the newest partition two months back (police.uk
    publishes about two months in arrears; what is actually out is asked at run time)."""
    return dg.MonthlyPartitionsDefinition(
        start_date=FIRST_MONTH,
        end_date=_partition_end(snapshots_dir) if mode == "snapshot" else None,
        end_offset=0 if mode == "snapshot" else -1,
    )


_settings = get_settings()
police_uk_monthly_partitions = monthly_partitions(_settings.mode, _settings.snapshots_dir)
ASSET_KEY = dg.AssetKey(["raw", "police_uk_street_crimes"])


def live_forces() -> list[str]:
    """data.police.uk force ids to pull live (POLICE_UK_FORCES, comma-separated; default the four Welsh forces)."""
    value = os.environ.get("POLICE_UK_FORCES", "dyfed-powys,gwent,north-wales,south-wales")
    return [f.strip() for f in value.split(",") if f.strip()]


@cache
def _resolver(snapshots_dir: str) -> SplitResolver:
    return SplitResolver(
        SEEDS_DIR / "geography" / "lsoa11_lsoa21_exact_fit.csv",
        Path(snapshots_dir) / "boundaries" / "wales_lsoa21_bgc.geojson",
    )


class ForceMonthFailed(Exception):
    """One force-month that could not be loaded; ``str()`` is the one-paragraph message a user reads.
    ``unreachable``: the file could not be fetched (police.uk or the network failing, the disk full), so asking
    again tomorrow may well work; otherwise police.uk's file was refused (asking again gets the same file until
    police.uk replaces it)."""

    def __init__(self, message: str, unreachable: bool = False, refused_from: dict[str, dict] | None = None):
        super().__init__(message)
        self.unreachable = unreachable
        self.refused_from = refused_from or {}  # {archive URL: its version (archive_validator)} the file came in


def _one_line(text: str) -> str:
    return "; ".join(line.strip() for line in str(text).splitlines() if line.strip())


def downloads_folder(warehouse: WarehouseResource) -> Path:
    """data/downloads/police_uk: the kept copies (one folder per force) and, while a run downloads, its archive."""
    return warehouse.warehouse.parent / "downloads" / "police_uk"


def sweep_downloads(warehouse: WarehouseResource) -> list[Path]:
    """Delete what a killed live run left in the downloads folder (its archive, its scratch folders)."""
    folder = downloads_folder(warehouse)
    if not folder.is_dir():
        return []
    return [*sweep_scratch(folder), *(p for sub in sorted(folder.iterdir()) if sub.is_dir() and
                                      not sub.name.startswith(".") for p in sweep_scratch(sub))]


def landing_copy(warehouse: WarehouseResource, force: str, month: str) -> Path:
    """The kept copy of the last accepted live file: data/downloads/police_uk/<force>/YYYY-MM-<force>-street.csv.
    Not under the partner landing folder (data/landing), whose sensor would take it for a misplaced partner file."""
    return downloads_folder(warehouse) / force / f"{month}-{force}-street.csv"


def _kept(warehouse: WarehouseResource, force: str, month: str, landing: Path | None) -> str:
    try:
        rows, loaded_at = police_uk_month_held(warehouse.warehouse, force, month)
    except Exception as exc:  # noqa: BLE001 - the message must still be written when the warehouse is the problem
        return f"whatever the warehouse held for the force-month is untouched (it could not be read: {exc})"
    data = (f"the month keeps its {rows:,} rows from the last accepted load"
            f"{f' ({loaded_at:%Y-%m-%d %H:%M} UTC)' if loaded_at is not None else ''}" if rows
            else "nothing had been loaded for this force-month, and nothing was")
    if landing is not None:
        data += (f"; the landing copy {landing} is unchanged" if landing.exists()
                 else "; there is no landing copy yet")
    return data


def _rejection(exc: PoliceUkParseError) -> str:
    """Why the loader refused a file, in a line: the file, the problem and the first row errors."""
    shown = [str(e) for e in exc.errors[:5]]
    if len(exc.errors) > len(shown):
        shown.append(f"and {len(exc.errors) - len(shown)} more row errors")
    problem = getattr(exc, "reason", None) or exc.problem
    return "; ".join([f"{exc.path.name} rejected, nothing loaded", *([problem] if problem else []), *shown])


def _failed(month: str, force: str, location: str, reason: str, kept: str,
            unreachable: bool = False, refused_from: dict[str, dict] | None = None) -> ForceMonthFailed:
    return ForceMonthFailed(f"{month} {force}: {_one_line(reason)} (from {location}). Kept: {kept}.", unreachable,
                            refused_from)


@dataclass(frozen=True)
class NotFetched:
    """A force-month the download step could not get: where from, and why (the error's own words)."""

    url: str
    message: str  # str() of the error, for raw.load_log
    reason: str  # the reason with the number of tries, for the run's failure paragraph
    # not reached (HTTP error, timeout, connection, the disk) rather than refused (not a zip, no file for the force)
    unreachable: bool = False
    # the archives that came but were refused: {URL: its version (archive_validator)}, so that the live schedule can
    # ask police.uk (a HEAD) whether it has been replaced since
    refused_from: dict[str, dict] = field(default_factory=dict)


@dataclass(frozen=True)
class Staged:
    """What the download step hands the load step. Live: what police.uk has published, and per month and force
    the extracted file (``ArchiveFile``) or why not (``NotFetched``), in ``folder`` (deleted by the load step).
    Snapshot mode: empty (the bundled files are read where they are)."""

    publication: Publication | None = None
    note: str = ""
    folder: str | None = None
    files: dict[str, dict[str, ArchiveFile | NotFetched]] = field(default_factory=dict)


def _fetch(month: str, force: str, dest: Path, cache: MonthArchiveCache,
           publication_note: str, archive_month: str | None = None) -> ArchiveFile | NotFetched:
    """The force's file for ``month`` out of ``archive_month``'s archive (default: the month's own)."""
    try:
        return fetch_archive_file(month, force, dest, client=cache, archive_month=archive_month)
    except (FetchError, SourceFormatError) as exc:
        tries = getattr(exc, "attempts", 1)
        came = isinstance(exc, SourceFormatError) and cache.fetched is not None
        return NotFetched(str(exc.url), str(exc),
                          exc.reason + (f" after {tries} attempts" if tries > 1 else "") + publication_note,
                          unreachable=isinstance(exc, FetchError),
                          refused_from={cache.url: archive_validator(cache.fetched.headers)} if came else {})
    except OSError as exc:  # the disk, not the source: full, or the folder not writable
        url = archive_zip_url(archive_month or month)
        return NotFetched(url, f"{url}: {exc}", f"could not write the download under {dest.parent}: {exc}",
                          unreachable=True)


def _fetch_force(month: str, force: str, dest: Path, archive_month: str, shared: MonthArchiveCache,
                 own: MonthArchiveCache, publication_note: str) -> ArchiveFile | NotFetched:
    """The force's file for ``month`` out of the ``shared`` archive (``archive_month``'s, which a backfill's months
    share); if that archive cannot give it (it failed to download, or lacks the file), out of the month's ``own``
    archive, so one bad archive does not fail months that have a good one of their own."""
    item = _fetch(month, force, dest, shared, publication_note, archive_month)
    if isinstance(item, NotFetched) and archive_month != month:
        fallback = _fetch(month, force, dest, own, publication_note)
        if isinstance(fallback, NotFetched):
            fallback = NotFetched(fallback.url, fallback.message, f"{fallback.reason}; tried first in "
                                  f"{archive_month}.zip: {_one_line(item.reason)}",
                                  unreachable=fallback.unreachable or item.unreachable,
                                  refused_from={**item.refused_from, **fallback.refused_from})
        item = fallback
    return item


def _fetch_month(month: str, archive_month: str, forces: list[str], folder: Path, shared: MonthArchiveCache,
                 scratch: Path, publication_note: str) -> dict[str, ArchiveFile | NotFetched]:
    """Every force's file for ``month`` (``_fetch_force``); the month's own archive, if needed, is downloaded once."""
    with MonthArchiveCache(make_client(), scratch=scratch) as own:
        return {force: _fetch_force(month, force, folder / month / force, archive_month, shared, own,
                                    publication_note) for force in forces}


def _staged_line(month: str, files: dict[str, ArchiveFile | NotFetched]) -> str:
    """``2024-03: extracted gwent, south-wales from 2024-06.zip; north-wales: HTTP 404 …`` for the run's log."""
    by_archive: dict[str, list[str]] = {}
    for force, item in files.items():
        if isinstance(item, ArchiveFile):
            by_archive.setdefault(item.url.rstrip("/").rsplit("/", 1)[-1], []).append(force)
    got = "; ".join(f"{', '.join(forces)} from {name}" for name, forces in by_archive.items())
    return (f"{month}: extracted {got or 'no force'}" + "".join(
        f"; {force}: {_one_line(item.reason)}" for force, item in files.items() if isinstance(item, NotFetched)))


def stage_months(context, months: list[str], warehouse: WarehouseResource) -> Staged:
    """The download step (live mode): ask police.uk what is published, then download the archives once and extract
    every force's file, **without the warehouse**: a slow or failing download holds no ``duckdb_warehouse`` slot,
    so partner files, their emergency flash and builds go on. A new month comes from its own archive; a backfill's
    months share one archive per 36 (``archive_plan``), each falling back to its own archive if that one fails."""
    if warehouse.mode != "live":
        return Staged()
    for left in sweep_downloads(warehouse):
        context.log.info(f"deleted {left.name}, left in {left.parent} by a live run that was killed")
    publication, note = _publication(context)
    scratch = downloads_folder(warehouse)
    scratch.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-staged-", dir=scratch))
    files: dict[str, dict[str, ArchiveFile | NotFetched]] = {}
    wanted = [m for m in months if publication is None or publication.is_published(m)]
    # every month from the newest archive that holds it: a month asked for again comes in police.uk's latest vintage
    for archive_month, group in archive_plan(wanted, newest=publication.latest if publication else None).items():
        # one archive for up to 36 months (each holds its month and the 35 before), kept while they are extracted
        with MonthArchiveCache(make_client(), scratch=scratch) as shared:
            for month in group:
                files[month] = _fetch_month(month, archive_month, live_forces(), folder, shared, scratch, note)
                context.log.info(_staged_line(month, files[month]))
    return Staged(publication, note, str(folder), {m: files[m] for m in months if m in files})


def _load_live(force: str, month: str, warehouse: WarehouseResource, staged: ArchiveFile | NotFetched | None,
               publication_note: str, cache: MonthArchiveCache, shared: MonthArchiveCache | None = None,
               archive_month: str | None = None) -> LoadResult:
    """Load the force's file the download step extracted (or, when the load step runs without it - a run
    retried after its process died - download it now: from the run's ``shared`` archive (``archive_month``'s) as
    the download step would, else through the month's ``cache``; one archive for every force), and only then make
    it the kept landing copy; a rejected file is quarantined (by the loader) and the kept copy stays as it was."""
    landing = landing_copy(warehouse, force, month)
    landing.parent.mkdir(parents=True, exist_ok=True)
    incoming = None
    try:
        if staged is None or (isinstance(staged, ArchiveFile) and not staged.path.exists()):
            incoming = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-incoming-", dir=landing.parent))
            if shared is not None and archive_month is not None:
                staged = _fetch_force(month, force, incoming, archive_month, shared, cache, publication_note)
            else:
                staged = _fetch(month, force, incoming, cache, publication_note)
        if isinstance(staged, NotFetched):
            log_rejection(warehouse.warehouse, source="police_uk", dataset=f"street_crimes/{force}",
                          location=staged.url, error=RuntimeError(staged.message), mode="live", partition_key=month)
            raise _failed(month, force, staged.url, staged.reason, _kept(warehouse, force, month, landing),
                          unreachable=staged.unreachable, refused_from=staged.refused_from)
        got = staged
        try:
            result = load_police_uk_month(
                got.path, month, force, warehouse.warehouse, _resolver(str(warehouse.snapshots)),
                warehouse.quarantine, mode="live", location=got.location, archive_sizes=got.neighbour_sizes,
            )
        except PoliceUkParseError as exc:
            raise _failed(month, force, got.location, _rejection(exc),
                          _kept(warehouse, force, month, landing) + "; the file is quarantined under "
                          f"{warehouse.quarantine}", refused_from={got.requested: got.validator}) from None
        os.replace(got.path, landing)  # accepted: now it is the kept copy
        return result
    finally:
        if incoming is not None:
            shutil.rmtree(incoming, ignore_errors=True)


def _load_bundled(force: str, month: str, path: Path, warehouse: WarehouseResource,
                  con: duckdb.DuckDBPyConnection) -> LoadResult:
    try:
        return load_police_uk_month(path, month, force, warehouse.warehouse, _resolver(str(warehouse.snapshots)),
                                    warehouse.quarantine, mode=warehouse.mode, con=con)
    except PoliceUkParseError as exc:
        raise _failed(month, force, str(path), _rejection(exc),
                      _kept(warehouse, force, month, None) + f"; the file is quarantined under "
                      f"{warehouse.quarantine}") from None


@dataclass
class MonthOutcome:
    month: str
    results: dict[str, LoadResult] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    refused: bool = False  # a problem other than a file that could not be fetched (ForceMonthFailed.unreachable)
    refused_from: dict[str, dict] = field(default_factory=dict)  # {archive URL: version} its files were refused from

    @property
    def rows(self) -> int:
        return sum(r.row_count for r in self.results.values())


def _publication(context) -> tuple[Publication | None, str]:
    """What police.uk has published, or None (then every month is tried) and why not."""
    try:
        return published_months(), ""
    except (FetchError, SourceFormatError) as exc:
        context.log.warning(f"could not check which police.uk months are published ({_one_line(exc)}); "
                            "trying every requested month")
        return None, f" (which months are published could not be checked: {_one_line(exc.reason)})"


def _run_month(context, month: str, forces: list[str], files: dict, warehouse: WarehouseResource,
               staged: Staged, connection: RunConnection, shared: MonthArchiveCache | None = None,
               archive_month: str | None = None) -> MonthOutcome:
    """Load one month's forces into an outcome; live, a file the download step did not leave is fetched from the
    run's ``shared`` archive (``archive_month``'s) or the month's own."""
    outcome = MonthOutcome(month)
    live = warehouse.mode == "live"
    if live:
        month_files = {force: staged.files.get(month, {}).get(force) for force in forces}
    else:
        # the bundle has every force for 2022-01..11 and Gwent alone after: a force without a file for
        # the month is simply not loaded (the marts mark its LSOAs' months incomplete, never zero)
        month_files = {force: path for force in forces if (path := files.get((month, force))) is not None}
        if not month_files:
            outcome.refused = True
            outcome.problems.append(
                f"{month}: No bundled street-level file for {month} under {warehouse.snapshots / 'police_uk'}; "
                f"expected <force>/{month}-<force>-street.csv. Kept: {_kept_all(warehouse, forces, month)}.")
            return outcome
        absent = sorted(set(forces) - set(month_files))
        if absent:
            context.log.info(f"{month}: no bundled file for {', '.join(absent)} (those LSOAs stay rate-less)")
    # downloads only if a staged file is missing (a retried load step), then once for the month's forces
    with MonthArchiveCache(make_client(), scratch=downloads_folder(warehouse)) as cache:
        for force, item in month_files.items():
            _load_force(context, month, force, item, warehouse, staged, connection, cache, outcome, shared,
                        archive_month)
    return outcome


def _load_force(context, month: str, force: str, item, warehouse: WarehouseResource, staged: Staged,
                connection: RunConnection, cache: MonthArchiveCache, outcome: MonthOutcome,
                shared: MonthArchiveCache | None = None, archive_month: str | None = None) -> None:
    """One force-month into ``outcome``: its result, or its problem (logged)."""
    try:
        if warehouse.mode == "live":
            # each live load opens the warehouse itself
            result = _load_live(force, month, warehouse, item, staged.note, cache, shared, archive_month)
        else:
            result = _load_bundled(force, month, item, warehouse, connection.get())
    except ForceMonthFailed as exc:
        outcome.problems.append(str(exc))
        outcome.refused |= not exc.unreachable
        outcome.refused_from.update(exc.refused_from)
        context.log.error(str(exc))
        return
    except Exception as exc:  # noqa: BLE001 - an unexpected error fails this month, not the others
        connection.close()
        context.log.debug(traceback.format_exc())
        where = (item.location if isinstance(item, ArchiveFile) else item.url if isinstance(item, NotFetched)
                 else str(item or "the monthly archive"))
        message = str(_failed(month, force, where, f"unexpected {type(exc).__name__}: {exc}",
                              _kept(warehouse, force, month, None)))
        outcome.problems.append(message)
        outcome.refused = True
        if isinstance(item, ArchiveFile):
            outcome.refused_from[item.requested] = item.validator
        context.log.error(message)
        return
    outcome.results[force] = result
    context.log.info(f"{month} {force}: {result.outcome}, {result.row_count:,} rows "
                     f"(previously {result.details.get('previous_rows', 0):,}) from {result.location}")


def _kept_all(warehouse: WarehouseResource, forces: list[str], month: str) -> str:
    held = {force: police_uk_month_held(warehouse.warehouse, force, month)[0] for force in forces}
    rows = sum(held.values())
    return f"the month keeps its {rows:,} rows already loaded" if rows else "nothing was loaded for the month"


def _materialization(month: str, partition: str, outcome: MonthOutcome, mode: str) -> dg.AssetMaterialization:
    per_force = {
        force: {"outcome": r.outcome, "rows": r.row_count, "previous_rows": r.details.get("previous_rows"),
                "sha256": r.sha256, "location": r.location, **{k: v for k, v in r.details.items()
                                                                 if k != "previous_rows"}}
        for force, r in outcome.results.items()
    }
    return dg.AssetMaterialization(
        asset_key=ASSET_KEY,
        partition=partition,
        description=f"data.police.uk street-level crime {month}: "
                    + ", ".join(f"{f} {r.outcome} ({r.row_count:,} rows)" for f, r in outcome.results.items()),
        metadata={
            "dagster/row_count": outcome.rows,
            "month": month,
            "forces": ", ".join(outcome.results),
            "outcomes": ", ".join(sorted({r.outcome for r in outcome.results.values()})),
            "per_force": dg.MetadataValue.json(per_force),
            "release": f"data.police.uk street-level crime {month}",
            "mode": mode,
            "source": "police_uk",
            "licence": "Open Government Licence v3.0",
        },
    )


def retry_note(failed: list[str], unreachable: list[str]) -> str:
    """When the live schedule asks for the failed months again (schedule_run_requests)."""
    refused = [m for m in failed if m not in unreachable]
    parts = []
    if unreachable:
        parts.append(f"{', '.join(unreachable)} could not be fetched: asked for again at the live schedule's next "
                     "daily check;")
    if refused:
        parts.append(f"{', '.join(refused)} refused: asked for again once police.uk replaces the archive (the live "
                     "schedule asks daily) or publishes a newer one, or on the "
                     f"{RETRY_FAILED_DAY}th, or launch the partition from the UI once it is put right;")
    return " ".join(parts)


def failure_summary(loaded: list[str], failed: dict[str, list[str]], not_published: list[str],
                    latest: str | None, retry: str = "") -> str:
    """The one paragraph a failed run shows: what failed and why, what loaded, what was not out yet, and (live)
    when the failed months are asked for again."""
    parts = [f"police.uk: {len(failed)} month{'s' if len(failed) != 1 else ''} failed ({', '.join(failed)}), "
             "keeping the last good data;"]
    parts.append(f"{', '.join(loaded)} loaded and materialized;" if loaded else "no month loaded;")
    if not_published:
        parts.append(f"{', '.join(not_published)} not published yet (latest published: {latest});")
    if retry:
        parts.append(retry)
    parts.append(" ".join(problem for problems in failed.values() for problem in problems))
    return " ".join(parts)


def build_police_uk_asset(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The asset over the given partitions (the module's ``police_uk_street_crimes`` uses the mode's): two steps,
    ``download_months`` (live: what is published, the archives downloaded and extracted; no warehouse, no pool)
    and ``load_months`` (validate and load each force-month; in the ``duckdb_warehouse`` pool)."""

    @dg.op(name="download_months", tags={"source": "police_uk"},
           description="Live mode: ask police.uk which months are published, download the archives once (one per "
                       "36 months of a backfill: each archive holds its month and the 35 before) and extract every "
                       "force's street file, without touching the warehouse (so a slow download holds no "
                       "duckdb_warehouse slot). Snapshot mode: nothing to do.")
    def download_months(context: dg.OpExecutionContext, warehouse: WarehouseResource) -> Staged:
        return stage_months(context, [key[:7] for key in context.partition_keys], warehouse)

    @dg.op(name="load_months", pool=WAREHOUSE_POOL, tags={"source": "police_uk"},
           out=dg.Out(dg.Nothing, is_required=False),
           description="Validate and load each force-month into raw.police_uk_street_crimes; one materialization "
                       "per month that loaded for every force, one failure paragraph per month that did not.")
    def load_months(context: dg.OpExecutionContext, warehouse: WarehouseResource, staged: Staged):
        partitions = {key[:7]: key for key in context.partition_keys}
        months = list(partitions)
        publication = staged.publication
        if warehouse.mode == "live":
            forces, files = live_forces(), {}
        else:
            files = bundled_files(warehouse.snapshots)
            forces = sorted({force for _, force in files})
        loaded: list[str] = []
        failed: dict[str, list[str]] = {}
        unreachable: list[str] = []  # failed months whose every problem was a file that could not be fetched
        refused_from: dict[str, dict] = {}  # {archive URL: {its version..., "months": [refused from it]}}
        not_published: list[str] = []
        connection = RunConnection(warehouse.warehouse)
        # live: a file the download step did not leave (a retried load step) comes from the archive it would have
        # used (archive_plan), downloaded once for the run, not one archive per month
        plan = {m: a for a, group in archive_plan(
            [m for m in months if publication is None or publication.is_published(m)],
            newest=publication.latest if publication else None).items() for m in group}
        shared = MonthArchiveCache(make_client(), scratch=downloads_folder(warehouse)) if warehouse.mode == "live" \
            else None
        try:
            for month in months:
                if publication is not None and not publication.is_published(month):
                    not_published.append(month)
                    status = f"not published yet (latest published: {publication.latest})"
                    context.log.warning(f"{month}: {status}; nothing requested, the partition stays unmaterialized")
                    yield dg.AssetObservation(asset_key=ASSET_KEY, partition=partitions[month],
                                              description=f"{month}: {status}",
                                              metadata={"status": status, "latest_published": publication.latest,
                                                        "checked": publication.source})
                    continue
                outcome = _run_month(context, month, forces, files, warehouse, staged, connection, shared,
                                     plan.get(month))
                if outcome.problems:
                    failed[month] = outcome.problems
                    if not outcome.refused:
                        unreachable.append(month)
                    for url, version in outcome.refused_from.items():
                        refused_from.setdefault(url, {**version, "months": []})["months"].append(month)
                    if outcome.results:
                        context.log.warning(f"{month}: not materialized: "
                                            f"{', '.join(outcome.results)} loaded, but not every force did")
                    continue
                loaded.append(month)
                yield _materialization(month, partitions[month], outcome, warehouse.mode)
        finally:
            connection.close()
            if shared is not None:
                shared.close()
            if staged.folder is not None:
                shutil.rmtree(staged.folder, ignore_errors=True)
        if failed:
            retry = ""
            if warehouse.mode == "live":
                # the schedule reads these tags on the month's last failed run (months_to_retry)
                context.instance.add_run_tags(context.run_id, {
                    RETRY_TAG: ",".join(unreachable) or "-",
                    REFUSED_TAG: json.dumps(refused_from, sort_keys=True),
                    **({LATEST_TAG: publication.latest} if publication is not None else {})})
                retry = retry_note(list(failed), unreachable)
            raise dg.Failure(
                description=failure_summary(loaded, failed, not_published,
                                            publication.latest if publication else None, retry),
                metadata={"failed_months": ", ".join(failed), "loaded_months": ", ".join(loaded),
                          "not_published_months": ", ".join(not_published),
                          "unreachable_months": ", ".join(unreachable),
                          "problems": dg.MetadataValue.json(failed)},
                allow_retries=False,
            )
        if not_published:
            context.log.info(f"police.uk: {', '.join(not_published)} not published yet (latest published: "
                             f"{publication.latest}); {', '.join(loaded) or 'no month'} loaded")

    @dg.graph_asset(
        key=ASSET_KEY,
        group_name="raw_police_uk",
        description=(
            "data.police.uk street-level crime and anti-social behaviour, one partition per month, for every "
            "force with data (bundled: all four Welsh forces 2022-01 to 2022-11, Gwent Police on to 2024-06). A "
            "month where a force has no file is loaded for the forces that have one; its LSOAs stay counted but "
            "rate-less (marts.fct_crime_monthly.is_complete). Validated row by row, and a file with far fewer "
            "rows than the month's last accepted load is refused (POLICE_UK_MAX_ROW_DROP); a bad file is "
            "quarantined and the month's previous data is kept. Each month of a run is materialized or failed "
            "on its own; live, a month police.uk has not published yet is skipped and reported, and the "
            "archives are downloaded in a step of their own, outside the duckdb_warehouse pool. Also writes "
            "raw.police_uk_split_points, the 2021 LSOA of each snap point that lies in a 2011 LSOA ONS later "
            "split. Licence: OGL v3.0."
        ),
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        kinds={"python", "duckdb"},
        owners=OWNERS,
        tags={"source": "police_uk"},
        metadata={"licence": "Open Government Licence v3.0", "publisher": "data.police.uk (Home Office)"},
    )
    def police_uk_street_crimes():
        # each month is recorded by its own AssetMaterialization as it loads; no output for the whole range
        return load_months(download_months())

    return police_uk_street_crimes


police_uk_street_crimes = build_police_uk_asset(police_uk_monthly_partitions)


# ---------------------------------------------------------------------------------------------- live schedule
RETRY_FAILED_DAY = 20  # the day of the month a live tick asks again for every failed month (an archive replaced)
# on a failed live run: the months of the run whose every problem was a file that could not be fetched ("-": none)
RETRY_TAG = "cohesion/police_uk_unreachable_months"
LATEST_TAG = "cohesion/police_uk_latest_published"  # on a failed live run: the newest archive police.uk had then
# on a failed live run: JSON {archive URL: {"etag", "last_modified", "content_length" (those sent), "months": [...]}},
# the archives files were refused from, as they were then; a tick asks (HEAD) whether police.uk has replaced one
REFUSED_TAG = "cohesion/police_uk_refused_archives"
HEADS_PER_TICK = 8  # archives a tick asks about at most (each a HEAD of two quick tries); the rest wait a day
RUNS_LOOKED_AT = 200  # failed runs a tick reads for RETRY_TAG, newest first


def _run_covers(run: dg.DagsterRun, key: str) -> bool:
    """Whether a run targeted the partition key: in its range (single-run backfill; ISO dates compare as text)
    or its one partition."""
    tags = run.tags
    first, last = tags.get("dagster/asset_partition_range_start"), tags.get("dagster/asset_partition_range_end")
    if first and last:
        return first <= key <= last
    return tags.get("dagster/partition") == key


def _refused_archives(run: dg.DagsterRun) -> dict[str, dict]:
    try:
        archives = json.loads(run.tags.get(REFUSED_TAG) or "{}")
    except ValueError:
        return {}
    return archives if isinstance(archives, dict) else {}


class ArchiveCheck:
    """Whether an archive a month was refused from has been replaced since (``archive_replaced``: one HEAD), asked
    once per archive in a tick and for at most ``limit`` archives (a tick has a time limit; the rest wait a day)."""

    def __init__(self, limit: int = HEADS_PER_TICK):
        self.limit = limit
        self.answers: dict[str, bool | None] = {}

    def __call__(self, url: str, version: dict) -> bool | None:
        if url not in self.answers:
            if len(self.answers) >= self.limit:
                return None
            try:
                self.answers[url] = archive_replaced(url, {k: v for k, v in version.items() if k != "months"})
            except Exception:  # noqa: BLE001 - a tick never fails on this question: the month waits, as before
                self.answers[url] = None
        return self.answers[url]

    def summary(self) -> str:
        """`` (asked police.uk whether it replaced 2024-04.zip: no)`` for the tick's skip message; empty if none."""
        words = {True: "yes", False: "no", None: "cannot tell"}
        asked = [f"{url.rstrip('/').rsplit('/', 1)[-1]}: {words[answer]}" for url, answer in self.answers.items()]
        return f" (asked police.uk whether it replaced {', '.join(asked)})" if asked else ""


def months_to_retry(instance: dg.DagsterInstance, keys: list[str], latest: str,
                    replaced: ArchiveCheck | None = None) -> set[str]:
    """Of ``keys`` (failed partitions), those to ask for again now, as their last failed live run says:
    - its file could not be fetched (RETRY_TAG: a police.uk outage, a timeout, a full disk): such a failure
      usually passes, so at the next tick instead of the 20th;
    - its file was refused and police.uk has published a newer archive than it had then (LATEST_TAG older than
      ``latest``): the month is taken from the newest archive (archive_plan), which holds police.uk's latest
      vintage of it, so that a month police.uk put right is in within a day, not only on the 20th;
    - its file was refused and police.uk has since replaced an archive it was refused from under the same name
      (REFUSED_TAG: its ETag, Last-Modified or size differ now; ``replaced`` asks, one HEAD per archive).
    A month whose last failed run left no tags (a run killed, or from before these tags) waits for the 20th, as does
    one whose archives cannot be asked about (no such header, or the HEAD failed)."""
    wanted, decided, again = set(keys), set(), set()
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]), limit=RUNS_LOOKED_AT)
    for run in runs:  # newest first
        covered = [k for k in wanted - decided if _run_covers(run, k)]  # only police.uk's keys are months
        if not covered:
            continue
        named = set(run.tags.get(RETRY_TAG, "").split(","))
        newer_archive = RETRY_TAG in run.tags and run.tags.get(LATEST_TAG, latest) < latest
        archives = _refused_archives(run) if replaced is not None else {}
        for key in covered:
            decided.add(key)
            if key[:7] in named or newer_archive or any(
                    key[:7] in version.get("months", ()) and replaced(url, version)
                    for url, version in archives.items() if isinstance(version, dict)):
                again.add(key)
        if decided == wanted:
            break
    return again


def months_to_request(instance: dg.DagsterInstance, partitions_def: dg.PartitionsDefinition,
                      publication: Publication, retry_failed: bool = True,
                      replaced: ArchiveCheck | None = None) -> list[tuple[str, str]]:
    """The partition ranges (first, last key) a live schedule tick should run: every published month
    (up to ``publication.latest``) not yet materialized, failed months to ask for again now (``months_to_retry``:
    unreachable, or refused before a newer archive was out or before its archive was replaced), and with
    ``retry_failed`` every month whose last attempt failed; months in progress are left to their run. Consecutive
    months make one range (one run, single-run backfill)."""
    keys = [k for k in partitions_def.get_partition_keys() if publication.is_published(k[:7])]
    if not keys:
        return []
    status = instance.get_status_by_partition(ASSET_KEY, keys, partitions_def) or {}
    failed = [k for k in keys if status.get(k) == dg.AssetPartitionStatus.FAILED]
    again = set(failed) if retry_failed else months_to_retry(instance, failed, publication.latest, replaced) \
        if failed else set()
    wanted = [status.get(k) is None or k in again for k in keys]
    ranges: list[tuple[str, str]] = []
    for index, key in enumerate(keys):
        if not wanted[index]:
            continue
        if index and wanted[index - 1]:
            ranges[-1] = (ranges[-1][0], key)
        else:
            ranges.append((key, key))
    return ranges


def schedule_run_requests(instance: dg.DagsterInstance, partitions_def: dg.PartitionsDefinition, tick: str,
                          publication: Publication | None = None, retry_failed: bool = True,
                          replaced: ArchiveCheck | None = None) -> list[dg.RunRequest] | dg.SkipReason:
    """What the live police.uk schedule asks for at a tick: ask police.uk what is published, then one run
    per range of ``months_to_request``. Never raises: a failed check is a skip, tried again next tick."""
    if publication is None:
        try:
            publication = published_months()
        except (FetchError, SourceFormatError) as exc:
            return dg.SkipReason(f"could not check which police.uk months are published: {_one_line(exc)}; "
                                 "trying again at the next tick")
    replaced = ArchiveCheck() if replaced is None else replaced
    ranges = months_to_request(instance, partitions_def, publication, retry_failed, replaced)
    if not ranges:
        if retry_failed:
            return dg.SkipReason(f"every published police.uk month is loaded (latest published: "
                                 f"{publication.latest})")
        return dg.SkipReason(f"no new police.uk month (latest published: {publication.latest}); months whose "
                             "file was refused are asked for again once police.uk replaces the archive they were "
                             f"refused from or publishes a newer one, or on the {RETRY_FAILED_DAY}th"
                             f"{replaced.summary()}")
    return [
        dg.RunRequest(
            run_key=f"police_uk-{first[:7]}-{last[:7]}-at-{tick}",
            tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last,
                  "cohesion/latest_published": publication.latest},
        )
        for first, last in ranges
    ]
