"""Benchmark input: a snapshots dir with N years of police.uk history for all four Welsh forces, made by
replaying the real bundled months with shifted dates. FOR BENCHMARKING ONLY: these are not data.

    uv run --frozen python benchmarks/synthetic_history.py --years 10 --out /tmp/synth10 [--drop-last]
    (--years may be fractional: 1.5 = 18 months)
    uv run --frozen python benchmarks/synthetic_history.py --out /tmp/synth10 --add-last

The dir holds every non-police file of data/snapshots (hard links, or copies across file systems) and
police_uk/<force>/<YYYY-MM>-<force>-street.csv for every month of the N years ending 2024-06 (the demo
partner extracts and the as-of date end there), for dyfed-powys, gwent, north-wales and south-wales.
Each file is a real bundled month of that force, of the same calendar month where the force has one
(seasonality stays real; the bundle has no December for Dyfed-Powys, North Wales and South Wales, so
their Decembers replay the nearest calendar month, November), cycling through the force's real years.
Only the Month column and the file name are rewritten to the target month; every other byte is kept
(CRLF files stay CRLF). A target month equal to its source is a hard link to the real file.

--drop-last leaves 2024-06 out; --add-last later writes just that month into an existing dir (as "a new
month" arriving), without touching SYNTHETIC-README.md, so the build planner sees only police.uk files.
Point a build at it with COHESION_SNAPSHOTS_DIR=<dir> POLICE_UK_FIRST_MONTH=<first month printed>.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REAL_SNAPSHOTS = REPO / "data" / "snapshots"
FORCES = ("dyfed-powys", "gwent", "north-wales", "south-wales")
LAST_MONTH = "2024-06"
README = "SYNTHETIC-README.md"
_STREET = re.compile(r"^(\d{4}-\d{2})-([a-z-]+)-street\.csv$")


def add_months(month: str, n: int) -> str:
    year, mon = map(int, month.split("-"))
    index = year * 12 + (mon - 1) + n
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_count(years: float) -> int:
    return round(12 * years)


def target_months(years: float) -> list[str]:
    """The 12*years months ending LAST_MONTH, oldest first."""
    return [add_months(LAST_MONTH, -i) for i in range(month_count(years) - 1, -1, -1)]


def months_for_report(drop_last: bool) -> int:
    """The fewest months (ending LAST_MONTH) with which the build's crime exception report has a quarter to
    test once the last month is left out or not: three complete months and the four quarters before them
    (orchestration/lib/crime_exceptions.py: latest_testable_quarter; with fewer the full build fails)."""
    last_loaded = add_months(LAST_MONTH, -1) if drop_last else LAST_MONTH
    quarter_end = add_months(last_loaded, -(int(last_loaded[5:7]) % 3))
    first_needed = add_months(quarter_end, -14)
    year, mon = map(int, first_needed.split("-"))
    last_year, last_mon = map(int, LAST_MONTH.split("-"))
    return (last_year - year) * 12 + last_mon - mon + 1


def real_months(snapshots: Path) -> dict[str, dict[str, Path]]:
    """{force: {YYYY-MM: path}} of the real bundled street-level files."""
    found: dict[str, dict[str, Path]] = defaultdict(dict)
    for path in sorted((snapshots / "police_uk").glob("*/*-street.csv")):
        match = _STREET.match(path.name)
        if match and match[2] == path.parent.name:
            found[match[2]][match[1]] = path
    missing = [f for f in FORCES if not found.get(f)]
    if missing:
        raise SystemExit(f"no bundled street-level files for {', '.join(missing)} under {snapshots / 'police_uk'}")
    return dict(found)


def pick_source(real: list[str], target: str) -> str:
    """The real month a target month replays: one of the same calendar month (the nearest calendar month
    if the force has none, ties to the earlier), cycling through its years so that a target month that is
    itself real replays itself."""
    cal = int(target[5:7])

    def distance(m: str) -> int:
        d = abs(int(m[5:7]) - cal)
        return min(d, 12 - d)

    best = min(distance(m) for m in real)
    # ties between the month before and after: the one before (December -> November)
    candidates = [m for m in real if distance(m) == best]
    if best:
        before = [m for m in candidates if (int(m[5:7]) - cal) % 12 == 12 - best]
        candidates = before or candidates
        cal_of = int(candidates[0][5:7])
        candidates = [m for m in candidates if int(m[5:7]) == cal_of]
    candidates.sort()
    first_year = int(candidates[0][:4])
    return candidates[(int(target[:4]) - first_year) % len(candidates)]


def _data_lines(data: bytes) -> int:
    """Lines after the header (the file ends with a newline)."""
    return data.rstrip(b"\r\n").count(b"\n")


def rewrite(source: Path, source_month: str, dest: Path, target_month: str) -> int:
    """Write dest = source with every row's Month (second field) rewritten; returns the rows. Crime IDs are
    never quoted in police.uk files, so the Month is what follows the first comma of each line."""
    data = source.read_bytes()
    rows = _data_lines(data)
    tmp = dest.with_name(f".{dest.name}.part")
    if source_month == target_month:
        _link_or_copy(source, tmp)
    else:
        pattern = re.compile(rb"^([^,\r\n]*)," + re.escape(source_month.encode()) + rb",", re.M)
        new, count = pattern.subn(rb"\g<1>," + target_month.encode() + rb",", data)
        if count != rows:
            bad = next((line for line in data.splitlines()[1:] if not pattern.match(line + b"\n")), b"?")
            raise SystemExit(f"{source}: {rows} data lines but {count} with Month {source_month} as their second "
                             f"field (first other line: {bad[:120]!r}); not a police.uk street file as expected")
        tmp.write_bytes(new)
    os.replace(tmp, dest)
    return rows


def _link_or_copy(source: Path, dest: Path) -> None:
    if dest.exists() or dest.is_symlink():
        dest.unlink()
    try:
        os.link(source, dest)
    except OSError:
        shutil.copy2(source, dest)


def mirror_other_files(snapshots: Path, out: Path) -> int:
    """Every file of the real snapshots except the police.uk street files: hard links (the build only
    reads them; a rejected file is copied to quarantine, never moved), copies across file systems."""
    count = 0
    for path in sorted(snapshots.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(snapshots)
        if rel.parts[0] == "police_uk" and len(rel.parts) == 3 and _STREET.match(rel.name):
            continue
        dest = out / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        _link_or_copy(path, dest)
        count += 1
    return count


def write_month(snapshots: Path, out: Path, real: dict[str, dict[str, Path]], target: str) -> dict[str, tuple[str, int]]:
    """The four forces' files for one target month: {force: (source month, rows)}."""
    done = {}
    for force in FORCES:
        source_month = pick_source(sorted(real[force]), target)
        dest = out / "police_uk" / force / f"{target}-{force}-street.csv"
        dest.parent.mkdir(parents=True, exist_ok=True)
        rows = rewrite(real[force][source_month], source_month, dest, target)
        done[force] = (source_month, rows)
    return done


