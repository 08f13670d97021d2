"""The datasets loaded whole (not per month or release): one ``DatasetSpec`` per raw table.

Each spec names its bundled files under ``data/snapshots/``, its licence and release, a reader that
validates the files and returns a polars DataFrame ready for ``raw.<table>``, and, where a live service
publishes the same data, a ``live`` pull through the clients in ``orchestration.lib.sources``. A reader raises
``SnapshotError`` naming the file, row and column when the data is not what the spec expects, so a
bad file never replaces good data.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

OGL = "Open Government Licence v3.0"


class SnapshotError(ValueError):
    pass


@dataclass(frozen=True)
class DatasetSpec:
    table: str  # raw.<table> and the Dagster asset key raw/<table>
    source: str
    dataset: str
    release: str
    files: tuple[str, ...]  # relative to the snapshots dir
    reader: Callable[[list[Path]], pl.DataFrame]
    description: str
    licence: str = OGL
    group: str = "raw_public"
    frequency: str = "decennial"  # publication frequency: sets the dbt source freshness
    live: Callable[[], "object"] | None = None  # () -> Pull from the live service; None = snapshot only


def _read_csv(path: Path, expected_columns: list[str], encoding: str = "utf8") -> pl.DataFrame:
    if not path.exists():
        raise SnapshotError(f"{path}: file not found")
    try:
        df = pl.read_csv(path, infer_schema=False, encoding=encoding)
    except (pl.exceptions.PolarsError, ValueError) as exc:
        raise SnapshotError(f"{path.name}: not a readable CSV: {exc}") from exc
    df = df.rename({c: c.lstrip("\ufeff") for c in df.columns})
    missing = [c for c in expected_columns if c not in df.columns]
    if missing:
        raise SnapshotError(f"{path.name}: header is missing columns {missing}; found {df.columns}")
    return df


def _require(df: pl.DataFrame, path: Path, column: str, bad: pl.Expr, expected: str) -> None:
    failing = df.with_row_index("_line", offset=2).filter(bad.fill_null(True))
    if failing.height:
        line, value = failing.select("_line", column).row(0)
        raise SnapshotError(
            f"{path.name}: row {line}, column {column!r}: got {value!r}, expected {expected}"
            f" ({failing.height} rows fail)"
        )


def _require_rows(df: pl.DataFrame, path: Path, expected: int, what: str) -> None:
    if df.height != expected:
        raise SnapshotError(f"{path.name}: {df.height} {what}, expected {expected}")


def read_census2021_population(paths: list[Path]) -> pl.DataFrame:
    (path,) = paths
    df = _read_csv(path, ["lsoa21_code", "lsoa21_name", "age_group", "usual_residents"])
    _require(df, path, "lsoa21_code", ~pl.col("lsoa21_code").str.contains(r"^W01\d{6}$"), "a Welsh 2021 LSOA code")
    _require(df, path, "usual_residents", pl.col("usual_residents").cast(pl.Int64, strict=False) < 0,
             "a non-negative whole number")
    _require_rows(df, path, 1917 * 6, "rows")
    if df["lsoa21_code"].n_unique() != 1917:
        raise SnapshotError(f"{path.name}: {df['lsoa21_code'].n_unique()} LSOAs, expected 1,917")
    return df.with_columns(pl.col("usual_residents").cast(pl.Int64))


def _wimd2019_frame(scores: pl.DataFrame) -> pl.DataFrame:
    return scores.rename({"lsoa11_name": "lsoa11_name_wimd"})


def read_wimd2019(paths: list[Path]) -> pl.DataFrame:
    """The original Welsh Government ODS (same parser as the live download) + the official rank."""
    from orchestration.lib.sources.wimd import parse_wimd2019_scores_ods

    ods_path, ranks_path = paths
    scores = _wimd2019_frame(parse_wimd2019_scores_ods(ods_path.read_bytes(), str(ods_path)))
    _require_rows(scores, ods_path, 1909, "LSOAs")
    # The ONS/WG rank lookup; this copy is correctly encoded UTF-8 with a BOM (its twin is mojibake).
    ranks = _read_csv(ranks_path, ["lsoa11cd", "wimd_2019"], encoding="utf8")
    _require(ranks, ranks_path, "wimd_2019", ~pl.col("wimd_2019").cast(pl.Int64, strict=False).is_between(1, 1909),
             "a rank 1-1909")
    _require_rows(ranks, ranks_path, 1909, "LSOAs")
    ranks = ranks.select(pl.col("lsoa11cd").alias("lsoa11_code"), pl.col("wimd_2019").cast(pl.Int64).alias("wimd_rank"))
    df = scores.join(ranks, on="lsoa11_code", how="left")
    _require(df, ods_path, "lsoa11_code", pl.col("wimd_rank").is_null(), f"a code present in {ranks_path.name}")
    return df


def live_wimd2019():
    """The ODS from gov.wales (WIMD_2019_URL). It has no rank column: rank 1 = highest overall score,
    which reproduces the official rank exactly for WIMD 2019 (no ties; checked in dbt)."""
    from orchestration.lib.sources.wimd import fetch_wimd2019

    pull = fetch_wimd2019()
    frame = _wimd2019_frame(pull.frame)
    pull.frame = frame.with_columns(
        pl.col("wimd_score").rank(method="ordinal", descending=True).cast(pl.Int64).alias("wimd_rank")
    )
    return pull


WIMD2025_DOMAINS = {
    "income": "income_decile",
    "employment": "employment_decile",
    "health": "health_decile",
    "education": "education_decile",
    "access": "access_decile",
    "housing": "housing_decile",
    "community": "community_safety_decile",
    "physical": "physical_environment_decile",
}


def read_wimd2025(paths: list[Path]) -> pl.DataFrame:
    (path,) = paths
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        by_lsoa = payload["byLsoa"]
    except (json.JSONDecodeError, KeyError) as exc:
        raise SnapshotError(f"{path.name}: expected a JSON object with 'byLsoa': {exc}") from exc
    rows = []
    for code, record in sorted(by_lsoa.items()):
        try:
            row = {"lsoa21_code": code, "wimd_rank": int(record["rank"]), "wimd_decile": int(record["decile"])}
            row |= {column: int(record[key]) for key, column in WIMD2025_DOMAINS.items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise SnapshotError(f"{path.name}: LSOA {code}: missing or non-integer field ({exc})") from exc
        rows.append(row)
    df = pl.DataFrame(rows)
    _require_rows(df, path, 1917, "LSOAs")
    _require(df, path, "wimd_decile", ~pl.col("wimd_decile").is_between(1, 10), "a decile 1-10")
    return df


def read_sape2019(paths: list[Path]) -> pl.DataFrame:
    (path,) = paths
    df = _read_csv(path, ["lsoa11_code", "lsoa11_name", "total_population"])
    _require(df, path, "total_population", pl.col("total_population").cast(pl.Int64, strict=False).is_null(),
             "a whole number")
    _require_rows(df, path, 1909, "LSOAs")
    return df.select("lsoa11_code", "lsoa11_name", pl.col("total_population").cast(pl.Int64))


DATASETS: tuple[DatasetSpec, ...] = (
    DatasetSpec(
        table="census2021_population_lsoa21",
        source="ons_census",
        dataset="census2021_age6_lsoa21",
        release="Census 2021 (21 March 2021)",
        files=("population/census2021_age6_lsoa21_wales.csv",),
        reader=read_census2021_population,
        description="Census 2021 usual residents by six age bands for the 1,917 Welsh 2021 LSOAs (ONS). "
        "The denominator of every per-1,000 rate.",
    ),
    DatasetSpec(
        table="wimd2019_lsoa11",
        source="welsh_government_wimd",
        dataset="wimd2019_index_and_domain_scores",
        release="WIMD 2019 (November 2019)",
        files=(
            "wimd/orig/wimd-2019-index-and-domain-scores-by-small-area_0.ods",
            "wimd/dg_ons_imd_dec2019_lookup_wales_utf8bom.csv",
        ),
        reader=read_wimd2019,
        live=live_wimd2019,
        frequency="irregular",
        description="Welsh Index of Multiple Deprivation 2019: overall and domain scores and the official "
        "rank for the 1,909 Welsh 2011 LSOAs.",
    ),
    DatasetSpec(
        table="wimd2025_lsoa21",
        source="welsh_government_wimd",
        dataset="wimd2025_ranks_deciles",
        release="WIMD 2025",
        files=("wimd/wimd2025_ranks_deciles_by_lsoa21_derived.json",),
        reader=read_wimd2025,
        description="Welsh Index of Multiple Deprivation 2025: overall rank and decile and domain deciles "
        "for the 1,917 Welsh 2021 LSOAs.",
    ),
    DatasetSpec(
        table="sape2019_population_lsoa11",
        source="ons_sape",
        dataset="sape_mid2019_lsoa11",
        release="Mid-2019 small area population estimates (SAPE22DT2)",
        files=("population/sape_mid2019_lsoa11_syoa_wales.csv",),
        reader=read_sape2019,
        description="ONS mid-2019 population per 2011 LSOA; weights for carrying WIMD 2019 onto merged "
        "2021 LSOAs.",
    ),
)


# --- Census 2021 LSOA topic tables (long: one row per LSOA × category) -------------------------------

def read_census_topic(
    path: Path, *, code_column: str, total_column: str, category_column: str, count_column: str = "n",
    code_pattern: str = r"^W01\d{6}$", areas: int = 1917, categories: int | None = None,
) -> pl.DataFrame:
    """A bundled Census table in long form → (area_code, category, n, total), checked."""
    df = _read_csv(path, [code_column, total_column, category_column, count_column])
    for column in (count_column, total_column):
        _require(df, path, column, pl.col(column).cast(pl.Int64, strict=False) < 0, "a non-negative whole number")
    _require(df, path, code_column, ~pl.col(code_column).str.contains(code_pattern), f"a code matching {code_pattern}")
    df = df.select(
        pl.col(code_column).str.strip_chars().alias("area_code"),
        pl.col(category_column).str.strip_chars().alias("category"),
        pl.col(count_column).cast(pl.Int64).alias("n"),
        pl.col(total_column).cast(pl.Int64).alias("total"),
    )
    return check_census_topic(df, path.name, areas=areas, categories=categories)


def check_census_topic(df: pl.DataFrame, name: str, *, areas: int = 1917, categories: int | None = None) -> pl.DataFrame:
    """Checks shared by the bundled file and the live Nomis pull: codes, a complete and identical set
    of categories per area, and categories summing exactly to each area's total (true as published)."""
    if df["area_code"].n_unique() != areas:
        raise SnapshotError(f"{name}: {df['area_code'].n_unique()} areas, expected {areas}")
    n_categories = df["category"].n_unique()
    if categories is not None and n_categories != categories:
        raise SnapshotError(f"{name}: {n_categories} categories, expected {categories}")
    per_area = df.group_by("area_code").agg(pl.len().alias("k"), pl.col("n").sum().alias("s"), pl.col("total").first())
    bad = per_area.filter((pl.col("k") != n_categories) | (pl.col("s") != pl.col("total")))
    if bad.height:
        row = bad.sort("area_code").row(0, named=True)
        raise SnapshotError(
            f"{name}: area {row['area_code']} has {row['k']} of {n_categories} categories summing to "
            f"{row['s']}, expected its total {row['total']} ({bad.height} areas fail)"
        )
    return df.sort(["area_code", "category"])


