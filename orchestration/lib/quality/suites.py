"""Build the Great Expectations suites that make each dataset's metadata limits executable.

The suites are written as JSON to ``expectations/`` (``python scripts/build_expectation_suites.py``),
which is what a reviewer reads; tests fail if the committed JSON differs from what this module
generates. Each suite says, in its ``meta``, which Dagster asset it checks and the SQL that produces
the rows it validates; each expectation carries GX's own ``severity``: ``critical`` (bad data must not
flow on: a Dagster ERROR, blocking downstream assets) or ``warning`` (a reliability limit to flag as a
caveat: a Dagster WARN).

Generated where the limits are data:
- raw public tables: columns and types from a known-good build, codes against the geography seeds for
  the table's LSOA/LA vintage, keys, row counts for the geography (1,917 LSOAs, 1,909 on 2011 codes, 22 LAs);
- indicator values: every indicator's valid range, minimum reliable geography and widest acceptable
  interval from the indicator catalogue; intervals containing the value; positive denominators;
- coverage and freshness: every expected area present in every period; the newest period against the
  catalogue's publication frequency;
- partner extracts and tension facts: vocabularies, grades, ranges from the extract contracts, and the
  personal-data patterns of redaction.py in every text column;
- the shared tier: no count under the disclosure threshold, no free-text column.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from orchestration.lib.partner_extracts import contracts
from orchestration.lib.partner_extracts.redaction import regex_list
from orchestration.lib.seeds import read_seed, seed_column
from orchestration.settings import REPO_ROOT

EXPECTATIONS_DIR = REPO_ROOT / "expectations"
CRITICAL, WARNING = "critical", "warning"
LEVEL_ORDER = ["lsoa", "ward", "msoa", "la", "police_force", "wales"]  # finest to coarsest (typical population)
# Days after a period ends by which the next release should be out: the period length plus the usual
# publication lag (police.uk ~2 months; annual ONS/StatsWales series up to ~18 months; census ~2 years).
REFRESH_DAYS = {"monthly": 31 + 62, "quarterly": 92 + 92, "annual": 365 + 548, "decennial": 3653 + 730}


# Tables whose rows come from partner files: a failing value may be personal data, so their suites report
# counts only (no sample values in marts.dq_results, Dagster's metadata or the Data Docs site).
PARTNER_DERIVED_MARTS = {"fct_tension_report", "fct_incident", "fct_tension_assessment", "fct_cia", "fct_risk",
                         "fct_tension_evidence", "shared_incident_summary"}


def is_partner_data(asset_key: list[str]) -> bool:
    schema, table = asset_key[0], asset_key[-1]
    return (schema == "raw" and table.startswith("partner_")) or (schema == "marts" and table in PARTNER_DERIVED_MARTS)


@dataclass
class Suite:
    name: str
    asset_key: list[str]
    description: str
    query: str
    expectations: list[dict] = field(default_factory=list)
    # "police_months": an incremental build (only some police.uk months new) checks only the periods containing
    # them, the rest being unchanged since the suite last passed (runner.month_scope)
    scope: str | None = None
    scope_keep: list[str] = field(default_factory=list)  # row-flag columns whose flagged rows are always checked
    # validated in parts of whole groups of this column's values when the query returns many rows
    # (runner.chunk_queries: the same outcome, a fraction of the memory)
    chunk_by: str | None = None

    def expect(self, type_: str, severity: str = CRITICAL, why: str = "", **kwargs) -> None:
        self.expectations.append({"type": type_, "kwargs": kwargs, "severity": severity, "meta": {"why": why}})

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "expectations": self.expectations,
            "meta": {
                "asset_key": self.asset_key,
                "description": self.description,
                "query": self.query,
                # partner data: failing values are never copied out (counts only)
                "withhold_values": is_partner_data(self.asset_key),
                **({"scope": self.scope, "scope_keep": self.scope_keep} if self.scope else {}),
                **({"chunk_by": self.chunk_by} if self.chunk_by else {}),
                "generated_by": "orchestration/lib/quality/suites.py (scripts/build_expectation_suites.py)",
            },
        }


def _codes(relative: str, column: str) -> list[str]:
    return sorted(set(seed_column(relative, column)))


# ------------------------------------------------------------------------------------------ raw public

# (table, code column, vintage, key columns, extra expectations) — the hand-written part.
RAW_TABLES = {
    "wimd2025_lsoa21": ("lsoa21_code", "lsoa21", ["lsoa21_code"]),
    "wimd2019_lsoa11": ("lsoa11_code", "lsoa11", ["lsoa11_code"]),
    "census2021_population_lsoa21": ("lsoa21_code", "lsoa21", ["lsoa21_code", "age_group"]),
    "census2021_ethnicity_lsoa21": ("area_code", "lsoa21", ["area_code", "category"]),
    "census2021_tenure_lsoa21": ("area_code", "lsoa21", ["area_code", "category"]),
    "census2021_disability_lsoa21": ("area_code", "lsoa21", ["area_code", "category"]),
    "census2021_religion_lsoa21": ("area_code", "lsoa21", ["area_code", "category"]),
    "census2021_household_deprivation_lsoa21": ("area_code", "lsoa21", ["area_code", "category"]),
    "census2011_welsh_speakers_lsoa11": ("lsoa11_code", "lsoa11", ["lsoa11_code"]),
    "sape2019_population_lsoa11": ("lsoa11_code", "lsoa11", ["lsoa11_code"]),
    "census2021_ethnicity_la": ("la_code", "la", ["la_code", "category"]),
    "census2021_country_of_birth_la": ("la_code", "la", ["la_code", "country_of_birth"]),
    "census2011_tenure_la": ("la_code", "la", ["la_code", "category"]),
}
VINTAGES = {
    "lsoa21": (lambda: _codes("geography/lsoa21_geography.csv", "lsoa21_code"), 1917, "2021 LSOA"),
    "lsoa11": (lambda: _codes("geography/lsoa11_lsoa21_exact_fit.csv", "lsoa11_code"), 1909, "2011 LSOA"),
    "la": (lambda: _codes("geography/local_authority.csv", "la_code"), 22, "local authority"),
}
NON_NEGATIVE = {"usual_residents", "n", "total", "total_population", "wimd_score"}


def raw_public_suites(schema: dict[str, list[tuple[str, str]]]) -> list[Suite]:
    """schema: table -> [(column, pandas dtype)] observed on a known-good build."""
    suites = []
    for table, (code_column, vintage, key) in RAW_TABLES.items():
        codes, expected, label = VINTAGES[vintage]
        suite = Suite(
            name=f"raw_{table}",
            asset_key=["raw", table],
            description=f"raw.{table}: columns and types, {label} codes, one row per {' × '.join(key)}, "
                        f"all {expected} areas present.",
            query=f"select * from raw.{table}",
        )
        _schema_expectations(suite, schema[table])
        suite.expect("expect_column_values_to_not_be_null", column=code_column, why="every row has its area code")
        suite.expect("expect_column_values_to_be_in_set", column=code_column, value_set=codes(),
                     why=f"codes valid for the {label} vintage the table is published on")
        suite.expect("expect_column_unique_value_count_to_be_between", column=code_column,
                     min_value=expected, max_value=expected, why=f"every one of the {expected} {label}s present")
        if len(key) == 1:
            suite.expect("expect_column_values_to_be_unique", column=key[0], why="no duplicate keys")
        else:
            suite.expect("expect_compound_columns_to_be_unique", column_list=key, why="no duplicate keys")
        for column, _ in schema[table]:
            if column in NON_NEGATIVE:
                suite.expect("expect_column_values_to_be_between", column=column, min_value=0,
                             why="counts and scores cannot be negative")
        if table == "wimd2025_lsoa21":
            suite.expect("expect_column_values_to_be_between", column="wimd_rank", min_value=1, max_value=1917,
                         why="WIMD 2025 ranks 1 (most deprived) to 1,917")
            suite.expect("expect_column_values_to_be_unique", column="wimd_rank", why="ranks are unique")
            suite.expect("expect_column_values_to_be_between", column="wimd_decile", min_value=1, max_value=10)
        if table.endswith("_lsoa21") and "category" in key:
            suite.expect("expect_column_pair_values_a_to_be_greater_than_b", column_A="total", column_B="n",
                         or_equal=True, why="a category cannot exceed its area's total")
        if table == "census2011_welsh_speakers_lsoa11":
            suite.expect("expect_column_values_to_be_between", column="pct_able_to_speak_welsh_2011",
                         min_value=0, max_value=100)
        suites.append(suite)
    police = Suite(
        name="raw_police_uk_street_crimes",
        # raw/police_uk_street_crimes is partitioned by month; the suite runs on the staging view over it
        # (unpartitioned), so a failure blocks what is built after it in the same run.
        asset_key=["staging", "stg_police_uk__street_crimes"],
        description="raw.police_uk_street_crimes (checked where staging reads it): columns and types, forces, "
                    "months, crime categories, LSOA code shape, one row per file row. Only the rows loaded since the "
                    "suite last passed are checked: a month that did not change is not validated again.",
        # {last_passed}: when every expectation of this suite last passed (runner.last_passed); a month's rows are
        # replaced whole when it reloads, so every row is checked once after each load of its month
        query="select * from raw.police_uk_street_crimes where loaded_at > {last_passed}",
        # a full build at 10 years of four forces checks 3.2M rows: in parts of whole files (source_file is in
        # the one uniqueness expectation, so a duplicate is never split across parts)
        chunk_by="source_file",
    )
    _schema_expectations(police, schema["police_uk_street_crimes"])
    police.expect("expect_column_values_to_be_in_set", column="force_id",
                  value_set=_codes("geography/police_force.csv", "police_uk_force_id"))
    police.expect("expect_column_values_to_match_regex", column="month", regex=r"^\d{4}-(?:0[1-9]|1[0-2])$")
    police.expect("expect_column_values_to_be_in_set", column="crime_type",
                  value_set=_codes("reference/police_uk_crime_types.csv", "crime_type"),
                  why="police.uk's published categories")
    police.expect("expect_column_values_to_match_regex", column="lsoa_code", regex=r"^[WE]01\d{6}$",
                  why="Welsh or English LSOA codes (rows with no location have none)")
    police.expect("expect_compound_columns_to_be_unique", column_list=["source_file", "source_row"])
    suites.append(police)
    return suites


def _schema_expectations(suite: Suite, columns: list[tuple[str, str]]) -> None:
    suite.expect("expect_table_columns_to_match_ordered_list", column_list=[c for c, _ in columns],
                 why="the columns the models read, in order")
    for column, dtype in columns:
        suite.expect("expect_column_values_to_be_in_type_list", column=column, type_list=[dtype],
                     why="type as loaded in a known-good build")


# ------------------------------------------------------------------------------------------ indicators


def catalogue() -> tuple[dict, ...]:
    return read_seed("indicator_catalogue.csv")


def indicator_value_suite() -> Suite:
    # The catalogue's per-indicator limits (valid range, minimum reliable geography, widest acceptable
    # interval) are joined to every row in SQL, and each limit is one expectation on a column that names the
    # offending row (indicator, level, area, period, value and the limit): a failure's sample then says which
    # indicator and area broke which limit, and the suite is three scans of the table instead of three per
    # indicator (a pandas row condition each: 130 expectations, ~12 s on the bundled data).
    levels = ", ".join(f"'{level}'" for level in LEVEL_ORDER)
    query = f"""