def _readme(years: float, months: list[str], dropped: str | None, mapping: dict[str, dict[str, tuple[str, int]]],
            snapshots: Path) -> str:
    lines = [
        "# SYNTHETIC police.uk history: replays of real months with shifted dates. NOT DATA.",
        "",
        "This folder was made by `benchmarks/synthetic_history.py` **for benchmarking only** (build time and",
        "memory with a long history). Never load it into a warehouse anyone reads, never report from it,",
        "never copy it into data/snapshots.",
        "",
        f"- police_uk/<force>/<YYYY-MM>-<force>-street.csv: {len(months)} months ({months[0]} to {months[-1]},",
        f"  {years:g} year(s)) for {', '.join(FORCES)}. Every file is a REAL bundled month of that force",
        "  (from data/snapshots) with only the `Month` column and the file name changed to the target month;",
        "  every other byte is the real file's. The crimes, locations, outcomes and Crime IDs therefore repeat",
        "  from year to year: the same Crime ID appears in many months.",
        "- Same calendar month where the force has one (seasonality stays real), cycling through its real",
        "  years; the bundle has no December for dyfed-powys, north-wales and south-wales, so their Decembers",
        "  replay November. A target month equal to its source is a hard link to the real file.",
        f"- Every other file is a hard link to (or a copy of) the real file in {snapshots}: do not edit files",
        "  here, a hard link edits the real one.",
    ]
    if dropped:
        lines += [
            f"- Made with --drop-last: {dropped} was left out, to be added later as a new month",
            "  (`synthetic_history.py --out <this dir> --add-last`; this README is not rewritten then).",
        ]
    lines += [
        "",
        f"Build against it: COHESION_SNAPSHOTS_DIR=<this dir> POLICE_UK_FIRST_MONTH={months[0]} and a",
        "COHESION_DATA_DIR of its own.",
        "",
        "## Target month <- real month replayed",
        "",
        "| target | " + " | ".join(FORCES) + " |",
        "|---" * (len(FORCES) + 1) + "|",
    ]
    for month in months:
        row = mapping[month]
        lines.append(f"| {month}{' (dropped)' if month == dropped else ''} | "
                     + " | ".join(f"{row[f][0]} ({row[f][1]:,} rows)" for f in FORCES) + " |")
    return "\n".join(lines) + "\n"