def read_sape_broad_age(paths: list[Path], year: str | None = None) -> pl.DataFrame:
    """ONS small-area population estimates by broad age, 2011 LSOAs, one year (or all)."""
    (path,) = paths
    df = _read_csv(path, ["year", "lsoa11_code", "all_ages", "aged_0_15", "aged_16_24", "aged_25_64", "aged_65_plus"])
    ints = ["all_ages", "aged_0_15", "aged_16_24", "aged_25_64", "aged_65_plus", "aged_16_64"]
    df = df.with_columns([pl.col(c).cast(pl.Int64, strict=False) for c in ints if c in df.columns])
    if year is not None:
        df = df.filter(pl.col("year") == year)
    _require(df, path, "all_ages", pl.col("all_ages").is_null() | (pl.col("all_ages") <= 0), "a positive count")
    for y, n in df.group_by("year").len().iter_rows():
        if n != 1909:
            raise SnapshotError(f"{path.name}: {n} LSOAs in {y}, expected 1,909")
    if df.height == 0:
        raise SnapshotError(f"{path.name}: no rows for year {year}")
    return df.with_columns(pl.col("year").cast(pl.Int64))


def read_welsh_speakers_2011(paths: list[Path]) -> pl.DataFrame:
    (path,) = paths
    df = _read_csv(path, ["lsoa11_code", "la_name", "pct_able_to_speak_welsh_2011"])
    df = df.with_columns(
        pl.col("lsoa11_code").str.strip_chars(),  # StatsWales codes carry trailing spaces
        pl.col("pct_able_to_speak_welsh_2011").cast(pl.Float64, strict=False),
    )
    _require(df, path, "pct_able_to_speak_welsh_2011", ~pl.col("pct_able_to_speak_welsh_2011").is_between(0, 100),
             "a percentage 0-100")
    _require_rows(df, path, 1909, "LSOAs")
    return df


