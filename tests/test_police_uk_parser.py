"""The street-level parser on the real, quirky police.uk files, and on broken copies of them."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from orchestration.lib.police_uk import PoliceUkParseError, parse_street_file
from tests.independent import SNAPSHOTS, lsoa21_codes

GWENT = SNAPSHOTS / "police_uk" / "gwent"
JULY_2022 = GWENT / "2022-07-gwent-street.csv"


def raw_rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def test_every_row_of_a_real_file_is_kept():
    df = parse_street_file(JULY_2022)
    assert df.height == len(raw_rows(JULY_2022)) == 5388
    assert df["month"].unique().to_list() == ["2022-07"]


def test_asb_rows_without_crime_id_are_kept():
    df = parse_street_file(JULY_2022)
    no_id = df.filter(df["crime_id"].is_null())
    expected = [r for r in raw_rows(JULY_2022) if not r["Crime ID"]]
    assert no_id.height == len(expected) == 933
    assert set(no_id["crime_type"]) == {"Anti-social behaviour"}


def test_rows_without_location_are_kept_with_no_coordinates_or_lsoa():
    df = parse_street_file(JULY_2022)
    no_loc = df.filter(df["longitude"].is_null())
    expected = [r for r in raw_rows(JULY_2022) if r["Location"] == "No Location"]
    assert no_loc.height == len(expected) == 28
    assert no_loc["latitude"].null_count() == no_loc.height
    assert no_loc["lsoa_code"].null_count() == no_loc.height


def test_english_lsoas_are_kept():
    # Mostly across the border (Bristol, South Gloucestershire), some far away (Torbay, Tameside).
    df = parse_street_file(JULY_2022)
    english = df.filter(df["lsoa_code"].str.starts_with("E01"))
    expected = [r for r in raw_rows(JULY_2022) if r["LSOA code"].startswith("E01")]
    assert english.height == len(expected) == 17
    assert sorted(english["lsoa_code"]) == sorted(r["LSOA code"] for r in expected)
    assert english["lsoa_name"].str.contains("Bristol|South Gloucestershire").any()


def test_2022_files_mix_2011_and_2021_lsoa_codes():
    df = parse_street_file(JULY_2022)
    welsh = set(df.filter(df["lsoa_code"].str.starts_with("W01"))["lsoa_code"])
    with open(SNAPSHOTS / "geography" / "wales_lsoa11_names_welsh_centroids_from_ons_bgc.csv", encoding="utf-8") as fh:
        lsoa11 = {r["LSOA11CD"] for r in csv.DictReader(fh)}
    only_2011 = welsh - lsoa21_codes()
    only_2021 = welsh - lsoa11
    assert only_2011 and only_2011 <= lsoa11, "2011-only codes present in 2022-07"
    assert only_2021 and only_2021 <= lsoa21_codes(), "2021-only codes present in 2022-07"
    # by 2024 the files use 2021 codes only
    later = parse_street_file(GWENT / "2024-06-gwent-street.csv")
    assert set(later.filter(later["lsoa_code"].str.starts_with("W01"))["lsoa_code"]) <= lsoa21_codes()


def test_all_24_bundled_files_parse():
    total = sum(parse_street_file(p).height for p in sorted(GWENT.glob("*-street.csv")))
    assert total == sum(len(raw_rows(p)) for p in sorted(GWENT.glob("*-street.csv")))


# --- broken input: a clear error naming file, row and column; nothing returned ---------------------

@pytest.fixture
def copy_of_july(tmp_path) -> Path:
    target = tmp_path / JULY_2022.name
    shutil.copy(JULY_2022, target)
    return target


def _rewrite(path: Path, transform) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(transform(lines)), encoding="utf-8")


def test_renamed_column_is_rejected_naming_the_column(copy_of_july):
    _rewrite(copy_of_july, lambda ls: [ls[0].replace("LSOA code", "LSOA21 code")] + ls[1:])
    with pytest.raises(PoliceUkParseError) as err:
        parse_street_file(copy_of_july)
    message = str(err.value)
    assert copy_of_july.name in message and "'LSOA code'" in message and "LSOA21 code" in message


def test_bad_value_names_file_row_column_and_expectation(copy_of_july):
    def corrupt(lines):
        fields = lines[10].split(",")
        fields[7] = "W0X123"  # LSOA code
        lines[10] = ",".join(fields)
        return lines

    _rewrite(copy_of_july, corrupt)
    with pytest.raises(PoliceUkParseError) as err:
        parse_street_file(copy_of_july)
    assert [(e.row, e.column, e.value) for e in err.value.errors] == [(11, "LSOA code", "W0X123")]
    assert "2022-07-gwent-street.csv" in str(err.value) and "row 11" in str(err.value)


def test_row_from_another_month_is_rejected(copy_of_july):
    _rewrite(copy_of_july, lambda ls: ls[:5] + [ls[5].replace("2022-07", "2022-08", 1)] + ls[6:])
    with pytest.raises(PoliceUkParseError) as err:
        parse_street_file(copy_of_july)
    assert err.value.errors[0].row == 6 and err.value.errors[0].column == "Month"


def test_truncated_download_is_rejected(copy_of_july):
    data = copy_of_july.read_bytes()
    copy_of_july.write_bytes(data[: len(data) // 2])
    with pytest.raises(PoliceUkParseError, match="truncated"):
        parse_street_file(copy_of_july)


def test_html_error_page_is_rejected(copy_of_july):
    copy_of_july.write_text("<!DOCTYPE html><html><body>503 Service Unavailable</body></html>\n")
    with pytest.raises(PoliceUkParseError, match="HTML"):
        parse_street_file(copy_of_july)


def test_unknown_crime_type_is_rejected(copy_of_july):
    _rewrite(copy_of_july, lambda ls: ls[:3] + [ls[3].replace("Public order", "Public disorder")] + ls[4:])
    with pytest.raises(PoliceUkParseError) as err:
        parse_street_file(copy_of_july)
    assert (err.value.errors[0].row, err.value.errors[0].column) == (4, "Crime type")


def test_excel_trailing_blank_rows_are_ignored(copy_of_july):
    with open(copy_of_july, "a", encoding="utf-8") as fh:
        fh.write(",,,,,,,,,,,\n,,,,,,,,,,,\n")
    assert parse_street_file(copy_of_july).height == 5388


def test_file_named_for_one_month_cannot_load_as_another(copy_of_july):
    with pytest.raises(PoliceUkParseError, match="partition 2022-08"):
        parse_street_file(copy_of_july, expected_month="2022-08")