def _check_out(out: Path) -> None:
    resolved = out.resolve()
    data = (REPO / "data").resolve()
    if resolved == data or data in resolved.parents:
        raise SystemExit(f"refusing to write under {data}: give a temporary dir (--out /tmp/...)")


def build(out: Path, years: float, drop_last: bool = False, snapshots: Path = REAL_SNAPSHOTS,
          log=print) -> dict:
    """Make the synthetic snapshots dir; returns {first_month, last_month, months, dropped, rows: {force: n}}."""
    _check_out(out)
    if month_count(years) < 2:
        raise SystemExit("--years must give at least 2 months (e.g. 0.5, 1, 1.5, 10)")
    if out.exists() and any(out.iterdir()):
        if not (out / README).exists():
            raise SystemExit(f"{out} is not empty and not a synthetic snapshots dir: give an empty or new dir")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    real = real_months(snapshots)
    months = target_months(years)
    dropped = months[-1] if drop_last else None
    others = mirror_other_files(snapshots, out)
    mapping: dict[str, dict[str, tuple[str, int]]] = {}
    rows: dict[str, int] = dict.fromkeys(FORCES, 0)
    for month in months:
        if month == dropped:
            sources = {f: pick_source(sorted(real[f]), month) for f in FORCES}
            mapping[month] = {f: (m, _data_lines(real[f][m].read_bytes())) for f, m in sources.items()}
            continue
        mapping[month] = write_month(snapshots, out, real, month)
        for force, (_, n) in mapping[month].items():
            rows[force] += n
    (out / README).write_text(_readme(years, months, dropped, mapping, snapshots), encoding="utf-8")
    written = [m for m in months if m != dropped]
    log(f"synthetic snapshots in {out}: {others} other files linked; police.uk {written[0]} to {written[-1]} "
        f"({len(written)} months x {len(FORCES)} forces){f', {dropped} left out' if dropped else ''}")
    for force in FORCES:
        log(f"  {force:12} {rows[force]:>10,} rows")
    log(f"  {'total':12} {sum(rows.values()):>10,} rows  (POLICE_UK_FIRST_MONTH={months[0]})")
    if len(months) < months_for_report(drop_last):
        log(f"  note: a build needs {months_for_report(drop_last)} months here (--years "
            f"{months_for_report(drop_last) / 12:g}) for the crime exception report to have a quarter to test; "
            "with fewer its step fails")
    return {"first_month": months[0], "last_month": written[-1], "months": written, "dropped": dropped,
            "rows": rows}


def add_last(out: Path, snapshots: Path = REAL_SNAPSHOTS, log=print) -> dict[str, int]:
    """Write LAST_MONTH's four files into an existing synthetic dir (the "new month"); {force: rows}."""
    _check_out(out)
    if not (out / README).exists():
        raise SystemExit(f"{out} is not a synthetic snapshots dir (no {README}); make it first")
    done = write_month(snapshots, out, real_months(snapshots), LAST_MONTH)
    rows = {force: n for force, (_, n) in done.items()}
    log(f"added {LAST_MONTH} to {out}: " + ", ".join(f"{f} {n:,} rows (replays {done[f][0]})"
                                                     for f, n in rows.items()) + f"; total {sum(rows.values()):,}")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--years", type=float, default=1,
                        help="years of history ending 2024-06, fractions allowed (1.5 = 18 months; default 1)")
    parser.add_argument("--out", required=True, type=Path, help="the synthetic snapshots dir (made or replaced)")
    parser.add_argument("--drop-last", action="store_true", help=f"leave {LAST_MONTH} out (add it later)")
    parser.add_argument("--add-last", action="store_true", help=f"only add {LAST_MONTH} to an existing dir")
    parser.add_argument("--snapshots", type=Path, default=REAL_SNAPSHOTS, help="the real snapshots (default bundled)")
    args = parser.parse_args()
    if args.add_last:
        add_last(args.out, args.snapshots)
    else:
        build(args.out, args.years, args.drop_last, args.snapshots)
    return 0


if __name__ == "__main__":
    sys.exit(main())