def read_country_of_birth_la(paths: list[Path]) -> pl.DataFrame:
    (path,) = paths
    df = _read_csv(path, ["ltla21_code", "ltla21_name", "total_all_usual_residents", "country_of_birth", "value"])
    df = df.select(
        pl.col("ltla21_code").alias("la_code"), pl.col("ltla21_name").alias("la_name"),
        pl.col("country_of_birth"), pl.col("value").cast(pl.Int64).alias("n"),
        pl.col("total_all_usual_residents").cast(pl.Int64).alias("total"),
    )
    if df["la_code"].n_unique() != 22:
        raise SnapshotError(f"{path.name}: {df['la_code'].n_unique()} local authorities, expected 22")
    _require(df, path, "ltla21_code", ~pl.col("la_code").str.contains(r"^W06\d{6}$"), "a Welsh LA code")
    return df


def read_la_topic_percentages(paths: list[Path]) -> pl.DataFrame:
    (path,) = paths
    df = _read_csv(path, ["area_code", "topic", "class_code", "category_code", "category_name", "universe", "percent"])
    df = df.with_columns(pl.col("percent").cast(pl.Float64, strict=False))
    _require(df, path, "percent", ~pl.col("percent").is_between(0, 100), "a percentage 0-100")
    if df["area_code"].n_unique() != 23:
        raise SnapshotError(f"{path.name}: {df['area_code'].n_unique()} areas, expected 22 LAs + Wales")
    return df


