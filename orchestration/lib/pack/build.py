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


def _render_worker_init(pdf: bool) -> None:
    """In each rendering process before its first pack: background priority (nice 10: rendering is background
    work, a partner file's run must not wait for it) and WeasyPrint imported while the packs are still being read."""
    os.nice(RENDER_NICENESS)
    if pdf:
        import weasyprint  # noqa: F401


def build_packs(warehouse: Path, reports_dir: Path, *, quarters: list[str] | None = None,
                groups: list[str] | None = None, pdf: bool = True, log=print, workers: int | None = None) -> dict:
    """Read each (quarter, group) pack from the warehouse and archive it (render, write, manifest); one group's
    failure is recorded and the rest go on. Rendering (WeasyPrint above all) is CPU-bound and each pack is
    independent, so the packs render in one process per core, each pack handed over as soon as it is read: the
    rendering starts while the later packs are still being read."""
    alpha, min_events = engine_rules()
    engine = EngineRules(alpha=alpha, min_events=min_events)
    con = connect(warehouse, read_only=True)
    pool = None
    try:
        known = [g["group_code"] for g in monitoring_groups(con)]
        unknown = sorted(set(groups or []) - set(known))
        if unknown:
            raise ValueError(f"unknown monitoring groups {unknown} (seed monitoring_groups has {', '.join(known)})")
        chosen_groups = list(groups) if groups else known
        chosen_quarters = ([Quarter.parse(q) for q in quarters] if quarters
                           else [Quarter.parse(q) for q in _default_quarters(con, reports_dir)])
        workers = max(1, min(workers or os.cpu_count() or 1, len(chosen_quarters) * len(chosen_groups)))
        if workers > 1:
            pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_render_worker_init, initargs=(pdf,))
        contents, pending = [], []
        failed = []
        try:
            for quarter in chosen_quarters:
                for group in chosen_groups:
                    try:
                        pack = build_pack(con, group, quarter)
                    except Exception as exc:  # noqa: BLE001 - one group's failure stays with that group
                        failed.append((f"{quarter.key}/{group}", _failure(reports_dir, f"{quarter.key}/{group}", exc)))
                        continue
                    contents.append(pack)
                    if pool is not None:
                        pending.append(pool.submit(_archive_one, pack, reports_dir, engine, pdf))
        finally:
            con.close()
        if pool is not None:
            outcomes = [future.result() for future in pending]
        else:
            outcomes = [_archive_one(pack, reports_dir, engine, pdf) for pack in contents]
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)

    packs = []
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
