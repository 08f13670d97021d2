"""Build and archive the monitoring packs for a set of groups and quarters (what the Dagster asset calls).

One group failing does not stop the others: its error is returned (type and message only; no value from a
partner file is put in a message here) and the caller fails the run after the rest are written.
"""

from __future__ import annotations

import multiprocessing
import os
import re
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from orchestration.lib.crime_exceptions import engine_rules
from orchestration.lib.pack.archive import archive_pack, section_totals
from orchestration.lib.pack.model import Quarter, build_pack, latest_quarter_with_data, monitoring_groups
from orchestration.lib.pack.render import EngineRules
from orchestration.lib.warehouse import connect


def _archive_one(pack: dict, reports_dir: Path, engine: EngineRules, pdf: bool):
    """(Archived, None) or (None, error text): type and message only, never a traceback."""
    try:
        return archive_pack(pack, reports_dir, engine, pdf=pdf), None
    except Exception as exc:  # noqa: BLE001 - one group's failure stays with that group
        return None, f"{type(exc).__name__}: {str(exc)[:200]}"


def _default_quarters(con, reports_dir: Path) -> list[str]:
    # the current quarter, and every quarter already archived: a past quarter whose inputs changed gets a new
    # version; one whose content did not change costs a query and a hash, nothing is written
    archived = {p.name for p in Path(reports_dir).glob("*-Q*") if p.is_dir() and re.fullmatch(r"\d{4}-Q[1-4]", p.name)}
    return sorted(archived | {latest_quarter_with_data(con).key})


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
                    failed.append((f"{quarter.key}/{group}", f"{type(exc).__name__}: {str(exc)[:200]}"))
    finally:
        con.close()

    packs = []
    workers = max(1, min(workers or os.cpu_count() or 1, len(contents)))
    if workers > 1:
        # rendering (WeasyPrint above all) is CPU-bound: one process per core; each pack is independent
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
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
