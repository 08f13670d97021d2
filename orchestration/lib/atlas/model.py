"""What the atlas and the annual cohesion profile show, read from the marts into plain dicts and polars frames.

Public tier only: every figure comes from public statistics (``marts.fct_indicator_value`` and the marts built
on it, ``marts.mart_community_profile``, ``marts.dim_geography``, ``ref.*``). No partner-derived table is read
(fct_incident, fct_tension_*, fct_cia, fct_risk, shared_incident_summary), and indicators the catalogue licenses
under a partner data sharing agreement (hate crime) are left out even if a row of them reached a mart.

Statistics are the marts' own: values, 95% intervals, the verdicts of the exception engine (significance AND
materiality: ``fct_indicator_benchmark.assessment``, ``mart_cohesion_profile.assessment_vs_wales``), rapid change
and exceptions (``fct_indicator_change``), benchmark, change since the benchmark with its verdict
(``change_verdict``: significant after FDR and beyond the threshold) and the LSOAs most changed by the same test
(``mart_cohesion_profile``).
Nothing here recomputes them. What is added is presentation: the range and quartiles of the local authorities for
a spine chart, ranks in a table, and disclosure control.

**Small counts** (guide Part 3, circulation; seeds/indicator_catalogue.md "Disclosure"): a figure whose count
(numerator) is between 1 and the catalogue's ``disclosure_threshold`` − 1 is suppressed (value, interval and
verdict withheld), and where a local authority has exactly one suppressed LSOA (MSOA, ward) for an indicator and
period, the next smallest count in that authority is suppressed too, so the authority's total cannot give it
away. Census, survey and published figures have threshold 0 (the publisher has protected them).

No Dagster imports.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path


from orchestration.lib.warehouse import connect
import polars as pl

from orchestration.lib.atlas.text import FACTORS

# Geography levels an indicator page can map, lowest first.
MAP_LEVEL_ORDER: tuple[str, ...] = ("lsoa", "msoa", "ward", "la", "police_force")
SMALL_AREA_LEVELS: tuple[str, ...] = ("lsoa", "msoa", "ward")
WALES_CODE = "W92000004"
DEFAULT_INDICATOR = "pct_household_deprived_1plus_dimensions"

# Columns of a ranked table: exactly what the page shows and the download holds (same order).
TABLE_COLUMNS: tuple[str, ...] = (
    "rank", "area_code", "area_name", "area_name_cy", "geography_level", "la_code", "la_name", "la_name_cy",
    "indicator_id", "period_label", "value", "lci_95", "uci_95", "unit", "status", "compared_with_wales",
    "compared_with_la",
)
LA_TABLE_COLUMNS: tuple[str, ...] = (
    "rank", "area_code", "area_name", "area_name_cy", "indicator_id", "period_label", "value", "lci_95", "uci_95",
    "unit", "status", "wales_value", "compared_with_wales",
)
PROFILE_COLUMNS: tuple[str, ...] = (
    "la_code", "la_name", "cohesion_factor", "indicator_id", "label", "unit", "polarity", "benchmark_period_label",
    "benchmark_value", "latest_period_label", "latest_value", "latest_lci_95", "latest_uci_95", "latest_status",
    "change_since_benchmark", "change_lci_95", "change_uci_95", "change_test_method", "change_p_value",
    "change_q_value", "change_verdict", "wales_latest_value", "wales_lowest", "wales_25th_percentile",
    "wales_75th_percentile", "wales_highest", "las_in_range", "comparison_with_wales", "assessment_vs_wales",
    "urban_value", "rural_value", "lsoas_tested_for_change", "lsoas_changed_significantly", "lsoas_most_changed",
    "lsoas_most_changed_names", "lsoas_most_changed_changes", "min_reliable_level",
)


@dataclass
class AtlasData:
    built_on: dt.date
    las: list[dict]
    la_by_code: dict[str, dict]
    indicators: dict[str, dict]  # public indicators with data, factor order then catalogue order
    profiles: dict[str, list[dict]]  # la_code -> mart_cohesion_profile rows (+ spine range)
    la_maps: dict[str, dict]  # indicator_id -> {period_label, rows, wales_value}
    community: dict[str, list[dict]]  # la_code -> mart_community_profile rows
    trends: dict[tuple[str, str], list[dict]]  # (area_code, indicator_id) -> LA or Wales points, oldest first
    exceptions: list[dict]
    tables: dict[str, dict] = field(default_factory=dict)  # indicator_id -> Wales-wide ranked table
    la_tables: dict[tuple[str, str], dict] = field(default_factory=dict)  # (indicator_id, la_code) -> table
    lsoa_names: dict[str, dict] = field(default_factory=dict)  # lsoa code -> names, ward, LA
    # police forces with police.uk months in the warehouse: {code, name, name_cy, last_month}
    police_months: list[dict] = field(default_factory=list)


def _rows(con, sql: str, params: list | None = None) -> list[dict]:
    rel = con.execute(sql, params or [])
    cols = [d[0] for d in rel.description]
    return [dict(zip(cols, r)) for r in rel.fetchall()]


def _frame(con, sql: str, params: list | None = None) -> pl.DataFrame:
    rel = con.execute(sql, params or [])
    cols = [d[0] for d in rel.description]
    rows = rel.fetchall()
    return pl.DataFrame(rows, schema=cols, orient="row", infer_schema_length=None)


def welsh_area_name(name: str | None, la_name: str | None, la_name_cy: str | None) -> str | None:
    """ONS names LSOAs and MSOAs after their local authority ("Newport 014B"); the Welsh name is the same with the
    authority's Welsh name ("Casnewydd 014B"), as ONS publishes it."""
    if not name or not la_name or not la_name_cy:
        return None
    if name.startswith(la_name + " "):
        return la_name_cy + name[len(la_name):]
    return None