NOMIS_META_COLUMNS = {"GEOGRAPHY_NAME", "DATE_NAME", "MEASURES_NAME", "OBS_STATUS_NAME", "RURAL_URBAN_NAME",
                      "OBS_CONF_NAME", "RECORD_OFFSET_NAME", "GEOGRAPHY_TYPE_NAME"}


def census_topic_from_nomis(frame: pl.DataFrame, name: str, level: str) -> pl.DataFrame:
    """A Nomis Census 2021 table (one row per area × category, counts) → (area_code, category, n, total).

    Nomis lists each table's categories hierarchically ("Owned", "Owned: Owns outright", …) under a
    "Total: …" row. level='top' keeps the categories without a colon; level='leaf' keeps those with no
    sub-categories, matching the layout of the bundled tables.
    """
    from orchestration.lib.http import SourceFormatError

    names = [c for c in frame.columns if c.endswith("_NAME") and c not in NOMIS_META_COLUMNS]
    if len(names) != 1 or "GEOGRAPHY_CODE" not in frame.columns:
        raise SourceFormatError("nomis", name, f"expected GEOGRAPHY_CODE and one category *_NAME column, got {frame.columns}")
    df = frame.select(pl.col("GEOGRAPHY_CODE").alias("area_code"), pl.col(names[0]).str.strip_chars().alias("category"),
                      pl.col("OBS_VALUE").cast(pl.Int64).alias("n"))
    is_total = pl.col("category").str.starts_with("Total")
    totals = df.filter(is_total).select("area_code", pl.col("n").alias("total"))
    cats = sorted(set(df.filter(~is_total)["category"]))
    if level == "top":
        keep = [c for c in cats if ":" not in c]
    else:
        keep = [c for c in cats if not any(o.startswith(c + ":") for o in cats)]
    return df.filter(pl.col("category").is_in(keep)).join(totals, on="area_code", how="left")


