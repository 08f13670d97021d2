"""All four Welsh forces, 2022-01..11: every LA and Wales has counts and rates for those months, equal to a
direct count of the bundled CSVs (csv module, independent LSOA → LA lookups); cross-border records land in
the LA of their LSOA, whichever force recorded them; months where a force has no file stay counted but
rate-less."""

from __future__ import annotations

import csv
from collections import Counter

import pytest

from tests.independent import (
    GWENT_LAS,
    SNAPSHOTS,
    census_population_lsoa21,
    counted_street_rows,
    lsoa_to_la,
    street_files,
)

ALL_WALES_MONTHS = [f"2022-{m:02d}" for m in range(1, 12)]
FORCES = ("dyfed-powys", "gwent", "north-wales", "south-wales")


def _la_force() -> dict[str, str]:
    """LA → police force name, from the ONS 2019 LA → CSP → police force area lookup (not the seeds)."""
    with open(SNAPSHOTS / "geography" / "ons_lad19_csp19_pfa19_EW.csv", encoding="utf-8-sig") as fh:
        return {row["LAD19CD"]: row["PFA19NM"] for row in csv.DictReader(fh) if row["LAD19CD"].startswith("W06")}


def test_every_force_bundled_for_every_month_of_2022_to_november():
    present = {(p.parent.name, p.name[:7]) for p in street_files()}
    for month in ALL_WALES_MONTHS:
        assert {f for f, m in present if m == month} == set(FORCES), month
    assert {f for f, m in present if m == "2022-12"} == {"gwent"}


def test_la_counts_and_rates_equal_a_direct_count_for_all_wales(warehouse):
    la = lsoa_to_la()
    counts: Counter = Counter()
    for row in counted_street_rows():
        if row["Month"] in ALL_WALES_MONTHS and row["LSOA code"].startswith("W01"):
            counts[(la[row["LSOA code"]], row["Month"])] += 1
    got = {
        (code, month): (n, rate)
        for code, month, n, rate in warehouse.execute(
            """
            select area_code, strftime(month, '%Y-%m'), sum(crime_count)::bigint, sum(rate_per_1000)
            from marts.fct_crime_monthly
            where geography_level = 'la' and month between '2022-01-01' and '2022-11-01'
            group by all
            """
        ).fetchall()
    }
    assert len({code for code, _ in got}) == 22
    assert {k: v[0] for k, v in got.items()} == dict(counts)
    # every LA has a rate in every month (its force's file is loaded), from its Census 2021 population
    pop: Counter = Counter()
    for lsoa, people in census_population_lsoa21().items():
        pop[la[lsoa]] += people
    for (code, month), (n, rate) in got.items():
        assert rate == pytest.approx(1000 * n / pop[code], abs=0.01), (code, month)


def test_wales_rows_complete_for_2022_and_rate_less_after(warehouse):
    wales: Counter = Counter()
    for row in counted_street_rows():
        if row["LSOA code"].startswith("W01"):
            wales[row["Month"]] += 1
    rows = warehouse.execute(
        """
        select strftime(month, '%Y-%m'), sum(crime_count)::bigint, bool_and(is_complete),
               count(rate_per_1000), count(*)
        from marts.fct_crime_monthly where geography_level = 'wales' group by all order by 1
        """
    ).fetchall()
    by_month = {m: (n, complete, rated, total) for m, n, complete, rated, total in rows}
    assert {m: v[0] for m, v in by_month.items()} == dict(wales)
    for month, (_, complete, rated, total) in by_month.items():
        if month in ALL_WALES_MONTHS:
            assert complete and rated == total, month
        else:  # Gwent alone: Wales is counted (Gwent's records) but has no rate
            assert not complete and rated == 0, month


def test_cross_border_records_land_in_the_la_of_their_lsoa(warehouse):
    """A record in another force's file counts in the LA of its LSOA: e.g. Gwent's LAs in 2022-03 hold records
    from the South Wales and Dyfed-Powys files as well as Gwent's own."""
    la, la_force = lsoa_to_la(), _la_force()
    own_force = {"dyfed-powys": "Dyfed-Powys", "gwent": "Gwent", "north-wales": "North Wales",
                 "south-wales": "South Wales"}
    foreign: Counter = Counter()
    for path in street_files():
        if path.name[:7] not in ALL_WALES_MONTHS:
            continue
        with open(path, encoding="utf-8-sig", newline="") as fh:
            for row in csv.DictReader(fh):
                code = row["LSOA code"]
                if code.startswith("W01") and la_force[la[code]] != own_force[path.parent.name]:
                    foreign[(la[code], row["Month"])] += 1
    assert sum(foreign.values()) > 100, "the 2022 files hold cross-border records"
    # Gwent's LAs: the warehouse's count = Gwent's own file + the other forces' records there
    gwent_own: Counter = Counter()
    with open(SNAPSHOTS / "police_uk" / "gwent" / "2022-03-gwent-street.csv", encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["LSOA code"].startswith("W01") and la[row["LSOA code"]] in GWENT_LAS:
                gwent_own[la[row["LSOA code"]]] += 1
    got = dict(warehouse.execute(
        "select area_code, sum(crime_count)::bigint from marts.fct_crime_monthly where geography_level = 'la' "
        "and month = '2022-03-01' and area_code in (select unnest(?::varchar[])) group by 1", [sorted(GWENT_LAS)],
    ).fetchall())
    extra = {code: foreign[(code, "2022-03")] for code in GWENT_LAS}
    assert any(extra.values())
    assert got == {code: gwent_own[code] + extra[code] for code in GWENT_LAS}


def test_months_without_a_force_stay_counted_but_rate_less(warehouse):
    """2022-12 on, only Gwent is bundled: LAs of the other forces where Gwent recorded something have counts
    and no rate; Gwent's LAs keep their rates."""
    rows = warehouse.execute(
        """
        select area_code, bool_and(is_complete), count(rate_per_1000), sum(crime_count)
        from marts.fct_crime_monthly where geography_level = 'la' and month >= '2022-12-01' group by 1
        """
    ).fetchall()
    for code, complete, rated, count in rows:
        if code in GWENT_LAS:
            assert complete and rated > 0, code
        else:
            assert not complete and rated == 0 and count > 0, code


def test_coverage_reconciles_every_file_row(warehouse):
    """Per force and month: every row of the file (CRLF endings, blank LSOAs, English LSOAs) accounted for;
    no-location and English rows counted among the counted rows (a Crime ID once per month)."""
    in_file: Counter = Counter()
    for path in street_files():
        with open(path, encoding="utf-8-sig", newline="") as fh:
            in_file[(path.parent.name, path.name[:7])] = sum(1 for _ in csv.DictReader(fh))
    force_id = {"Dyfed-Powys Police": "dyfed-powys", "Gwent Police": "gwent", "North Wales Police": "north-wales",
                "South Wales Police": "south-wales"}
    no_location: Counter = Counter()
    outside: Counter = Counter()
    for row in counted_street_rows():
        key = (force_id[row["Reported by"]], row["Month"])
        no_location[key] += not row["LSOA code"]
        outside[key] += row["LSOA code"].startswith("E01")
    got = {
        (force, month): (n, no_loc, out)
        for force, month, n, no_loc, out in warehouse.execute(
            """
            select force_id, strftime(month, '%Y-%m'), rows_in_file, rows_no_location, rows_outside_wales
            from marts.fct_crime_monthly_coverage
            """
        ).fetchall()
    }
    assert got == {key: (n, no_location[key], outside[key]) for key, n in in_file.items()}