# ------------------------------------------------------------------------------------------------ reads


def _public_indicators(con) -> dict[str, dict]:
    cat = _rows(con, """
        select c.*, row_number() over () as catalogue_order
        from ref.indicator_catalogue c
        where coalesce(c.licence, '') not ilike '%partner%'
    """)
    levels = _rows(con, """
        select indicator_id, geography_level, max(period_start) as latest_start,
               arg_max(period_label, period_start) as latest_label, count(distinct period_start) as periods
        from marts.fct_indicator_value group by all
    """)
    by_id: dict[str, dict] = {}
    for c in cat:
        by_id[c["indicator_id"]] = {**c, "levels": {}}
    for r in levels:
        if r["indicator_id"] in by_id:
            by_id[r["indicator_id"]]["levels"][r["geography_level"]] = r
    out = {}
    order = {f: i for i, f in enumerate(FACTORS)}
    for c in sorted(by_id.values(), key=lambda c: (order.get(c["cohesion_factor"], 99), c["catalogue_order"])):
        if not c["levels"]:
            c["map_level"] = None
            out[c["indicator_id"]] = c  # in the catalogue, no figure bundled: listed as not available
            continue
        c["map_level"] = next((lv for lv in MAP_LEVEL_ORDER if lv in c["levels"]), None)
        out[c["indicator_id"]] = c
    return out


def _profiles(con, public: set[str]) -> dict[str, list[dict]]:
    rows = _rows(con, """
        with r as (
            select indicator_id, latest_period_label,
                   min(latest_value) as wales_lowest, quantile_cont(latest_value, 0.25) as wales_25th_percentile,
                   quantile_cont(latest_value, 0.75) as wales_75th_percentile, max(latest_value) as wales_highest,
                   count(*) as las_in_range
            from marts.mart_cohesion_profile group by all
        )
        select p.*, r.wales_lowest, r.wales_25th_percentile, r.wales_75th_percentile, r.wales_highest, r.las_in_range
        from marts.mart_cohesion_profile p join r using (indicator_id, latest_period_label)
        order by p.la_code, p.indicator_id
    """)
    out: dict[str, list[dict]] = {}
    for r in rows:
        if r["indicator_id"] in public:
            out.setdefault(r["la_code"], []).append(r)
    return out