def census_topic_spec(table: str, dataset: str, file: str, category_column: str, total_column: str,
                      categories: int, description: str, nomis_id: str, level: str) -> DatasetSpec:
    def reader(paths: list[Path]) -> pl.DataFrame:
        return read_census_topic(paths[0], code_column="lsoa21_code", total_column=total_column,
                                 category_column=category_column, categories=categories)

    def live():
        from orchestration.lib.sources.nomis import NomisClient, welsh_lsoas_2021

        # measures=20100 is the count (Nomis' own measure id for values)
        pull = NomisClient().fetch_csv(nomis_id, {"geography": welsh_lsoas_2021(), "measures": "20100"})
        pull.frame = check_census_topic(census_topic_from_nomis(pull.frame, nomis_id, level), nomis_id,
                                        categories=categories)
        pull.source, pull.release = "ons_census", "Census 2021 (21 March 2021)"
        return pull

    return DatasetSpec(table=table, source="ons_census", dataset=dataset, release="Census 2021 (21 March 2021)",
                       files=(f"population/{file}",), reader=reader, description=description, live=live,
                       frequency="decennial")


DATASETS = DATASETS + (
    census_topic_spec("census2021_ethnicity_lsoa21", "TS021", "census2021_ts021_ethnicity21_lsoa21_wales.csv",
                      "ethnic_group", "total_residents", 5,
                      "Census 2021 TS021 ethnic group (5 high-level groups), usual residents per 2021 LSOA.",
                      nomis_id="NM_2041_1", level="top"),
    census_topic_spec("census2021_tenure_lsoa21", "TS054", "census2021_ts054_household_tenure21_lsoa21_wales.csv",
                      "tenure", "total_households", 8,
                      "Census 2021 TS054 tenure of households (8 categories) per 2021 LSOA.",
                      nomis_id="NM_2072_1", level="leaf"),
    census_topic_spec("census2021_disability_lsoa21", "TS038", "census2021_ts038_disability21_lsoa21_ew_wales.csv",
                      "disability", "total_residents", 2,
                      "Census 2021 TS038 disability under the Equality Act, usual residents per 2021 LSOA.",
                      nomis_id="NM_2056_1", level="top"),
    census_topic_spec("census2021_religion_lsoa21", "TS030", "census2021_ts030_religion21_lsoa21_wales.csv",
                      "religion", "total_residents", 9,
                      "Census 2021 TS030 religion (9 categories), usual residents per 2021 LSOA.",
                      nomis_id="NM_2049_1", level="top"),
    census_topic_spec("census2021_household_deprivation_lsoa21", "TS011",
                      "census2021_ts011_household_deprivation21_lsoa21_wales.csv", "deprivation_dimensions",
                      "total_households", 5,
                      "Census 2021 TS011 households by number of deprivation dimensions per 2021 LSOA.",
                      nomis_id="NM_2031_1", level="top"),
    DatasetSpec(table="census2011_welsh_speakers_lsoa11", source="statswales", dataset="census2011_welsh_language_lsoa",
                release="Census 2011 (27 March 2011)", files=("population/census2011_welsh_speakers_pct_lsoa11_wales.csv",),
                reader=read_welsh_speakers_2011,
                description="Census 2011: % of usual residents aged 3+ able to speak Welsh, per 2011 LSOA "
                "(StatsWales). The 2021 LSOA equivalent is not bundled."),
    DatasetSpec(table="census2021_country_of_birth_la", source="ons_census", dataset="TS004",
                release="Census 2021 (21 March 2021)", files=("population/census2021_ts004_country_of_birth_ltla21_wales.csv",),
                reader=read_country_of_birth_la,
                description="Census 2021 TS004 country of birth (detailed hierarchy), usual residents per local authority."),
    DatasetSpec(table="census2021_la_topic_percentages", source="ons_census", dataset="census_maps_la_topics",
                release="Census 2021 (21 March 2021)", files=("population/census2021_la_topic_percentages_wales.csv",),
                reader=read_la_topic_percentages,
                description="Census 2021, 28 topics as percentages per local authority and Wales (ONS Census Maps): "
                "qualifications, economic activity, disability, health, tenure, country of birth, identity…"),
)


