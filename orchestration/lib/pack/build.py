"""Build and archive the monitoring packs for a set of groups and quarters (what the Dagster asset calls).

One group failing does not stop the others: its error's class is returned (the details go to an owner-only file
under <reports>/errors/, as a traceback may quote partner text) and the caller fails the run after the rest are
written.
"""

from __future__ import annotations

import multiprocessing
import traceback
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from orchestration.lib.crime_exceptions import engine_rules
from orchestration.lib.pack.archive import archive_pack, archived_quarters, section_totals
from orchestration.lib.pack.model import Quarter, build_pack, latest_quarter_with_data, monitoring_groups
from orchestration.lib.pack.render import EngineRules
from orchestration.lib.private_files import private_dir, write_private
from orchestration.lib.warehouse import connect, utc_now


def _failure(reports_dir: Path, key: str, exc: BaseException) -> str:
    """What a failed pack tells the run: the exception's class and where its details are. The message and
    traceback (which could quote a value from the pack, partner free text included) go only to an owner-only
    file beside the archive, never to the run's logs or metadata."""
    folder = private_dir(reports_dir, Path(reports_dir) / "errors")
    name = f"{utc_now():%Y%m%dT%H%M%S}_{key.replace('/', '_')}.txt"
    write_private(folder / name, "".join(traceback.format_exception(exc)))
    return f"{type(exc).__name__} (details in {folder / name})"


RENDER_NICENESS = 10


def _archive_one(pack: dict, reports_dir: Path, engine: EngineRules, pdf: bool):
    """(Archived, None) or (None, what failed): the error's class and where its details are kept privately."""
    try:
        return archive_pack(pack, reports_dir, engine, pdf=pdf), None
    except Exception as exc:  # noqa: BLE001 - one group's failure stays with that group
        return None, _failure(reports_dir, f"{pack['quarter']['key']}/{pack['group']['code']}", exc)


def _default_quarters(con, reports_dir: Path) -> list[str]:
    # the current quarter, and every quarter already archived: a past quarter whose inputs changed gets a new
    # version; one whose content did not change costs a query and a hash, nothing is written
    return sorted(archived_quarters(reports_dir) | {latest_quarter_with_data(con).key})


def default_quarters(warehouse: Path, reports_dir: Path) -> list[str]:
    """The quarters a full build makes packs for (the pack_quarters partitions `make run` materializes)."""
    con = connect(warehouse, read_only=True)
    try:
        return _default_quarters(con, reports_dir)
    finally:
        con.close()


def build_packs(warehouse: Path, reports_dir: Path, *, quarters: list[str] | None = None,
                groups: list[str] | None = None, pdf: bool = True, log=print, workers: int | None = None) -> dict:
    alpha, min_events = engine_rules()
    engine = EngineRules(alpha=alpha, min_events=min_events)
    con = connect(warehouse, read_only=True)
    try:
        known = [g["group_code"] for g in monitoring_groups(con)]
        unknown = sorted(set(groups or []) - set(known))
        if unknown:
            raise ValueError(f"unknown monitoring groups {unknown} (seed monitoring_groups has {', '.join(known)})")
        chosen_groups = list(groups) if groups else known
        chosen_quarters = ([Quarter.parse(q) for q in quarters] if quarters
                           else [Quarter.parse(q) for q in _default_quarters(con, reports_dir)])
        contents = []
        failed = []
        for quarter in chosen_quarters:
            for group in chosen_groups:
                try:
                    contents.append(build_pack(con, group, quarter))
                except Exception as exc:  # noqa: BLE001 - one group's failure stays with that group
                    failed.append((f"{quarter.key}/{group}", _failure(reports_dir, f"{quarter.key}/{group}", exc)))
    finally:
        con.close()

    packs = []
    workers = max(1, min(workers or os.cpu_count() or 1, len(contents)))
    if workers > 1:
        # rendering (WeasyPrint above all) is CPU-bound: one process per core; each pack is independent
        # at a lower CPU priority (nice 10): rendering is background work, a partner file's run must not wait for it
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=os.nice, initargs=(RENDER_NICENESS,)) as pool:
            outcomes = list(pool.map(_archive_one, contents, [reports_dir] * len(contents),
                                     [engine] * len(contents), [pdf] * len(contents)))
    else:
        outcomes = [_archive_one(pack, reports_dir, engine, pdf) for pack in contents]
    for pack, (done, error) in zip(contents, outcomes):
        key = f"{pack['quarter']['key']}/{pack['group']['code']}"
        if error:
            failed.append((key, error))
            continue
        totals = section_totals(pack)
        log(f"{key}: v{done.version} ({'new' if done.is_new else 'unchanged'}) "
            + ", ".join(f"{k} {v}" for k, v in totals.items()))
        packs.append({"quarter": done.quarter, "group": done.group, "version": done.version, "is_new": done.is_new,
                      "folder": str(done.folder), "files": done.files, "changes": done.changes,
                      "section_totals": totals})
    return {"quarters": [q.key for q in chosen_quarters], "packs": packs, "failed": failed}