with v as (
    select v.*, v.uci_95 - v.lci_95 as ci_width, c.valid_min, c.valid_max, c.min_reliable_level, c.max_ci_width,
           c.unit as catalogue_unit,
           v.indicator_id || ' ' || v.geography_level || ' ' || v.area_code || ' ' || v.period_label as row_id
    from marts.fct_indicator_value v
    left join ref.indicator_catalogue c using (indicator_id)
)
select * exclude (row_id, valid_min, valid_max, min_reliable_level, max_ci_width, catalogue_unit),
       case when value < valid_min or value > valid_max
            then row_id || ': ' || value || ' outside the valid range ' || valid_min || '–' || valid_max || ' '
                 || catalogue_unit end as outside_valid_range,
       case when list_position([{levels}], geography_level) < list_position([{levels}], min_reliable_level)
            then row_id || ': not reliable below ' || min_reliable_level end as below_min_reliable_level,
       case when ci_width > max_ci_width
            then row_id || ': 95% interval ' || round(ci_width, 1) || ' wide, more than ' || max_ci_width || ' '
                 || catalogue_unit end as interval_wider_than_allowed
from v"""
    suite = Suite(
        name="marts_fct_indicator_value",
        asset_key=["marts", "fct_indicator_value"],
        description="Every indicator value inside the catalogue's valid range, its interval containing it, "
                    "positive denominators; warnings where a value is shown below its minimum reliable "
                    "geography or its interval is wider than the catalogue allows (limits per indicator from "
                    "ref.indicator_catalogue: valid_min/valid_max, min_reliable_level, max_ci_width).",
        query=query.strip(),
        scope="police_months",
        scope_keep=["outside_valid_range", "below_min_reliable_level", "interval_wider_than_allowed"],
    )
    suite.expect("expect_compound_columns_to_be_unique", column_list=["indicator_id", "geography_level", "area_code",
                                                                      "period_start"])
    suite.expect("expect_column_values_to_be_in_set", column="indicator_id",
                 value_set=sorted(r["indicator_id"] for r in catalogue()), why="only catalogued indicators")
    suite.expect("expect_column_pair_values_a_to_be_greater_than_b", column_A="uci_95", column_B="value",
                 or_equal=True, ignore_row_if="either_value_is_missing", why="the interval contains the value")
    suite.expect("expect_column_pair_values_a_to_be_greater_than_b", column_A="value", column_B="lci_95",
                 or_equal=True, ignore_row_if="either_value_is_missing", why="the interval contains the value")
    suite.expect("expect_column_values_to_be_between", column="denominator", min_value=0, strict_min=True,
                 why="rates and shares need a positive denominator")
    suite.expect("expect_column_values_to_be_null", column="outside_valid_range",
                 why="every value inside its indicator's valid range (catalogue valid_min–valid_max)")
    suite.expect("expect_column_values_to_be_null", severity=WARNING, column="below_min_reliable_level",
                 why="no value shown below its indicator's minimum reliable geography (catalogue min_reliable_level)")
    suite.expect("expect_column_values_to_be_null", severity=WARNING, column="interval_wider_than_allowed",
                 why="no 95% interval wider than its indicator allows (catalogue max_ci_width)")
    return suite


def coverage_suite() -> Suite:
    query = """