def _suppressed_values_sql(where: str) -> str:
    """fct_indicator_value rows (filtered by ``where``) with the local authority of each small area and the
    disclosure control applied: ``is_suppressed`` set and value, interval and numerator nulled."""
    return f"""
        with geo_lsoa as (select lsoa21_code as area_code, la_code from marts.dim_geography),
        geo_msoa as (select distinct msoa21_code as area_code, la_code from marts.dim_geography),
        geo_ward as (select distinct ward_code as area_code, la_code from marts.dim_geography),
        v as (
            select v.*, c.disclosure_threshold,
                   case v.geography_level when 'lsoa' then gl.la_code when 'msoa' then gm.la_code
                        when 'ward' then gw.la_code when 'la' then v.area_code end as la_code
            from marts.fct_indicator_value v
            join ref.indicator_catalogue c using (indicator_id)
            left join geo_lsoa gl on v.geography_level = 'lsoa' and gl.area_code = v.area_code
            left join geo_msoa gm on v.geography_level = 'msoa' and gm.area_code = v.area_code
            left join geo_ward gw on v.geography_level = 'ward' and gw.area_code = v.area_code
            where coalesce(c.licence, '') not ilike '%partner%' and ({where})
        ),
        p as (
            select *, coalesce(disclosure_threshold > 0 and numerator >= 1 and numerator < disclosure_threshold, false)
                      as is_primary
            from v
        ),
        s as (
            select *,
                   count(*) filter (where is_primary) over grp as n_primary,
                   row_number() over (partition by indicator_id, geography_level, period_start, la_code, is_primary
                                      order by numerator nulls last, area_code) as small_rank
            from p
            window grp as (partition by indicator_id, geography_level, period_start, la_code)
        ),
        f as (
            select *, is_primary or (geography_level in ('lsoa', 'msoa', 'ward') and n_primary = 1 and not is_primary
                                      and small_rank = 1 and numerator is not null and disclosure_threshold > 0)
                      as is_suppressed
            from s
        )
        select * replace (
                   case when is_suppressed then null else value end as value,
                   case when is_suppressed then null else lci_95 end as lci_95,
                   case when is_suppressed then null else uci_95 end as uci_95,
                   case when is_suppressed then null else numerator end as numerator,
                   case when is_suppressed then 'suppressed' else status end as status)
        from f
    """


def _trends(con, public: set[str]) -> dict[tuple[str, str], list[dict]]:
    rows = _rows(con, _suppressed_values_sql("v.geography_level in ('la', 'wales')")
                 + " order by area_code, indicator_id, period_start")
    out: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        if r["indicator_id"] in public:
            out.setdefault((r["area_code"], r["indicator_id"]), []).append(r)
    return out


def _geography(con) -> tuple[list[dict], dict[str, dict]]:
    las = _rows(con, """
        select l.la_code as code, l.la_name as name, l.la_name_cy as name_cy, l.police_force_code,
               f.police_force_name, f.police_force_name_cy
        from ref.local_authority l left join ref.police_force f using (police_force_code)
        order by l.la_code
    """)
    lsoas = _rows(con, """
        select g.lsoa21_code as code, g.lsoa21_name as name, g.ward_code, g.ward_name, g.ward_name_cy,
               g.la_code, l.la_name, l.la_name_cy, g.urban_rural, g.msoa21_code, g.msoa21_name
        from marts.dim_geography g join ref.local_authority l using (la_code)
    """)
    names = {}
    for r in lsoas:
        r["name_cy"] = welsh_area_name(r["name"], r["la_name"], r["la_name_cy"])
        names[r["code"]] = r
    return las, names