# --- Further bundled tables that feed catalogued indicators ---------------------------------------------

def read_nomis_bulk_census2011_tenure(paths: list[Path]) -> pl.DataFrame:
    """Nomis bulk Census 2011 QS405EW (one wide row per LA) → (la_code, la_name, category, n), Welsh LAs."""
    (path,) = paths
    df = _read_csv(path, ["date", "geography", "geography code", "Rural Urban"])
    value_columns = [c for c in df.columns if c.startswith("Tenure: ")]
    if not value_columns:
        raise SnapshotError(f"{path.name}: no 'Tenure: …' columns; found {df.columns}")
    df = df.filter(pl.col("geography code").str.starts_with("W06") & (pl.col("Rural Urban") == "Total"))
    long = df.unpivot(index=["geography code", "geography"], on=value_columns, variable_name="category", value_name="n")
    long = long.select(
        pl.col("geography code").alias("la_code"), pl.col("geography").alias("la_name"),
        pl.col("category").str.replace(r"^Tenure: ", "").str.replace(r"; measures: Value$", ""),
        pl.col("n").cast(pl.Int64, strict=False),
    )
    _require(long, path, "n", pl.col("n").is_null() | (pl.col("n") < 0), "a non-negative whole number")
    if long["la_code"].n_unique() != 22:
        raise SnapshotError(f"{path.name}: {long['la_code'].n_unique()} Welsh LAs, expected 22")
    return long


def read_nomis_ts011_msoa(paths: list[Path]) -> pl.DataFrame:
    """Nomis web download of TS011 (title block, notes) → Welsh MSOAs, counts only."""
    from orchestration.lib.sources.nomis import read_web_download

    (path,) = paths
    frame = read_web_download(path, "TS011").frame
    frame = frame.filter(pl.col("GEOGRAPHY_CODE").str.starts_with("W02") & (pl.col("MEASURES_NAME") == "Value"))
    out = frame.select(pl.col("GEOGRAPHY_CODE").alias("msoa21_code"), pl.col("GEOGRAPHY_NAME").alias("msoa21_name"),
                       pl.col("CELL_NAME").alias("category"), pl.col("OBS_VALUE").cast(pl.Int64).alias("n"))
    if out["msoa21_code"].n_unique() != 408:
        raise SnapshotError(f"{path.name}: {out['msoa21_code'].n_unique()} Welsh MSOAs, expected 408")
    return out


def read_ethnicity_la_detailed(paths: list[Path]) -> pl.DataFrame:
    (path,) = paths
    df = _read_csv(path, ["ltla21_code", "ltla21_name", "ethnic_group", "value"])
    # The file carries each group twice: "(number)" and "(percent)". Keep the counts only.
    df = df.filter(pl.col("ethnic_group").str.ends_with(" (number)"))
    _require(df, path, "value", pl.col("value").cast(pl.Float64, strict=False) % 1 != 0, "a whole count")
    df = df.select(pl.col("ltla21_code").alias("la_code"), pl.col("ltla21_name").alias("la_name"),
                   pl.col("ethnic_group").str.replace(r" \(number\)$", "").alias("category"),
                   pl.col("value").cast(pl.Float64).cast(pl.Int64).alias("n"))
    if df["la_code"].n_unique() != 22:
        raise SnapshotError(f"{path.name}: {df['la_code'].n_unique()} LAs, expected 22")
    return df


def read_statswales_wimd2019_la_summary(paths: list[Path]) -> pl.DataFrame:
    """StatsWales' published count of each LA's LSOAs in Wales' most deprived 10/20/30/50% (WIMD 2019)."""
    from orchestration.lib.sources.statswales import read_web_export

    (path,) = paths
    df = read_web_export(path).select(pl.col("row_label").alias("la_name"), "column", "data", "data_status")
    if df["la_name"].n_unique() != 22:
        raise SnapshotError(f"{path.name}: {df['la_name'].n_unique()} LAs, expected 22")
    return df