-- For each indicator, level and period: the areas expected are every area of that level in the local
-- authorities the indicator has any data for; for police.uk indicators only those LAs whose force's files
-- cover every month of the period (all of Wales in 2022-Q1..Q3, Gwent after). Each must be present.
with values_ as (
    select indicator_id, geography_level, area_code, period_start from marts.fct_indicator_value
),
membership as (
    select distinct m.geography_level, m.area_code, g.la_code
    from intermediate.int_geography__area_membership m
    join marts.dim_geography g using (lsoa21_code)
),
covered_las as (
    select distinct v.indicator_id, v.geography_level, m.la_code
    from values_ v join membership m using (geography_level, area_code)
),
-- police.uk indicators: a period expects only the LAs whose force's file is loaded for every month of it
-- (a force missing a month leaves its LSOAs counted but rate-less: no value, by design)
police_indicators as (
    select indicator_id from ref.indicator_catalogue where source like 'data.police.uk%'
),
periods as (
    select distinct indicator_id, geography_level, period_start, period_end from marts.fct_indicator_value
),
force_complete as (
    select p.indicator_id, p.geography_level, p.period_start, la.la_code
    from periods p
    join police_indicators using (indicator_id)
    cross join ref.local_authority la
    join intermediate.int_police_uk__force_months fm
      on fm.police_force_code = la.police_force_code and fm.month between p.period_start and p.period_end
    group by p.indicator_id, p.geography_level, p.period_start, p.period_end, la.la_code
    having count(distinct fm.month) = datediff('month', p.period_start, p.period_end) + 1
),
expected_las as (
    select c.indicator_id, c.geography_level, p.period_start, c.la_code
    from covered_las c join periods p using (indicator_id, geography_level)
    where c.indicator_id not in (select indicator_id from police_indicators)
    union all
    select c.indicator_id, c.geography_level, f.period_start, c.la_code
    from covered_las c join force_complete f using (indicator_id, geography_level, la_code)
),
expected as (
    select c.indicator_id, c.geography_level, c.period_start, count(distinct m.area_code) as expected_areas
    from expected_las c join membership m on m.geography_level = c.geography_level and m.la_code = c.la_code
    group by all
),
present as (
    select indicator_id, geography_level, period_start, count(distinct area_code) as present_areas
    from values_
    where geography_level in ('lsoa', 'ward', 'la')
    group by all
)
select p.indicator_id, p.geography_level, p.period_start, p.present_areas, e.expected_areas,
       case when p.present_areas < e.expected_areas
            then p.indicator_id || ' ' || p.geography_level || ' ' || strftime(p.period_start, '%Y-%m-%d') || ': '
                 || (e.expected_areas - p.present_areas) || ' of ' || e.expected_areas || ' areas missing'
       end as incomplete_coverage