def _area_names(con, las: list[dict], lsoas: dict[str, dict]) -> dict[tuple[str, str], dict]:
    """(level, code) -> {name, name_cy, la_code} for every level a table can show."""
    out: dict[tuple[str, str], dict] = {}
    la_by = {la["code"]: la for la in las}
    for la in las:
        out[("la", la["code"])] = {"name": la["name"], "name_cy": la["name_cy"], "la_code": la["code"]}
    for r in lsoas.values():
        out[("lsoa", r["code"])] = {"name": r["name"], "name_cy": r["name_cy"], "la_code": r["la_code"]}
        out.setdefault(("ward", r["ward_code"]), {"name": r["ward_name"], "name_cy": r["ward_name_cy"],
                                                  "la_code": r["la_code"]})
        la = la_by[r["la_code"]]
        out.setdefault(("msoa", r["msoa21_code"]), {
            "name": r["msoa21_name"], "name_cy": welsh_area_name(r["msoa21_name"], la["name"], la["name_cy"]),
            "la_code": r["la_code"]})
    for la in las:
        if la["police_force_code"]:
            out[("police_force", la["police_force_code"])] = {
                "name": la["police_force_name"], "name_cy": la["police_force_name_cy"], "la_code": None}
    out[("wales", WALES_CODE)] = {"name": "Wales", "name_cy": "Cymru", "la_code": None}
    return out


def _ranked(df: pl.DataFrame) -> pl.DataFrame:
    """Rank 1 = highest value; suppressed and missing figures unranked, listed last."""
    if df.is_empty():
        return df.with_columns(pl.lit(None, dtype=pl.Int64).alias("rank"))
    df = df.sort(["value", "area_code"], descending=[True, False], nulls_last=True)
    has = df["value"].is_not_null()
    ranks = has.cast(pl.Int64).cum_sum()
    return df.with_columns(pl.when(has).then(ranks).otherwise(None).alias("rank"))


def _small_area_tables(con, indicators: dict[str, dict], names: dict[tuple[str, str], dict], las: list[dict]):
    """Wales-wide tables at each indicator's map level (its latest period), and per local authority (each
    authority's own latest period: the forces' police.uk files need not end in the same month)."""
    ids = [i for i, c in indicators.items() if c["map_level"] in SMALL_AREA_LEVELS]
    if not ids:
        return {}, {}
    id_list = ", ".join(f"'{i}'" for i in ids)
    values = _suppressed_values_sql(f"v.geography_level in ('lsoa', 'msoa', 'ward') and v.indicator_id in ({id_list})")
    rows = _frame(con, f"""
        select *,
               period_start = max(period_start) over (partition by indicator_id, geography_level) as is_wales_latest,
               period_start = max(period_start) over (partition by indicator_id, geography_level, la_code) as is_la_latest
        from ({values}) x
    """)
    bench = _frame(con, f"""
        select indicator_id, geography_level, area_code, period_start,
               max(assessment) filter (where benchmark_type = 'wales') as compared_with_wales,
               max(assessment) filter (where benchmark_type = 'la') as compared_with_la
        from marts.fct_indicator_benchmark
        where geography_level in ('lsoa', 'msoa') and indicator_id in ({id_list})
        group by all
    """)
    la_by = {la["code"]: la for la in las}
    tables, la_tables = {}, {}
    for ind in ids:
        level = indicators[ind]["map_level"]
        sub = rows.filter((pl.col("indicator_id") == ind) & (pl.col("geography_level") == level))
        if sub.is_empty():
            continue
        b = bench.filter(pl.col("indicator_id") == ind)
        sub = sub.join(b, on=["indicator_id", "geography_level", "area_code", "period_start"], how="left")
        sub = sub.with_columns(
            pl.when(pl.col("is_suppressed")).then(pl.lit("suppressed")).otherwise(pl.col("compared_with_wales"))
            .alias("compared_with_wales"),
            pl.when(pl.col("is_suppressed")).then(pl.lit("suppressed")).otherwise(pl.col("compared_with_la"))
            .alias("compared_with_la"),
            pl.col("area_code").map_elements(lambda c, lv=level: (names.get((lv, c)) or {}).get("name"),
                                             return_dtype=pl.String).alias("area_name"),
            pl.col("area_code").map_elements(lambda c, lv=level: (names.get((lv, c)) or {}).get("name_cy"),
                                             return_dtype=pl.String).alias("area_name_cy"),
            pl.col("la_code").map_elements(lambda c: la_by[c]["name"] if c in la_by else None,
                                           return_dtype=pl.String).alias("la_name"),
            pl.col("la_code").map_elements(lambda c: la_by[c]["name_cy"] if c in la_by else None,
                                           return_dtype=pl.String).alias("la_name_cy"),
        )
        wales = sub.filter(pl.col("is_wales_latest"))
        tables[ind] = _table(ind, level, wales)
        for la in las:
            t = sub.filter(pl.col("is_la_latest") & (pl.col("la_code") == la["code"]))
            if not t.is_empty():
                la_tables[(ind, la["code"])] = _table(ind, level, t)
    return tables, la_tables