MSOA21_CODE = r"^W02\d{6}$"

# TS019 (demographr's column names → the ONS / Nomis category names) and TS029 (ONS names as published)
TS019_CATEGORIES = {
    "address_one_year_ago_is_the_same": "Address one year ago is the same as the address of enumeration",
    "address_one_year_ago_is_student_or_boarding":
        "Address one year ago is student term-time or boarding school address in the UK",
    "migrant_from_within_uk": "Migrant from within the UK: Address one year ago was in the UK",
    "migrant_from_outside_uk": "Migrant from outside the UK: Address one year ago was outside the UK",
}
TS029_ENGLISH = "Main language is English (English or Welsh in Wales)"
TS029_NOT_ENGLISH = "Main language is not English (English or Welsh in Wales)"
TS029_PROFICIENCY = [f"{TS029_NOT_ENGLISH}: {p}" for p in (
    "Can speak English very well", "Can speak English well", "Cannot speak English well", "Cannot speak English")]


def _require_sum(df: pl.DataFrame, path: Path, column: str, parts: list[str]) -> None:
    failing = df.with_row_index("_line", offset=2).filter(pl.col(column) != pl.sum_horizontal(parts))
    if failing.height:
        line, value, summed = failing.select("_line", column, pl.sum_horizontal(parts)).row(0)
        raise SnapshotError(
            f"{path.name}: row {line}, column {column!r}: got {value}, but its parts {parts} sum to {summed}"
            f" ({failing.height} rows fail)"
        )


def read_census_msoa_wide(path: Path, *, parts: list[str], total: str | None, subtotals: dict[str, list[str]],
                          categories: dict[str, str], areas: int = 408) -> pl.DataFrame:
    """A bundled Census 2021 table, one wide row per 2021 MSOA → (area_code, category, n, total), checked.

    parts: the count columns that partition the table's population; total: the column they must sum to
    (None: the population is their sum, as in TS029, which has no total column); subtotals: a published
    column → the parts it must equal the sum of; categories: column → category name in the long table.
    Every failure names the file, the first failing row (file line) and the column.
    """
    nested = [c for cs in subtotals.values() for c in cs]
    counts = list(dict.fromkeys([*([total] if total else []), *parts, *subtotals, *nested]))
    df = _read_csv(path, ["msoa21_code", *counts])
    _require(df, path, "msoa21_code", ~pl.col("msoa21_code").str.contains(MSOA21_CODE), "a Welsh 2021 MSOA code (W02)")
    for column in counts:
        # a blank, a decimal or text casts to null, which _require counts as failing
        _require(df, path, column, pl.col(column).cast(pl.Int64, strict=False) < 0, "a non-negative whole number")
    df = df.with_columns(pl.col(counts).cast(pl.Int64))
    for subtotal, members in [*subtotals.items(), *([(total, parts)] if total else [])]:
        _require_sum(df, path, subtotal, members)
    duplicated = df.filter(pl.col("msoa21_code").is_duplicated())
    if duplicated.height:
        raise SnapshotError(f"{path.name}: MSOA {duplicated['msoa21_code'][0]} appears more than once "
                            f"({duplicated.height} rows are repeats)")
    _require_rows(df, path, areas, "MSOAs")
    long = df.select(
        pl.col("msoa21_code").alias("area_code"),
        pl.sum_horizontal(parts).alias("total") if total is None else pl.col(total).alias("total"),
        *[pl.col(c) for c in parts],
    ).unpivot(index=["area_code", "total"], on=parts, variable_name="category", value_name="n")
    long = long.with_columns(pl.col("category").replace_strict(categories)).select("area_code", "category", "n", "total")
    return check_census_topic(long, path.name, areas=areas, categories=len(parts))


def read_migrant_indicator_msoa(paths: list[Path]) -> pl.DataFrame:
    (path,) = paths
    return read_census_msoa_wide(path, parts=list(TS019_CATEGORIES), total="all_usual_residents", subtotals={},
                                 categories=TS019_CATEGORIES)