from present p join expected e using (indicator_id, geography_level, period_start)
order by all
"""
    suite = Suite(
        name="marts_fct_indicator_value__coverage",
        asset_key=["marts", "fct_indicator_value"],
        description="Coverage: for every indicator, level (LSOA, ward, LA) and period, every expected area is present.",
        query=query.strip(),
    )
    suite.expect("expect_column_values_to_be_null", column="incomplete_coverage",
                 why="every expected area present for every period")
    return suite


def freshness_suite() -> Suite:
    cases = "\n".join(f"        when '{f}' then {d}" for f, d in REFRESH_DAYS.items())
    query = f"""
-- The newest period of each indicator against its publication frequency, as at COHESION_AS_OF_DATE (today
-- when unset): past period end + REFRESH_DAYS, a newer release should exist.
with latest as (
    select indicator_id, max(coalesce(period_end, period_start)) as latest_period_end
    from marts.fct_indicator_value group by all
),
checked as (
select l.indicator_id, c.frequency, l.latest_period_end,
       l.latest_period_end + to_days(case c.frequency
{cases}
        end) as next_release_due,
       date_diff('day', l.latest_period_end + to_days(case c.frequency
{cases}
        end), {{as_of}}) as days_past_due
from latest l join ref.indicator_catalogue c using (indicator_id)
where c.frequency in ({', '.join(repr(f) for f in REFRESH_DAYS)})
)
select *, case when days_past_due > 0
               then indicator_id || ' (' || frequency || '; newest period ends ' || strftime(latest_period_end, '%Y-%m-%d')
                    || '; a newer release was due ' || strftime(next_release_due, '%Y-%m-%d') || ')'
          end as past_refresh_date