def _table(indicator_id: str, level: str, df: pl.DataFrame) -> dict:
    period_start = df["period_start"].max()
    df = df.filter(pl.col("period_start") == period_start)
    ranked = _ranked(df)
    frame = ranked.select(list(TABLE_COLUMNS))
    return {
        "indicator_id": indicator_id, "level": level, "period_label": ranked["period_label"][0],
        "period_start": period_start, "frame": frame,
        "n_areas": frame.height, "n_values": int(frame["value"].is_not_null().sum()),
        "n_suppressed": int((frame["status"] == "suppressed").sum()),
        "source_release": ranked["source_release"][0] if "source_release" in ranked.columns else None,
    }


def _la_level_tables(con, indicators: dict[str, dict], names: dict[tuple[str, str], dict]) -> dict[str, dict]:
    """Wales-wide tables for indicators published no lower than local authority (or police force)."""
    out = {}
    for ind, c in indicators.items():
        level = c["map_level"]
        if level not in ("la", "police_force"):
            continue
        df = _frame(con, _suppressed_values_sql(f"v.indicator_id = '{ind}' and v.geography_level = '{level}'"))
        df = df.filter(pl.col("period_start") == df["period_start"].max())
        b = _frame(con, """
            select area_code, period_start, assessment as compared_with_wales
            from marts.fct_indicator_benchmark where indicator_id = ? and geography_level = ? and benchmark_type = 'wales'
        """, [ind, level]) if level == "la" else None
        if b is not None and not b.is_empty():
            df = df.join(b, on=["area_code", "period_start"], how="left")
        else:
            df = df.with_columns(pl.lit(None, dtype=pl.String).alias("compared_with_wales"))
        df = df.with_columns(
            pl.col("area_code").map_elements(lambda x, lv=level: (names.get((lv, x)) or {}).get("name"),
                                             return_dtype=pl.String).alias("area_name"),
            pl.col("area_code").map_elements(lambda x, lv=level: (names.get((lv, x)) or {}).get("name_cy"),
                                             return_dtype=pl.String).alias("area_name_cy"),
            pl.lit(None, dtype=pl.String).alias("la_name"), pl.lit(None, dtype=pl.String).alias("la_name_cy"),
            pl.lit(None, dtype=pl.String).alias("compared_with_la"),
        )
        if level == "la":
            df = df.with_columns(pl.col("area_code").alias("la_code"), pl.col("area_name").alias("la_name"),
                                 pl.col("area_name_cy").alias("la_name_cy"))
        out[ind] = _table(ind, level, df)
    return out


