"""The indicator catalogue seed (seeds/indicator_catalogue.csv) as a specification.

Offline and fast: reads the CSV with the csv module; no warehouse, no dbt.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = REPO_ROOT / "seeds" / "indicator_catalogue.csv"
SNAPSHOTS = REPO_ROOT / "data" / "snapshots"

COLUMNS = [
    "indicator_id", "cohesion_factor", "label", "definition", "numerator", "denominator", "unit", "polarity",
    "source", "publisher", "dataset_id", "owner", "licence", "geography_levels", "min_reliable_level", "collection",
    "frequency", "valid_min", "valid_max", "max_ci_width", "disclosure_threshold", "change_threshold", "in_cohesion_index",
    "index_weight", "caveats", "snapshot_bundled", "snapshot_files",
]
# The guide's proxies (Part 2, Step 3) and the local extras it names.
REQUIRED_IDS = {
    "pct_aged_0_15", "pct_aged_16_24", "pct_aged_65_plus", "pct_born_in_wales", "pct_welsh_speakers",
    "pct_ethnic_minority", "pct_non_uk_born", "net_internal_migration_rate", "net_international_migration_rate",
    "migrant_nino_registration_rate", "wimd_most_deprived_10pct_share", "pct_social_rented", "claimant_count_rate",
    "all_crime_rate", "violence_against_person_rate", "asb_rate", "pct_no_qualifications", "pct_upper_occupations",
    "pct_disability_benefit",
}
GUIDE_FACTORS = {"age", "ethnicity", "migration", "economic_disadvantage", "crime", "education", "occupation",
                 "disability"}
FACTORS = GUIDE_FACTORS | {"local_extra"}
POLARITIES = {"risk", "protective", "context"}
LEVELS = ["lsoa", "ward", "msoa", "la", "police_force", "wales"]  # smallest to largest (typical population)
FREQUENCIES = {"decennial", "annual", "quarterly", "monthly", "irregular"}
UNITS = {"percent", "per_1000_person_years", "per_million_person_years", "ratio", "rank_share_percent", "gbp", "score"}
LICENCES = {"Open Government Licence v3.0", "partner data sharing agreement"}
BOOLEANS = {"true", "false"}


def read_catalogue() -> tuple[list[str], list[dict[str, str]]]:
    with CATALOGUE.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


HEADER, ROWS = read_catalogue()
BY_ID = {row["indicator_id"]: row for row in ROWS}


def rows_where(predicate) -> list[str]:
    return [row["indicator_id"] for row in ROWS if predicate(row)]


def split(value: str) -> list[str]:
    return [part for part in value.split(";") if part]


# --- shape -------------------------------------------------------------------------------------------

def test_columns_are_exactly_the_catalogue_columns_in_order():
    assert HEADER == COLUMNS


def test_file_is_utf8_with_unix_line_endings():
    raw = CATALOGUE.read_bytes()
    raw.decode("utf-8")
    assert b"\r" not in raw
    assert raw.endswith(b"\n")


def test_every_row_has_every_field_and_ids_are_unique():
    for row in ROWS:
        assert None not in row, f"{row.get('indicator_id')}: more fields than columns"
        assert all(row[c] is not None for c in COLUMNS), row["indicator_id"]
    ids = [row["indicator_id"] for row in ROWS]
    assert len(ids) == len(set(ids)), "duplicate indicator_id"
    assert all(i and i == i.strip() and i.islower() and " " not in i for i in ids)


@pytest.mark.parametrize("column", ["label", "definition", "numerator", "denominator", "source", "publisher",
                                    "dataset_id", "owner", "caveats"])
def test_descriptive_fields_are_filled_in(column):
    assert rows_where(lambda r: not r[column].strip()) == []


# --- coverage of the guide ---------------------------------------------------------------------------

def test_all_required_ids_are_present():
    assert REQUIRED_IDS - BY_ID.keys() == set()


def test_all_eight_guide_factors_are_covered():
    assert GUIDE_FACTORS - {row["cohesion_factor"] for row in ROWS} == set()


def test_the_guides_local_extras_are_catalogued():
    extras = {row["indicator_id"] for row in ROWS if row["cohesion_factor"] == "local_extra"}
    assert {"asb_rate", "hate_crime_rate", "voter_turnout", "far_right_vote_share"} <= extras


# --- allowed values ----------------------------------------------------------------------------------

def test_factor_polarity_unit_frequency_and_licence_are_from_the_allowed_sets():
    assert rows_where(lambda r: r["cohesion_factor"] not in FACTORS) == []
    assert rows_where(lambda r: r["polarity"] not in POLARITIES) == []
    assert rows_where(lambda r: r["unit"] not in UNITS) == []
    assert rows_where(lambda r: r["frequency"] not in FREQUENCIES) == []
    assert rows_where(lambda r: r["licence"] not in LICENCES) == []
    assert rows_where(lambda r: r["in_cohesion_index"] not in BOOLEANS or r["snapshot_bundled"] not in BOOLEANS) == []


def test_geography_levels_are_known_ordered_and_include_the_lowest_reliable_level():
    for row in ROWS:
        levels = split(row["geography_levels"])
        assert levels, row["indicator_id"]
        assert set(levels) <= set(LEVELS), row["indicator_id"]
        assert levels == sorted(levels, key=LEVELS.index), f"{row['indicator_id']}: levels out of order"
        assert len(levels) == len(set(levels)), row["indicator_id"]
        assert row["min_reliable_level"] in LEVELS, row["indicator_id"]
        assert row["min_reliable_level"] in levels, row["indicator_id"]
        # published levels start at the lowest reliable one or below it, never above
        assert LEVELS.index(levels[0]) <= LEVELS.index(row["min_reliable_level"]), row["indicator_id"]


def test_polarity_follows_the_guides_table():
    context = {"pct_aged_0_15", "pct_aged_16_24", "pct_aged_65_plus", "pct_born_in_wales", "pct_welsh_speakers",
               "pct_ethnic_minority", "pct_non_uk_born"}
    risk = {"net_internal_migration_rate", "net_international_migration_rate", "migrant_nino_registration_rate",
            "wimd_most_deprived_10pct_share", "pct_social_rented", "claimant_count_rate", "all_crime_rate",
            "violence_against_person_rate", "pct_no_qualifications", "pct_disability_benefit", "asb_rate"}
    protective = {"pct_upper_occupations"}
    assert {i for i in context if BY_ID[i]["polarity"] != "context"} == set()
    assert {i for i in risk if BY_ID[i]["polarity"] != "risk"} == set()
    assert {i for i in protective if BY_ID[i]["polarity"] != "protective"} == set()


# --- numbers -----------------------------------------------------------------------------------------

def test_valid_min_is_below_valid_max():
    assert rows_where(lambda r: not float(r["valid_min"]) < float(r["valid_max"])) == []


def test_percentages_stay_within_0_and_100():
    shares = rows_where(lambda r: r["unit"] in {"rank_share_percent"}
                        or (r["unit"] == "percent" and float(r["valid_min"]) >= 0))
    assert shares
    assert [i for i in shares if float(BY_ID[i]["valid_max"]) > 100] == []


def test_thresholds_are_numbers_in_range():
    for row in ROWS:
        assert int(row["disclosure_threshold"]) >= 0, row["indicator_id"]
        assert row["disclosure_threshold"] == str(int(row["disclosure_threshold"])), row["indicator_id"]
        change = float(row["change_threshold"])
        assert 0 < change < float(row["valid_max"]) - float(row["valid_min"]), row["indicator_id"]


def test_partner_and_crime_small_numbers_are_suppressed():
    partner = rows_where(lambda r: r["licence"] == "partner data sharing agreement")
    assert partner
    assert [i for i in partner if int(BY_ID[i]["disclosure_threshold"]) < 5] == []
    police = rows_where(lambda r: r["dataset_id"].startswith("crimes-street/"))
    assert police
    assert [i for i in police if int(BY_ID[i]["disclosure_threshold"]) < 5] == []


# --- the combined index ------------------------------------------------------------------------------

def test_index_members_have_weight_are_reliable_at_lsoa_and_have_a_direction():
    members = rows_where(lambda r: r["in_cohesion_index"] == "true")
    assert members
    for ident in members:
        row = BY_ID[ident]
        assert float(row["index_weight"]) > 0, ident
        assert row["min_reliable_level"] == "lsoa", ident
        assert row["polarity"] in {"risk", "protective"}, ident


def test_non_members_have_weight_zero():
    assert rows_where(lambda r: r["in_cohesion_index"] == "false" and float(r["index_weight"]) != 0) == []


def test_context_survey_and_partner_indicators_stay_out_of_the_index():
    members = set(rows_where(lambda r: r["in_cohesion_index"] == "true"))
    assert members.isdisjoint(rows_where(lambda r: r["polarity"] == "context"))
    assert members.isdisjoint(rows_where(lambda r: r["licence"] == "partner data sharing agreement"))
    assert members.isdisjoint(rows_where(lambda r: "survey" in r["source"].lower()))


def test_each_factor_in_the_index_carries_equal_weight():
    totals: dict[str, float] = {}
    for row in ROWS:
        totals[row["cohesion_factor"]] = totals.get(row["cohesion_factor"], 0.0) + float(row["index_weight"])
    in_index = {factor: total for factor, total in totals.items() if total > 0}
    assert in_index
    assert all(total == pytest.approx(1.0) for total in in_index.values()), in_index


# --- bundled snapshots -------------------------------------------------------------------------------

def test_snapshot_bundled_agrees_with_snapshot_files():
    assert rows_where(lambda r: (r["snapshot_bundled"] == "true") != bool(split(r["snapshot_files"]))) == []


def test_every_listed_snapshot_file_exists_under_data_snapshots():
    missing = []
    for row in ROWS:
        for rel in split(row["snapshot_files"]):
            path = (SNAPSHOTS / rel).resolve()
            if rel != rel.strip() or SNAPSHOTS.resolve() not in path.parents or not path.is_file():
                missing.append(f"{row['indicator_id']}: {rel}")
    assert missing == []


def test_fixtures_from_outside_wales_feed_no_indicator():
    # nomis/tombolo_fixture_* are London API-layout samples and police_uk/api_* a London API response
    listed = {rel for row in ROWS for rel in split(row["snapshot_files"])}
    assert [rel for rel in listed if "tombolo_fixture" in rel or rel.startswith("police_uk/api_")] == []


def test_all_bundled_police_uk_months_feed_the_crime_indicators():
    months = {f"police_uk/{p.parent.name}/{p.name}" for p in (SNAPSHOTS / "police_uk").glob("*/*-street.csv")}
    assert months
    for ident in ("all_crime_rate", "violence_against_person_rate", "asb_rate"):
        assert months <= set(split(BY_ID[ident]["snapshot_files"])), ident


def test_every_bundled_file_the_catalogue_names_is_loaded_by_an_asset():
    """A catalogue claim of bundled data is only true if some raw asset actually reads the file."""
    from orchestration.lib.snapshots import snapshot_files_read

    _, rows = read_catalogue()
    named = {f for row in rows for f in row["snapshot_files"].split(";") if f}
    police = {f for f in named if f.startswith("police_uk/")}  # read by the monthly police.uk asset
    assert named - police <= snapshot_files_read()