def read_english_proficiency_msoa(paths: list[Path]) -> pl.DataFrame:
    (path,) = paths
    parts = [TS029_ENGLISH, *TS029_PROFICIENCY]
    return read_census_msoa_wide(path, parts=parts, total=None, subtotals={TS029_NOT_ENGLISH: TS029_PROFICIENCY},
                                 categories={c: c for c in parts})


DATASETS = DATASETS + (
    DatasetSpec(table="census2021_migrant_indicator_msoa21", source="ons_census", dataset="TS019_msoa",
                release="Census 2021 (21 March 2021)",
                files=("population/census2021_ts019_migrant_indicator_msoa21_wales.csv",),
                reader=read_migrant_indicator_msoa,
                description="Census 2021 TS019 migrant indicator (usual address one year before Census Day) per Welsh "
                "2021 MSOA: usual residents aged 1 and over in four categories (same address; student term-time or "
                "boarding-school address in the UK; migrant from within the UK; migrant from outside the UK), long, "
                "with the table's total. Counts only (demographr's proportions are not loaded)."),
    DatasetSpec(table="census2021_english_proficiency_msoa21", source="ons_census", dataset="TS029_msoa",
                release="Census 2021 (21 March 2021)",
                files=("population/census2021_ts029_english_proficiency_msoa21_wales.csv",),
                reader=read_english_proficiency_msoa,
                description="Census 2021 TS029 proficiency in English ('English or Welsh in Wales') per Welsh 2021 MSOA: "
                "usual residents aged 3 and over in five categories (main language English or Welsh; main language "
                "not English or Welsh by how well they speak English), long; total = the population aged 3+."),
)


DATASETS = DATASETS + (
    DatasetSpec(table="census2011_tenure_la", source="nomis", dataset="QS405EW",
                release="Census 2011 (27 March 2011)",
                files=("nomis/nomis_bulk_census2011_QS405EW_tenure_households_lad.csv",),
                reader=read_nomis_bulk_census2011_tenure,
                description="Census 2011 QS405EW tenure of households per Welsh LA (Nomis bulk file): the 2011 "
                "baseline for the change in social renting."),
    DatasetSpec(table="census2021_household_deprivation_msoa21", source="nomis", dataset="TS011_msoa",
                release="Census 2021 (21 March 2021)",
                files=("nomis/nomis_census2021_TS011_households_deprivation_msoa21_EW.csv",),
                reader=read_nomis_ts011_msoa,
                description="Census 2021 TS011 households by deprivation dimensions per Welsh 2021 MSOA (Nomis web "
                "download with its title block and notes)."),
    DatasetSpec(table="census2021_ethnicity_la", source="ons_census", dataset="TS021_la",
                release="Census 2021 (21 March 2021)",
                files=("population/census2021_ts021_ethnicity_ltla21_wales.csv",),
                reader=read_ethnicity_la_detailed,
                description="Census 2021 TS021 ethnic group, 19 detailed groups, per local authority."),
    DatasetSpec(table="statswales_wimd2019_la_summary", source="statswales", dataset="wimd2019_la_summary",
                release="WIMD 2019 (November 2019)",
                files=("statswales/dg_statswales_export_la_WIMD_2019.csv",),
                reader=read_statswales_wimd2019_la_summary, frequency="irregular",
                description="StatsWales: LSOAs per LA in Wales' most deprived 10/20/30/50% (WIMD 2019), the "
                "published figure the warehouse's own WIMD shares are checked against."),
)


def snapshot_files_read() -> set[str]:
    """Every bundled file some asset reads (used to check the indicator catalogue's claims)."""
    from orchestration.lib.datasets import ELS_SLUGS, SAPE_FILE, STATSWALES_DATASETS

    files = {f for spec in DATASETS for f in spec.files} | {SAPE_FILE}
    files |= {f"ons_els/{s}/{s}.wales_subset.csv" for s in ELS_SLUGS}
    files |= {f"statswales/statswales_odata_{d}.json" for d in STATSWALES_DATASETS}
    return files