def _la_maps(profiles: dict[str, list[dict]], las: list[dict]) -> dict[str, dict]:
    """indicator_id -> the local authorities' latest figures from mart_cohesion_profile, for the Wales map."""
    by_ind: dict[str, list[dict]] = {}
    for la_code, rows in profiles.items():
        for r in rows:
            by_ind.setdefault(r["indicator_id"], []).append(r)
    la_by = {la["code"]: la for la in las}
    out = {}
    for ind, rows in by_ind.items():
        periods: dict[str, int] = {}
        for r in rows:
            periods[r["latest_period_label"]] = periods.get(r["latest_period_label"], 0) + 1
        period = max(periods, key=lambda p: (periods[p], p))
        rows = [r for r in rows if r["latest_period_label"] == period]
        frame = pl.DataFrame([{
            "area_code": r["la_code"], "area_name": la_by[r["la_code"]]["name"],
            "area_name_cy": la_by[r["la_code"]]["name_cy"], "indicator_id": ind, "period_label": period,
            "value": r["latest_value"], "lci_95": r["latest_lci_95"], "uci_95": r["latest_uci_95"],
            "unit": r["unit"], "status": r["latest_status"], "wales_value": r["wales_latest_value"],
            "compared_with_wales": r["assessment_vs_wales"],
        } for r in rows], infer_schema_length=None)
        frame = _ranked(frame).select(list(LA_TABLE_COLUMNS))
        wales = next((r["wales_latest_value"] for r in rows if r["wales_latest_value"] is not None), None)
        out[ind] = {"indicator_id": ind, "period_label": period, "frame": frame, "wales_value": wales,
                    "n_areas": frame.height}
    return out


def _exceptions(con, public: set[str], names: dict[tuple[str, str], dict]) -> list[dict]:
    """Exceptions (fct_indicator_change.is_exception: rapid change on the headline comparison) in the latest
    period of each indicator and level: what a report by exception shows now."""
    rows = _rows(con, """
        with c as (select * from marts.fct_indicator_change where is_headline_comparison),
        latest as (select indicator_id, geography_level, max(period_start) as period_start from c group by all)
        select c.* from c join latest using (indicator_id, geography_level, period_start)
        where c.is_exception
        order by c.indicator_id, c.geography_level, c.area_code
    """)
    out = []
    for r in rows:
        if r["indicator_id"] not in public:
            continue
        n = names.get((r["geography_level"], r["area_code"])) or {}
        r["name"] = n.get("name") or r["area_name"]
        r["name_cy"] = n.get("name_cy")
        r["la_code"] = n.get("la_code")
        out.append(r)
    return out


def load(warehouse: Path) -> AtlasData:
    """Everything the atlas shows, from a read-only connection to ``warehouse``, held only while reading (the
    pages are rendered after it is closed); waits, saying for whom, while a build holds the file."""
    con = connect(warehouse, read_only=True)
    try:
        indicators = _public_indicators(con)
        public = set(indicators)
        las, lsoas = _geography(con)
        names = _area_names(con, las, lsoas)
        profiles = _profiles(con, public)
        community: dict[str, list[dict]] = {}
        for r in _rows(con, "select * from marts.mart_community_profile order by la_code, topic_order, measure_order"):
            community.setdefault(r["la_code"], []).append(r)
        trends = _trends(con, public)
        exceptions = _exceptions(con, public, names)
        tables, la_tables = _small_area_tables(con, indicators, names, las)
        tables.update(_la_level_tables(con, indicators, names))
        police_months = _rows(con, """
            select f.police_force_code as code, f.police_force_name as name, f.police_force_name_cy as name_cy,
                   max(c.month) as last_month
            from marts.fct_crime_monthly_coverage c join ref.police_force f on f.police_uk_force_id = c.force_id
            group by all order by f.police_force_name
        """)
    finally:
        con.close()
    data = AtlasData(
        built_on=dt.date.today(), las=las, la_by_code={la["code"]: la for la in las}, indicators=indicators,
        profiles=profiles, la_maps=_la_maps(profiles, las), community=community, trends=trends,
        exceptions=exceptions, tables=tables, la_tables=la_tables, lsoa_names=lsoas, police_months=police_months,
    )
    return data