from checked
order by 1
"""
    suite = Suite(
        name="marts_fct_indicator_value__freshness",
        asset_key=["marts", "fct_indicator_value"],
        description="Freshness: each indicator's newest period against its publication frequency (monthly, "
                    "quarterly, annual, decennial; irregular series are not checked).",
        query=query.strip(),
    )
    suite.expect("expect_column_values_to_be_null", severity=WARNING, column="past_refresh_date",
                 why="a newer release should already exist: these figures come from a source past its expected refresh date")
    return suite


# ------------------------------------------------------------------------------- partner and tension


def partner_suites() -> list[Suite]:
    suites = []
    for extract in contracts.extract_types().values():
        suite = Suite(
            name=f"raw_{extract.raw_table}",
            asset_key=["raw", extract.raw_table],
            description=f"raw.{extract.raw_table} ({extract.title}): vocabularies, grades and ranges from the "
                        "extract contract; no personal-data pattern left in any free-text column.",
            query=f"select * from raw.{extract.raw_table}",
        )
        for col in extract.columns:
            if col.kind == contracts.PERSONAL:
                continue
            if col.required and col.kind not in (contracts.ENUM_LIST, contracts.YES_NO):
                suite.expect("expect_column_values_to_not_be_null", column=col.name, why="required by the contract")
            if col.kind == contracts.ENUM:
                suite.expect("expect_column_values_to_be_in_set", column=col.name, value_set=list(col.values))
            if col.kind == contracts.INT:
                suite.expect("expect_column_values_to_be_between", column=col.name, min_value=col.minimum,
                             max_value=col.maximum)
            if col.kind == contracts.GRADE:
                suite.expect("expect_column_values_to_be_in_set", column=col.name,
                             value_set=list(contracts.EEP_GRADES + contracts.LEVEL4_GRADES))
            if col.kind == contracts.TEXT:
                suite.expect("expect_column_values_to_not_match_regex_list", column=col.name,
                             regex_list=regex_list(), why="personal data must have been redacted")
            if col.kind == contracts.DATE:
                suite.expect("expect_column_values_to_match_regex", column=col.name,
                             regex=r"^20\d{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])$",
                             why="a calendar date in this century")
        dates = [col.name for col in extract.columns if col.kind == contracts.DATE]
        suite.query = (f"select * replace ({', '.join(f'strftime({d}, {chr(39)}%Y-%m-%d{chr(39)}) as {d}' for d in dates)}) "
                       f"from raw.{extract.raw_table}")
        suites.append(suite)
    return suites


TENSION_TEXT = {
    "fct_tension_report": ["information", "area_description"],
    "fct_incident": ["description"],
    "fct_tension_assessment": ["rationale", "assessed_by_role"],
    "fct_cia": ["subject"],
    "fct_risk": ["description", "action_plan_ref", "owner_role"],
}


def tension_suites() -> list[Suite]:
    suites = []
    for model, text_columns in TENSION_TEXT.items():
        suite = Suite(
            name=f"marts_{model}",
            asset_key=["marts", model],
            description=f"marts.{model}: no personal-data pattern in its free text; Part 3 scales and ranges.",
            query=f"select * from marts.{model}",
        )
        for column in text_columns:
            suite.expect("expect_column_values_to_not_match_regex_list", column=column, regex_list=regex_list(),
                         why="personal data must never reach a mart")
        if model == "fct_tension_assessment":
            for column in ("current_trend", "potential_trend"):
                suite.expect("expect_column_values_to_be_in_set", column=column, value_set=["▲", "▼", "►"])
            for column in ("current_eep_grade", "potential_eep_grade"):
                suite.expect("expect_column_values_to_be_between", column=column, min_value=1, max_value=6)
            for column in ("current_level4", "potential_level4"):
                suite.expect("expect_column_values_to_be_in_set", column=column, value_set=list(contracts.LEVEL4_GRADES))
            suite.expect("expect_column_values_to_be_in_set", column="scale", value_set=list(contracts.SCALES))
            suite.expect("expect_column_values_to_be_in_set", column="community_type",
                         value_set=list(contracts.community_types()))
        if model == "fct_risk":
            suite.expect("expect_column_values_to_be_between", column="score", min_value=1, max_value=25)
            suite.expect("expect_column_values_to_be_in_set", column="ppplem_heading",
                         value_set=list(contracts.PPPLEM_HEADINGS))
        if model == "fct_cia":
            suite.expect("expect_column_values_to_be_in_set", column="status",
                         value_set=[*contracts.CIA_STATUSES, "missing"])
        suites.append(suite)
    evidence = Suite(
        name="marts_fct_tension_evidence",
        asset_key=["marts", "fct_tension_evidence"],
        description="marts.fct_tension_evidence: suggested grades on the EEP scale (3–6: grades 1–2 need "
                    "intelligence; none where history is insufficient), probabilities in [0, 1], non-negative "
                    "counts, every month's baseline named.",
        query="select * from marts.fct_tension_evidence",
    )
    evidence.expect("expect_column_values_to_be_between", column="suggested_grade", min_value=3, max_value=6,
                    why="null (skipped here) where volume_level is insufficient_history: no grade, never a false 6")
    evidence.expect("expect_column_values_to_be_between", column="exceedance_p", min_value=0, max_value=1)
    for column in ("incident_count", "hate_incident_count", "tension_report_count"):
        evidence.expect("expect_column_values_to_be_between", column=column, min_value=0)
    evidence.expect("expect_column_values_to_not_be_null", column="volume_level")
    evidence.expect("expect_column_values_to_be_in_set", column="volume_level",
                    value_set=["normal", "raised", "substantially_raised", "insufficient_history"],
                    why="a month without a usable baseline is insufficient_history, never normal")
    evidence.expect("expect_column_values_to_not_be_null", column="baseline_source")
    evidence.expect("expect_column_values_to_be_in_set", column="baseline_source",
                    value_set=["own_history", "ward_rate", "la_rate", "force_rate", "la_same_month",
                               "force_same_month", "none"],
                    why="where each month's expected count comes from, shown to the group")
    suites.append(evidence)
    return suites


SHARED_COLUMNS = ["la_code", "la_name", "quarter", "quarter_start", "incident_group", "incident_group_label",
                  "incident_count", "is_suppressed", "disclosure_threshold"]


def shared_suites() -> list[Suite]:
    # The shared mart plus two checks a reader could make: disclosive_count, a shown count from 1 to threshold − 1;
    # disclosive_remainder, on the 'all' row of a line whose total is shown, what its hidden group rows add up to
    # (the total minus the shown rows) when that gives them away: a lone hidden row, a remainder under the
    # threshold, or one no more than their number (each hidden row holds at least 1, zeros being shown).
    query = """with cells as (
        select * from marts.shared_incident_summary
    ),
    lines as (
        select la_code, quarter,
            count(*) filter (where incident_group <> 'all' and is_suppressed) as hidden_rows,
            any_value(incident_count) filter (where incident_group = 'all')
                - coalesce(sum(incident_count) filter (where incident_group <> 'all'), 0) as hidden_remainder
        from cells
        group by la_code, quarter
    )
    select c.*,
        case when c.incident_count between 1 and c.disclosure_threshold - 1 then c.incident_count end as disclosive_count,
        case when c.incident_group = 'all' and not c.is_suppressed and l.hidden_rows > 0
                  and (l.hidden_rows < 2 or l.hidden_remainder < c.disclosure_threshold
                       or l.hidden_remainder <= l.hidden_rows)
             then l.hidden_remainder end as disclosive_remainder
    from cells as c
    left join lines as l on c.la_code = l.la_code and c.quarter = l.quarter"""
    suite = Suite(
        name="marts_shared_incident_summary",
        asset_key=["marts", "shared_incident_summary"],
        description="The shared tier (Bronze and partner agencies): no count under the disclosure threshold "
                    "shown, no hidden count that the total gives back, no free-text column and no reason for "
                    "a suppression.",
        query=query,
    )
    suite.expect("expect_table_columns_to_match_set",
                 column_set=[*SHARED_COLUMNS, "disclosive_count", "disclosive_remainder"], exact_match=True,
                 why="only codes, labels and suppressed counts: no free text, no identifiers, no suppression reason")
    suite.expect("expect_column_values_to_be_null", column="disclosive_count",
                 why="counts from 1 to threshold − 1 must be suppressed before sharing")
    suite.expect("expect_column_values_to_be_null", column="disclosive_remainder",
                 why="where the total is shown, hidden counts must be at least two, add up to at least the "
                     "threshold and to more than their number")
    return [suite]


def all_suites(schema: dict[str, list[tuple[str, str]]]) -> list[Suite]:
    return [
        *raw_public_suites(schema),
        indicator_value_suite(),
        coverage_suite(),
        freshness_suite(),
        *partner_suites(),
        *tension_suites(),
        *shared_suites(),
    ]


def observed_schema(con) -> dict[str, list[tuple[str, str]]]:
    """Columns and pandas dtypes of the raw public tables as this stack reads them (from a built warehouse)."""
    tables = [*RAW_TABLES, "police_uk_street_crimes"]
    result = {}
    for table in tables:
        frame = con.sql(f"select * from raw.{table} limit 1000").df()
        result[table] = [(column, str(dtype)) for column, dtype in frame.dtypes.items()]
    return result


def write_suites(suites: list[Suite], folder: Path = EXPECTATIONS_DIR) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for suite in suites:
        path = folder / f"{suite.name}.json"
        path.write_text(json.dumps(suite.as_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written


def load_suites(folder: Path = EXPECTATIONS_DIR) -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]