# ------------------------------------------------------------------------------------------ for a page


def benchmark_flags(points: list[dict], benchmark_label: str, latest_label: str) -> list[tuple[bool, bool]]:
    """(is_benchmark, is_latest) for each trend point: the period labelled as the profile's benchmark / latest
    period, or, for the profile's 12-month windows of police.uk quarters ("12 months to 2022-12-31"), the
    quarters inside the window."""

    def inside(label: str):
        m = re.fullmatch(r"12 months to (\d{4}-\d{2}-\d{2})", label or "")
        if not m:
            return lambda p: p["period_label"] == label
        end = dt.date.fromisoformat(m[1])
        start = dt.date(end.year - 1, end.month, end.day) + dt.timedelta(days=1)
        return lambda p: p["period_start"] >= start and p["period_end"] <= end

    is_b, is_l = inside(benchmark_label), inside(latest_label)
    return [(bool(is_b(p)), bool(is_l(p))) for p in points]


def short_of_a_year(points: list[dict]) -> dict | None:
    """An area's figures of an indicator (trend points, oldest first) that cover less than a year: {first, last}
    period labels, or None. The profile's figures of sub-annual counts (police.uk crime) are 12-month windows
    (mart_cohesion_profile), so an area whose months cover less than a year has figures but no profile row:
    its profile says so, rather than that nothing is available. As in the mart, only the series of the latest
    point counts (a window never spans a series break)."""
    if not points:
        return None
    series = max(points, key=lambda p: p["period_end"]).get("series_key")
    points = [p for p in points if p.get("series_key") == series]
    start = min(p["period_start"] for p in points)
    end = max(p["period_end"] for p in points)
    try:
        year_on = start.replace(year=start.year + 1)
    except ValueError:  # 29 February
        year_on = start.replace(year=start.year + 1, day=28)
    if end >= year_on - dt.timedelta(days=1):
        return None
    return {"first": points[0]["period_label"], "last": points[-1]["period_label"]}


def police_file_ends(forces: list[dict]) -> list[tuple[dt.date, list[dict]]]:
    """(last month, forces whose police.uk files end then), oldest first, when the forces' files do not all end
    in the same month (a later period then has no figure for the local authorities of the forces that ended
    earlier); [] when they do, or when there is at most one force."""
    ends: dict[dt.date, list[dict]] = {}
    for f in forces:
        ends.setdefault(f["last_month"], []).append(f)
    return sorted(ends.items()) if len(ends) > 1 else []


def profile_by_factor(rows: list[dict], indicators: dict[str, dict], trends: dict[tuple[str, str], list[dict]],
                      la_code: str) -> list[tuple[str, list[dict], list[dict]]]:
    """(factor, profile rows, catalogue indicators of the factor with no row for this area) in the guide's
    factor order: every factor reported separately, including those without figures. Each indicator with no row
    carries ``short``: short_of_a_year of the area's points in the atlas's ``trends`` (explained, not listed as
    not available), or None."""
    out = []
    for f in FACTORS:
        have = [r for r in rows if r["cohesion_factor"] == f]
        order = {i: n for n, i in enumerate(indicators)}
        have.sort(key=lambda r: order.get(r["indicator_id"], 999))
        ids = {r["indicator_id"] for r in have}
        missing = []
        for c in indicators.values():
            if c["cohesion_factor"] == f and c["indicator_id"] not in ids:
                missing.append({**c, "short": short_of_a_year(trends.get((la_code, c["indicator_id"]), []))})
        out.append((f, have, missing))
    return out


def profile_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame([{k: r.get(k) for k in PROFILE_COLUMNS} for r in rows], infer_schema_length=None)
