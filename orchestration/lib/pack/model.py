"""Read the marts into the full (Gold/Silver) content of one monitoring pack: a language-neutral dict.

Nothing here decides wording or language: values are codes (community_type, risk_level, reason), numbers,
ISO dates and names in both languages. Free text from partners (rationales, CIA subjects, risk descriptions,
tension reports) arrives already redacted by the intake (``lib/partner_extracts/redaction``) and is kept only
under keys named ``*_text`` so that ``tiers`` can prove lower tiers hold none of it.

Sections follow the issue and the guide, in order: tension summary table (Part 3 Step 3), what needs action
(Step 4 CIAs and risks, "Next steps"), evidence (volume data against baseline), cohesion indicators by
exception (Part 2 Step 5), crime and ASB exceptions (force-trend adjusted, ``fct_crime_exception``), looking
forward (planned events, "future" tensions), about the data.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from orchestration.lib.stats import poisson_interval, poisson_upper_p

SCHEMA_VERSION = 1
TREND_QUARTERS = 8
# Guide Part 3 "Next steps": the level of a rating is its higher tension of current and potential, on the
# four-level scale (EEP 1-2 high, 3-4 medium, 5 low, 6 none); risks use the seed risk_score_bands.
LEVEL_BY_LEVEL4 = {"high": "high", "medium": "medium", "low": "low", "none": "low"}


class NoSuchGroup(ValueError):
    pass


@dataclass(frozen=True)
class Quarter:
    year: int
    q: int

    @classmethod
    def parse(cls, key: str) -> "Quarter":
        """'2024-Q2' (also '2024Q2', '2024 Q2')."""
        text = key.strip().upper().replace(" ", "-")
        year, _, q = text.replace("-Q", "Q").partition("Q")
        if not (year.isdigit() and q.isdigit() and 1 <= int(q) <= 4):
            raise ValueError(f"quarter {key!r}: expected YYYY-Qn, e.g. 2024-Q2")
        return cls(int(year), int(q))

    @classmethod
    def containing(cls, day: dt.date) -> "Quarter":
        return cls(day.year, (day.month - 1) // 3 + 1)

    @classmethod
    def last_ended(cls, day: dt.date) -> "Quarter":
        """The latest quarter that has ended by `day` (the quarter itself when `day` is its last day)."""
        quarter = cls.containing(day)
        return quarter if day >= quarter.end else quarter.shift(-1)

    @property
    def key(self) -> str:
        return f"{self.year}-Q{self.q}"

    @property
    def start(self) -> dt.date:
        return dt.date(self.year, 3 * self.q - 2, 1)

    @property
    def end(self) -> dt.date:
        nxt = self.shift(1).start
        return nxt - dt.timedelta(days=1)

    def shift(self, n: int) -> "Quarter":
        index = self.year * 4 + self.q - 1 + n
        return Quarter(index // 4, index % 4 + 1)


def _iso(value):
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def _rows(con, sql: str, params: list | None = None) -> list[dict]:
    rel = con.execute(sql, params or [])
    cols = [d[0] for d in rel.description]
    return [{c: _iso(v) for c, v in zip(cols, row)} for row in rel.fetchall()]


def _scalar(con, sql: str, params: list | None = None):
    rows = con.execute(sql, params or []).fetchall()
    return rows[0][0] if rows else None


def monitoring_groups(con) -> list[dict]:
    """Every group in the seed: code, names and the LAs it covers (sorted)."""
    rows = _rows(con, """
        select g.group_code, any_value(g.group_name) as group_name, any_value(g.group_name_cy) as group_name_cy,
               any_value(g.group_kind) as group_kind, list(g.la_code order by g.la_code) as la_codes
        from ref.monitoring_groups as g group by g.group_code order by g.group_code
    """)
    return rows


def as_of_date(con) -> dt.date:
    """The date the marts are "as of" (dbt var as_of_date; the demo pins it to 2024-06-30)."""
    built = {r[0] for r in con.execute(
        "select table_name from information_schema.tables where table_schema = 'marts' "
        "and table_name in ('fct_cia', 'fct_risk')").fetchall()}
    value = None
    for table in ("fct_cia", "fct_risk"):
        if value is None and table in built:
            value = _scalar(con, f"select max(as_of_date) from marts.{table}")
    if value is None:  # empty marts: the dbt var as the build would use it, else today
        from orchestration.settings import get_settings

        configured = get_settings().as_of_date
        return dt.date.fromisoformat(configured) if configured else dt.date.today()
    return value


def latest_complete_quarter(con) -> Quarter:
    """The latest quarter that has ended by the as-of date."""
    return Quarter.last_ended(as_of_date(con))


def quarters_affected(period: str, latest: str) -> list[str]:
    """'2024-05-01/2024-06-30' -> the quarters a change to that period can alter: those it covers and the four
    after (their evidence and crime baselines include it), up to `latest`."""
    start, _, end = period.partition("/")
    first = Quarter.containing(dt.date.fromisoformat(start))
    last = min(Quarter.containing(dt.date.fromisoformat(end)).shift(4).key, latest)
    out, q = [], first
    while q.key <= last:
        out.append(q.key)
        q = q.shift(1)
    return out


def latest_quarter_with_data(con) -> Quarter:
    """The quarter a new pack is for: the latest that has ended by the as-of date and holds data (a tested
    police.uk quarter, a rating, an incident or a tension report); the latest ended quarter when none does."""
    ended = latest_complete_quarter(con)
    starts = [r[0] for r in con.execute("""
        select max(quarter_start) from marts.fct_crime_exception where geography_level = 'lsoa' and quarter_start <= ?
        union all select max(date_trunc('quarter', assessment_date))::date from marts.fct_tension_assessment where assessment_date <= ?
        union all select max(date_trunc('quarter', occurred_on))::date from marts.fct_incident where occurred_on <= ?
        union all select max(date_trunc('quarter', submitted_on))::date from marts.fct_tension_report where submitted_on <= ?
    """, [ended.start, ended.end, ended.end, ended.end]).fetchall() if r[0] is not None]
    return Quarter.containing(max(starts)) if starts else ended


# ---------------------------------------------------------------------------------------------------------
# geography: names in both languages
_GEO_SQL = """
    select lsoa21_code, lsoa21_name,
           case when starts_with(lsoa21_name, la_name) then la_name_cy || substr(lsoa21_name, length(la_name) + 1)
                else lsoa21_name end as lsoa21_name_cy,
           ward_code, ward_name, ward_name_cy, la_code, la_name, la_name_cy, police_force_name, urban_rural
    from marts.dim_geography where la_code in (select unnest(?::varchar[]))
"""


class Names:
    """Area names in English and Welsh for every LSOA, ward and LA of a group (Welsh LSOA names follow ONS:
    the LA's Welsh name with the same number and letter, e.g. Casnewydd 018C)."""

    def __init__(self, con, la_codes: list[str]):
        self.lsoas = {r["lsoa21_code"]: r for r in _rows(con, _GEO_SQL, [la_codes])}
        self.by_code: dict[str, dict] = {}
        for r in self.lsoas.values():
            self.by_code[r["lsoa21_code"]] = {"en": r["lsoa21_name"], "cy": r["lsoa21_name_cy"]}
            self.by_code[r["ward_code"]] = {"en": r["ward_name"], "cy": r["ward_name_cy"]}
            self.by_code[r["la_code"]] = {"en": r["la_name"], "cy": r["la_name_cy"]}

    def area(self, code: str | None, level: str | None = None, fallback: str | None = None) -> dict:
        names = self.by_code.get(code or "", {"en": fallback or code, "cy": fallback or code})
        return {"code": code, "level": level, "name": names["en"], "name_cy": names["cy"]}

    def la_of(self, code: str, level: str) -> dict:
        """The LA (as an area) of an LSOA, ward or LA code of the group."""
        if level == "la":
            return self.area(code, "la")
        for r in self.lsoas.values():
            if code in (r["lsoa21_code"], r["ward_code"]):
                return self.area(r["la_code"], "la")
        return self.area(None, "la")

    def place(self, row: dict) -> dict:
        """LA, ward and (when known) LSOA of a mart row that carries la_code / ward_code / lsoa21_code."""
        return {
            "la": self.area(row.get("la_code"), "la", row.get("la_name")),
            "ward": self.area(row.get("ward_code"), "ward", row.get("ward_name")) if row.get("ward_code") else None,
            "lsoa": self.area(row.get("lsoa21_code"), "lsoa21", row.get("lsoa21_name"))
            if row.get("lsoa21_code") else None,
            "area_level": row.get("area_level"),
        }


# ---------------------------------------------------------------------------------------------------------
def build_pack(con, group_code: str, quarter: Quarter | None = None) -> dict:
    """The full (Gold/Silver) content of the pack for one monitoring group and quarter."""
    groups = {g["group_code"]: g for g in monitoring_groups(con)}
    if group_code not in groups:
        raise NoSuchGroup(f"monitoring group {group_code!r} is not in seed monitoring_groups "
                          f"(known: {', '.join(sorted(groups))})")
    group = groups[group_code]
    quarter = quarter or latest_quarter_with_data(con)
    las = list(group["la_codes"])
    names = Names(con, las)
    la_rows = _rows(con, """
        select la_code, la_name, la_name_cy, police_force_code, police_force_name from ref.local_authority
        where la_code in (select unnest(?::varchar[])) order by la_name
    """, [las])
    pack = {
        "schema": SCHEMA_VERSION,
        "group": {"code": group_code, "name": group["group_name"], "name_cy": group["group_name_cy"],
                  "kind": group["group_kind"],
                  "las": [{"code": r["la_code"], "name": r["la_name"], "name_cy": r["la_name_cy"],
                           "police_force_code": r["police_force_code"], "police_force_name": r["police_force_name"]}
                          for r in la_rows]},
        "quarter": {"key": quarter.key, "year": quarter.year, "q": quarter.q,
                    "start": quarter.start.isoformat(), "end": quarter.end.isoformat()},
        "as_of": as_of_date(con).isoformat(),
        "geography": {"lsoa21_codes": sorted(names.lsoas), "ward_codes": sorted({r["ward_code"] for r in names.lsoas.values()})},
    }
    pack["tension"] = _tension(con, las, quarter, names)
    pack["action"] = _action(con, las, quarter, names, pack["tension"])
    pack["evidence"] = _evidence(con, las, quarter, names)
    pack["cohesion"] = _cohesion(con, las, quarter, names)
    pack["crime"] = _crime(con, las, quarter, names)
    pack["forward"] = _forward(con, las, quarter, names)
    pack["about"] = _about(con, las, quarter, pack)
    pack["inputs"] = _inputs(con, las, quarter)
    return pack


# ---------------------------------------------------------------------------------------------------------
# 1. tension summary table (Part 3, Step 3 "Reporting")
def _grade(scale: str, supplied: str | None, eep: int | None, level4: str | None) -> dict | None:
    if supplied is None and eep is None and level4 is None:
        return None
    return {"scale": scale, "grade": supplied, "eep": eep, "level4": level4}


def _tension(con, las: list[str], quarter: Quarter, names: Names) -> dict:
    """The group's latest assessment of every area it rates, up to the quarter's end: one row per community
    type (seed order) plus the overall assessment, each with current and potential grade and trend."""
    rows = _rows(con, """
        with rated as (
            select *, max(assessment_date) over (partition by area_code) as latest_date
            from marts.fct_tension_assessment
            where la_code in (select unnest(?::varchar[])) and assessment_date <= ?
        )
        select r.*, coalesce(c.sort_order, 99) as sort_order
        from rated as r left join ref.community_types as c using (community_type)
        where r.assessment_date = r.latest_date
        order by r.la_name, r.area_level, r.area_code, (r.community_type = 'overall'), sort_order
    """, [las, quarter.end])
    areas: dict[str, dict] = {}
    for r in rows:
        area = areas.setdefault(r["area_code"], {
            "area": names.area(r["area_code"], r["area_level"], r["area_name"]),
            "place": names.place(r),
            "assessment_date": r["assessment_date"],
            "previous_assessment_date": None,
            "in_quarter": quarter.start.isoformat() <= r["assessment_date"] <= quarter.end.isoformat(),
            "scale": r["scale"],
            "rows": [],
        })
        if r["previous_assessment_date"]:
            area["previous_assessment_date"] = max(area["previous_assessment_date"] or "", r["previous_assessment_date"])
        area["rows"].append({
            "community_type": r["community_type"],
            "is_overall": r["community_type"] == "overall",
            "overall_source": r["overall_source"],
            "scale": r["scale"],
            "current": _grade(r["scale"], r["current_grade"], r["current_eep_grade"], r["current_level4"]),
            "potential": _grade(r["scale"], r["potential_grade"], r["potential_eep_grade"], r["potential_level4"]),
            "current_trend": r["current_trend_label"],
            "potential_trend": r["potential_trend_label"],
            "previous_current_grade": r["previous_current_grade"],
            "previous_potential_grade": r["previous_potential_grade"],
            "is_cia_trigger": bool(r["is_cia_trigger"]),
            "assessment_id": r["assessment_id"],
            # redacted upstream; only rows that say something beyond "normal, static" make the narrative
            "rationale_text": r["rationale"] if r["overall_source"] != "derived" else None,
        })
    out = []
    for area in areas.values():
        area["narrative_text"] = [
            {"community_type": row["community_type"], "text": row["rationale_text"]}
            for row in area["rows"]
            if row["rationale_text"] and (
                (row["current"] and row["current"]["level4"] not in (None, "none"))
                or (row["potential"] and row["potential"]["level4"] not in (None, "none"))
                or row["current_trend"] in ("rising", "falling") or row["potential_trend"] in ("rising", "falling"))
        ]
        out.append(area)
    return {"areas": out}


# ---------------------------------------------------------------------------------------------------------
# 2. what needs action (Part 3, Step 4 and "Next steps")
def _action(con, las: list[str], quarter: Quarter, names: Names, tension: dict) -> dict:
    cias = _rows(con, """
        select *, case when status = 'missing' then 'missing' when is_overdue then 'overdue'
                       when completed_late then 'late' end as reason
        from marts.fct_cia
        where la_code in (select unnest(?::varchar[]))
          and (status = 'missing' or is_overdue or (completed_late and completed_on between ? and ?))
          and triggered_on <= ?
        order by case reason when 'missing' then 1 when 'overdue' then 2 else 3 end, triggered_on, cia_id
    """, [las, quarter.start, quarter.end, quarter.end])
    risks = _rows(con, """
        select r.*, b.sort_order as level_order from marts.fct_risk as r
        left join ref.risk_score_bands as b on r.risk_level = b.risk_level
        where r.la_code in (select unnest(?::varchar[])) and r.status = 'open' and r.raised_on <= ?
        order by r.score desc, r.risk_id
    """, [las, quarter.end])
    out_cias = [{
        "cia_id": r["cia_id"] if r["cia_record_source"] == "supplied" else None,
        "reason": r["reason"], "trigger": r["trigger"], "status": r["status"],
        "triggered_on": r["triggered_on"], "due_on": r["due_on"], "completed_on": r["completed_on"],
        "age_days": r["age_days"], "community_types": list(r["community_types"] or []),
        "place": names.place(r), "subject_text": r["subject"],
    } for r in cias]
    out_risks = [{
        "risk_id": r["risk_id"], "score": r["score"], "likelihood": r["likelihood"], "impact": r["impact"],
        "risk_level": r["risk_level"], "ppplem_heading": r["ppplem_heading"],
        "residual_score": r["residual_score"], "action_plan_missing": bool(r["action_plan_missing"]),
        "action_plan_required": bool(r["action_plan_required"]), "review_due": r["review_due"],
        "is_review_overdue": bool(r["is_review_overdue"]), "raised_on": r["raised_on"],
        "place": names.place(r), "description_text": r["description"],
    } for r in risks]
    next_steps = []
    for risk in out_risks:
        next_steps.append({"kind": "risk", "ref": risk["risk_id"], "level": risk["risk_level"],
                           "score": risk["score"], "place": risk["place"], "community_type": None})
    for area in tension["areas"]:
        for row in area["rows"]:
            levels = [g["level4"] for g in (row["current"], row["potential"]) if g and g["level4"]]
            if not levels or set(levels) == {"none"}:
                continue  # normal (EEP 6) now and in potential: nothing to do beyond the group's routine
            worst = min(levels, key=["high", "medium", "low", "none"].index)
            next_steps.append({"kind": "rating", "ref": None, "level": LEVEL_BY_LEVEL4[worst], "score": None,
                               "place": area["place"], "area": area["area"], "community_type": row["community_type"],
                               "from_potential": bool(row["potential"] and row["potential"]["level4"] == worst
                                                      and not (row["current"] and row["current"]["level4"] == worst))})
    order = {"high": 0, "medium": 1, "low": 2}
    next_steps.sort(key=lambda s: (order[s["level"]], s["kind"] != "risk", -(s["score"] or 0),
                                   s["place"]["la"]["name"], s.get("community_type") or ""))
    return {
        "cias": out_cias,
        "risks_without_plan": [r for r in out_risks if r["action_plan_missing"]],
        "open_risks": out_risks,
        "next_steps": next_steps,
    }


# ---------------------------------------------------------------------------------------------------------
# 3. evidence (volume data against baseline; Leeds model)
def _evidence(con, las: list[str], quarter: Quarter, names: Names) -> dict:
    # incidents by community type per LA: the sum of monthly Poisson counts is Poisson with the summed mean
    volumes = _rows(con, """
        select e.la_code, e.community_type, sum(e.incident_count)::int as observed,
               sum(e.hate_incident_count)::int as hate_observed,
               sum(e.expected) as expected, count(e.expected) as months_with_expected, count(*) as months,
               coalesce(any_value(c.sort_order), 99) as sort_order
        from marts.fct_tension_evidence as e left join ref.community_types as c using (community_type)
        where e.area_level = 'la' and e.la_code in (select unnest(?::varchar[])) and e.month between ? and ?
        group by e.la_code, e.community_type order by e.la_code, (e.community_type = 'overall'), sort_order
    """, [las, quarter.start, quarter.end])
    out_volumes = []
    for r in volumes:
        complete = r["months_with_expected"] == r["months"] and r["expected"] is not None
        p = poisson_upper_p(r["observed"], r["expected"]) if complete and r["expected"] > 0 else None
        out_volumes.append({
            "la": names.area(r["la_code"], "la"), "community_type": r["community_type"],
            "observed": r["observed"], "hate_observed": r["hate_observed"],
            "expected": r["expected"] if complete else None,
            "ratio": r["observed"] / r["expected"] if complete and r["expected"] else None,
            "exceedance_p": p,
        })
    # hate incidents by strand per LA: the quarter against the previous four quarters' daily rate
    base_start = quarter.shift(-4).start
    strands = _rows(con, """
        with strands as (
            select i.la_code, s.hate_strand, i.occurred_on
            from marts.fct_incident as i, unnest(i.hate_strands) as s(hate_strand)
            where i.is_hate and i.la_code in (select unnest(?::varchar[])) and i.occurred_on between ? and ?
        )
        select s.la_code, s.hate_strand, any_value(h.hate_strand_label) as hate_strand_label,
               count(*) filter (where s.occurred_on >= ?)::int as observed,
               count(*) filter (where s.occurred_on < ?)::int as baseline_count
        from strands as s left join ref.hate_strands as h using (hate_strand)
        group by all order by s.la_code, s.hate_strand
    """, [las, base_start, quarter.end, quarter.start, quarter.start])
    first_incident = _scalar(con, "select min(occurred_on) from marts.fct_incident where la_code in (select unnest(?::varchar[]))", [las])
    baseline_days = (quarter.start - base_start).days
    days = (quarter.end - quarter.start).days + 1
    full_baseline = first_incident is not None and first_incident <= base_start + dt.timedelta(days=31)
    out_strands = []
    for r in strands:
        expected = (r["baseline_count"] + 0.5) / baseline_days * days if full_baseline else None
        out_strands.append({
            "la": names.area(r["la_code"], "la"), "hate_strand": r["hate_strand"],
            "observed": r["observed"], "baseline_count": r["baseline_count"], "expected": expected,
            "ratio": r["observed"] / expected if expected else None,
            "exceedance_p": poisson_upper_p(r["observed"], expected) if expected else None,
        })
    spikes = _rows(con, """
        select e.*, g.ward_code as lsoa_ward_code from marts.fct_tension_evidence as e
        left join marts.dim_geography as g on e.area_level = 'lsoa21' and e.area_code = g.lsoa21_code
        where e.la_code in (select unnest(?::varchar[])) and e.month between ? and ?
          and e.volume_level = 'substantially_raised'
        order by e.exceedance_p, e.area_level, e.area_code, e.community_type, e.month
    """, [las, quarter.start, quarter.end])
    out_spikes = [{
        "area": names.area(r["area_code"], r["area_level"], r["area_name"]),
        "la": names.area(r["la_code"], "la"),
        "ward": names.area(r["lsoa_ward_code"], "ward") if r["lsoa_ward_code"] else None,
        "community_type": r["community_type"], "month": r["month"], "observed": r["incident_count"],
        "hate_observed": r["hate_incident_count"], "expected": r["expected"], "ratio": r["ratio"],
        "exceedance_p": r["exceedance_p"], "volume_level": r["volume_level"], "baseline_source": r["baseline_source"],
        "trend": _evidence_trend(con, r["area_level"], r["area_code"], r["community_type"], quarter),
    } for r in spikes]
    raised = _scalar(con, """
        select count(*) from marts.fct_tension_evidence
        where la_code in (select unnest(?::varchar[])) and month between ? and ? and volume_level = 'raised'
    """, [las, quarter.start, quarter.end])
    disagreements = _rows(con, """
        select * from marts.fct_tension_evidence
        where la_code in (select unnest(?::varchar[])) and month between ? and ? and disagrees
        order by month, area_level, area_code, community_type
    """, [las, quarter.start, quarter.end])
    out_dis = [{
        "area": names.area(r["area_code"], r["area_level"], r["area_name"]), "la": names.area(r["la_code"], "la"),
        "community_type": r["community_type"], "month": r["month"],
        "group_grade": r["group_current_grade"], "suggested_grade": r["suggested_grade"],
        "direction": "group_lower" if (r["grade_gap"] or 0) > 0 else "group_higher",
        "observed": r["incident_count"], "expected": r["expected"],
    } for r in disagreements]
    # the shared tier (marts.shared_incident_summary: small counts suppressed, with secondary suppression):
    # the only incident counts a Bronze or partner-agency pack may show
    shared = _rows(con, """
        select la_code, quarter, incident_group, incident_count, is_suppressed, disclosure_threshold
        from marts.shared_incident_summary
        where la_code in (select unnest(?::varchar[])) and quarter_start between ? and ?
        order by la_code, quarter_start, incident_group
    """, [las, quarter.shift(-4).start, quarter.start])
    out_shared = [{"la": names.area(r["la_code"], "la"), "quarter": r["quarter"], "incident_group": r["incident_group"],
                   "count": r["incident_count"], "is_suppressed": bool(r["is_suppressed"]),
                   "threshold": r["disclosure_threshold"]} for r in shared]
    return {"volumes": out_volumes, "strands": out_strands, "shared": out_shared, "spikes": out_spikes, "disagreements": out_dis,
            "raised_not_listed": int(raised or 0), "strand_baseline_complete": full_baseline}


def _evidence_trend(con, level: str, code: str, community: str, quarter: Quarter) -> list[dict]:
    """Incidents per quarter for the last eight quarters with the expected count (sum of the monthly
    expectations) and its 95% Poisson band."""
    first = quarter.shift(-(TREND_QUARTERS - 1))
    rows = _rows(con, """
        select date_trunc('quarter', month)::date as quarter_start, sum(incident_count)::int as observed,
               sum(expected) as expected, count(expected) = count(*) as has_expected
        from marts.fct_tension_evidence
        where area_level = ? and area_code = ? and community_type = ? and month between ? and ?
        group by 1 order by 1
    """, [level, code, community, first.start, quarter.end])
    return _trend_points(rows, first, lambda r: r["quarter_start"] == quarter.start.isoformat())


def _trend_points(rows: list[dict], first: Quarter, flagged) -> list[dict]:
    by_quarter = {r["quarter_start"]: r for r in rows}
    points = []
    for i in range(TREND_QUARTERS):
        q = first.shift(i)
        r = by_quarter.get(q.start.isoformat())
        expected = r["expected"] if r and r.get("has_expected", True) and r.get("expected") is not None else None
        lo, hi = poisson_interval(expected) if expected is not None else (None, None)
        points.append({"quarter": q.key, "observed": r["observed"] if r else None, "expected": expected,
                       "lower": lo, "upper": hi, "is_flagged": bool(r and flagged(r))})
    return points


# ---------------------------------------------------------------------------------------------------------
# 4. cohesion indicators by exception (Part 2, Step 5)
def _cohesion(con, las: list[str], quarter: Quarter, names: Names) -> dict:
    """Per factor, the indicators whose latest figure (period starting by the quarter's end) is a rapid-change
    exception (fct_indicator_change, headline comparison) or significantly and materially worse than its
    benchmark (fct_indicator_benchmark: LA against Wales; LSOA against its LA): LA, ward and LSOA level."""
    changes = _rows(con, """
        with latest as (
            select indicator_id, geography_level, area_code, max(period_start) as period_start
            from marts.fct_indicator_value where period_start <= ? group by all
        )
        select c.*, cat.label, cat.collection, cat.min_reliable_level, cat.caveats, cat.source, cat.frequency,
               v.lci_95, v.uci_95, v.status as value_status
        from marts.fct_indicator_change as c
        inner join latest as l using (indicator_id, geography_level, area_code, period_start)
        inner join ref.indicator_catalogue as cat using (indicator_id)
        left join marts.fct_indicator_value as v
            using (indicator_id, geography_level, area_code, period_start)
        where c.is_exception and c.is_headline_comparison
          and c.geography_level in ('la', 'ward', 'lsoa')
          and (c.geography_level = 'la' and c.area_code in (select unnest(?::varchar[]))
               or c.geography_level = 'ward' and c.area_code in (select ward_code from marts.dim_geography where la_code in (select unnest(?::varchar[])))
               or c.geography_level = 'lsoa' and c.area_code in (select lsoa21_code from marts.dim_geography where la_code in (select unnest(?::varchar[]))))
    """, [quarter.end, las, las, las])
    worse = _rows(con, """
        with latest as (
            select indicator_id, geography_level, area_code, benchmark_type, max(period_start) as period_start
            from marts.fct_indicator_benchmark where period_start <= ? group by all
        )
        select b.*, cat.label, cat.collection, cat.min_reliable_level, cat.caveats, cat.source, cat.frequency
        from marts.fct_indicator_benchmark as b
        inner join latest as l using (indicator_id, geography_level, area_code, benchmark_type, period_start)
        inner join ref.indicator_catalogue as cat using (indicator_id)
        where b.assessment = 'worse'
          and (b.geography_level = 'la' and b.benchmark_type = 'wales' and b.area_code in (select unnest(?::varchar[]))
               or b.geography_level = 'lsoa' and b.benchmark_type = 'la'
                  and b.area_code in (select lsoa21_code from marts.dim_geography where la_code in (select unnest(?::varchar[]))))
    """, [quarter.end, las, las])
    factors = [r["cohesion_factor"] for r in _rows(con, """
        select cohesion_factor, min(rowid) as first from ref.indicator_catalogue group by 1 order by 2
    """)]
    levels = {"la": 0, "ward": 1, "lsoa": 2}
    # police.uk indicators below LA are tested force-adjusted in section 5 (the same engine): not repeated here
    crime_ids = {r["indicator_id"] for r in _rows(con, "select indicator_id from ref.crime_groups")}
    changes = [r for r in changes if not (r["indicator_id"] in crime_ids and r["geography_level"] != "la")]
    # an LSOA worse than its LA is a standing difference, not news: counted per indicator, not listed
    lsoa_worse = [r for r in worse if r["geography_level"] == "lsoa"]
    worse = [r for r in worse if r["geography_level"] != "lsoa"]
    items = []

    def meta(r):
        reliable = ["lsoa", "ward", "msoa", "la", "police_force", "wales"]  # smallest to largest (typical population)
        return {"collection": r["collection"], "min_reliable_level": r["min_reliable_level"],
                "is_reliable_here": reliable.index(r["geography_level"]) >= reliable.index(r["min_reliable_level"]),
                "frequency": r["frequency"], "source": r["source"]}

    for r in changes:
        items.append({"reason": "rapid_change", "indicator_id": r["indicator_id"], "label": r["label"],
                      "la": names.la_of(r["area_code"], r["geography_level"]),
                      "factor": r["cohesion_factor"], "geography_level": r["geography_level"],
                      "area": names.area(r["area_code"], r["geography_level"], r["area_name"]),
                      "period_label": r["period_label"], "compared_period_label": r["compared_period_label"],
                      "comparison": r["comparison"], "unit": r["unit"], "value": r["value"],
                      "lci": r["lci_95"], "uci": r["uci_95"], "compared_value": r["compared_value"],
                      "change": r["change"], "change_lci": r["change_lci_95"], "change_uci": r["change_uci_95"],
                      "q_value": r["q_value"], "direction": r["direction"], "benchmark_value": None,
                      "benchmark_type": None, "difference": None, **meta(r)})
    for r in worse:
        items.append({"reason": "worse_than_benchmark", "indicator_id": r["indicator_id"], "label": r["label"],
                      "la": names.la_of(r["area_code"], r["geography_level"]),
                      "factor": r["cohesion_factor"], "geography_level": r["geography_level"],
                      "area": names.area(r["area_code"], r["geography_level"], r["area_name"]),
                      "period_label": r["period_label"], "compared_period_label": None, "comparison": None,
                      "unit": r["unit"], "value": r["value"], "lci": r["lci_95"], "uci": r["uci_95"],
                      "compared_value": None, "change": None, "change_lci": None, "change_uci": None,
                      "q_value": None, "direction": "worse", "benchmark_value": r["benchmark_value"],
                      "benchmark_type": r["benchmark_type"], "difference": r["difference"],
                      "benchmark_note": r["comparison_note"], **meta(r)})
    items.sort(key=lambda i: (levels[i["geography_level"]], i["reason"], i["indicator_id"], i["area"]["name"]))
    lsoas_in_group = _scalar(con, "select count(*) from marts.dim_geography where la_code in (select unnest(?::varchar[]))", [las])
    worse_counts: dict[str, dict] = {}
    for r in lsoa_worse:
        w = worse_counts.setdefault(r["indicator_id"], {"indicator_id": r["indicator_id"], "label": r["label"],
                                                        "factor": r["cohesion_factor"], "period_label": r["period_label"],
                                                        "lsoas_worse": 0, "lsoas": lsoas_in_group,
                                                        "collection": r["collection"], "benchmark_type": "la"})
        w["lsoas_worse"] += 1
    by_factor = [{"factor": f, "items": [i for i in items if i["factor"] == f],
                  "lsoas_worse": sorted((w for w in worse_counts.values() if w["factor"] == f),
                                        key=lambda w: w["indicator_id"])} for f in factors]
    return {"factors": by_factor, "n_items": len(items), "crime_below_la_in_section_5": True}


# ---------------------------------------------------------------------------------------------------------
# 5. crime and ASB exceptions (force-trend adjusted; marts.fct_crime_exception)
def _crime(con, las: list[str], quarter: Quarter, names: Names) -> dict:
    groups = _rows(con, "select crime_group, report_order from ref.crime_groups where in_exception_report order by report_order")
    order = {g["crime_group"]: g["report_order"] for g in groups}
    tested_quarter = _scalar(con, """
        select count(*) from marts.fct_crime_exception where quarter_start = ? and geography_level = 'lsoa'
          and area_code in (select lsoa21_code from marts.dim_geography where la_code in (select unnest(?::varchar[])))
    """, [quarter.start, las])
    rows = _rows(con, """
        select e.*, g.ward_code, g.la_code from marts.fct_crime_exception as e
        left join marts.dim_geography as g on e.geography_level = 'lsoa' and e.area_code = g.lsoa21_code
        left join ref.ward as w on e.geography_level = 'ward' and e.area_code = w.ward_code
        where e.quarter_start = ? and e.is_exception
          and (e.geography_level = 'lsoa' and g.la_code in (select unnest(?::varchar[]))
               or e.geography_level = 'ward' and w.la_code in (select unnest(?::varchar[]))
               or e.geography_level = 'la' and e.area_code in (select unnest(?::varchar[])))
        order by e.geography_level, e.q_value, e.area_code, e.crime_group
    """, [quarter.start, las, las, las])
    counts = _rows(con, """
        select count(*) filter (where is_tested)::int as tests, count(*) filter (where is_exception)::int as flags,
               count(*) filter (where is_above_own_past)::int as above_own_past
        from marts.fct_crime_exception where quarter_start = ? and geography_level = 'lsoa'
          and area_code in (select lsoa21_code from marts.dim_geography where la_code in (select unnest(?::varchar[])))
    """, [quarter.start, las])[0]
    # the false discovery rate families: Benjamini-Hochberg runs within each crime group over every LSOA of Wales
    # tested this quarter (fct_crime_exception: level × crime group × quarter)
    families = _rows(con, """
        select e.crime_group, count(*) filter (where e.is_tested)::int as tests
        from marts.fct_crime_exception as e inner join ref.crime_groups as g using (crime_group)
        where e.quarter_start = ? and e.geography_level = 'lsoa' and g.in_exception_report
        group by e.crime_group, g.report_order order by g.report_order
    """, [quarter.start])
    forces = _rows(con, """
        select distinct e.area_code, e.area_name, f.police_force_name_cy, e.crime_group, e.force_ratio
        from marts.fct_crime_exception as e inner join ref.police_force as f on e.area_code = f.police_force_code
        where e.quarter_start = ? and e.geography_level = 'police_force'
          and e.area_code in (select police_force_code from ref.local_authority where la_code in (select unnest(?::varchar[])))
        order by e.area_name, e.crime_group
    """, [quarter.start, las])
    ward_la = dict(con.execute("select ward_code, la_code from ref.ward").fetchall())
    first = quarter.shift(-(TREND_QUARTERS - 1))
    flags = []
    for r in rows:
        level = r["geography_level"]
        la_code = r["la_code"] if level == "lsoa" else ward_la.get(r["area_code"]) if level == "ward" else r["area_code"]
        flags.append({
            "geography_level": level, "area": names.area(r["area_code"], level, r["area_name"]),
            "la": names.area(la_code, "la"),
            "ward": names.area(r["ward_code"], "ward") if level == "lsoa" else None,
            "crime_group": r["crime_group"], "observed": r["observed"], "expected": r["expected"],
            "expected_own_past": r["expected_own_past"], "force_ratio": r["force_ratio_leave_one_out"],
            "ratio": r["ratio"], "rate": r["rate_per_1000_person_years"],
            "expected_rate": r["expected_rate_per_1000_person_years"], "rate_lci": r["rate_lci_95"],
            "rate_uci": r["rate_uci_95"], "p_value": r["p_value"], "q_value": r["q_value"],
            "population": r["population_2021"],
            "trend": _crime_trend(con, level, r["area_code"], r["crime_group"], first, quarter),
        })
    flags.sort(key=lambda f: (f["la"]["name"], {"la": 0, "ward": 1, "lsoa": 2}[f["geography_level"]],
                              (f["ward"] or f["area"])["name"], f["area"]["name"], order.get(f["crime_group"], 9)))
    return {
        "tested": counts["tests"], "rows_in_quarter": tested_quarter, "lsoa_flags": counts["flags"],
        "above_own_past": counts["above_own_past"],
        "families": [{"crime_group": f["crime_group"], "tests": f["tests"]} for f in families],
        "force_ratios": [{"force": {"code": f["area_code"], "level": "police_force", "name": f["area_name"],
                                    "name_cy": f["police_force_name_cy"]},
                          "crime_group": f["crime_group"], "ratio": f["force_ratio"]} for f in forces],
        "flags": flags,
    }


def _crime_trend(con, level: str, code: str, crime_group: str, first: Quarter, quarter: Quarter) -> list[dict]:
    """Counts for the last eight quarters (fct_crime_quarterly, LSOAs summed to a ward or LA) with the
    force-adjusted expected count and its 95% Poisson band where the quarter was testable."""
    area_filter = {
        "lsoa": "q.area_code = ?",
        "ward": "q.area_code in (select lsoa21_code from marts.dim_geography where ward_code = ?)",
        "la": "q.area_code in (select lsoa21_code from marts.dim_geography where la_code = ?)",
    }[level]
    rows = _rows(con, f"""
        with counts as (
            select q.quarter_start, sum(q.crime_count)::int as observed, min(q.complete_months) as complete_months
            from marts.fct_crime_quarterly as q
            where {area_filter} and q.crime_group = ? and q.quarter_start between ? and ?
            group by 1
        )
        select c.quarter_start, case when c.complete_months = 3 then c.observed end as observed,
               e.expected, e.is_exception, true as has_expected
        from counts as c left join marts.fct_crime_exception as e
          on e.geography_level = ? and e.area_code = ? and e.crime_group = ? and e.quarter_start = c.quarter_start
        order by 1
    """, [code, crime_group, first.start, quarter.end, level, code, crime_group])
    return _trend_points(rows, first, lambda r: bool(r.get("is_exception")))


# ---------------------------------------------------------------------------------------------------------
# 6. looking forward (Part 3 Step 5: "reporting looks forward")
def _forward(con, las: list[str], quarter: Quarter, names: Names) -> dict:
    events = _rows(con, """
        select * from marts.fct_cia
        where la_code in (select unnest(?::varchar[])) and trigger = 'planned_event'
          and (triggered_on >= ? or status <> 'complete')
        order by triggered_on, cia_id
    """, [las, quarter.start])
    future = _rows(con, """
        select * from marts.fct_tension_report
        where la_code in (select unnest(?::varchar[])) and list_contains(tension_categories, 'future')
          and submitted_on between ? and ?
        order by submitted_on, report_id
    """, [las, quarter.start, quarter.end])
    return {
        "planned_events": [{"cia_id": r["cia_id"], "triggered_on": r["triggered_on"], "status": r["status"],
                            "due_on": r["due_on"], "completed_on": r["completed_on"], "overall_risk": r["overall_risk"],
                            "in_quarter": r["triggered_on"] >= quarter.start.isoformat(),
                            "place": names.place(r), "subject_text": r["subject"],
                            "community_types": list(r["community_types"] or [])} for r in events],
        "future_reports": [{"submitted_on": r["submitted_on"], "place": names.place(r),
                            "community_types": list(r["community_types"] or []),
                            "tension_categories": list(r["tension_categories"] or []),
                            "information_text": r["information"]} for r in future],
    }


# ---------------------------------------------------------------------------------------------------------
# 7. about the data
def _about(con, las: list[str], quarter: Quarter, pack: dict) -> dict:
    police = _rows(con, """
        select dataset, min(partition_key) as first_month, max(partition_key) as last_month,
               count(distinct partition_key)::int as months,
               -- when the data last changed (a rerun that finds the same file logs 'unchanged')
               max(retrieved_at) filter (where outcome = 'loaded')::date as last_loaded,
               any_value(licence) as licence
        from raw.load_log where source = 'police_uk' and outcome in ('loaded', 'unchanged')
        group by dataset order by dataset
    """)
    partner = _rows(con, """
        select extract_type, count(*)::int as files, min(period_start) as first_period, max(period_end) as last_period,
               count(distinct partner)::int as partners
        from raw.partner_files where superseded_by is null group by 1 order by 1
    """)
    shown = sorted({i["indicator_id"] for f in pack["cohesion"]["factors"] for i in f["items"]})
    catalogue = _rows(con, """
        select indicator_id, label, source, publisher, licence, frequency, collection, min_reliable_level, caveats
        from ref.indicator_catalogue where indicator_id in (select unnest(?::varchar[])) order by indicator_id
    """, [shown])
    caveats = []
    dq = _rows(con, """
        with latest as (select suite, max(checked_at) as checked_at from marts.dq_results group by suite)
        select r.suite, r.severity, r.why, r.expectation, r.column_name, r.unexpected_count, r.sample
        from marts.dq_results as r inner join latest using (suite, checked_at)
        where not r.success order by r.suite, r.expectation
    """) if _scalar(con, "select count(*) from information_schema.tables where table_schema = 'marts' and table_name = 'dq_results'") else []
    used_tables = {"fct_crime_exception", "fct_crime_quarterly", "fct_crime_monthly", "stg_police_uk__street_crimes",
                   "fct_tension_assessment", "fct_cia", "fct_risk", "fct_tension_evidence", "fct_incident",
                   "fct_tension_report", "fct_indicator_change", "fct_indicator_benchmark", "dim_geography"}
    if shown:
        used_tables.add("fct_indicator_value")
    for r in dq:
        table = r["suite"].split("__")[0].split("_", 1)[1] if "__" in r["suite"] else r["suite"]
        if table not in used_tables:
            continue
        sample = json.loads(r["sample"]) if r["sample"] else []
        if table == "fct_indicator_value" and isinstance(sample, list) and sample:
            # only the limits that touch an indicator the pack shows
            hits = [s for s in sample if any(str(s).startswith(i + " ") or str(s) == i for i in shown)]
            if not hits:
                continue
            sample = hits
        caveats.append({"kind": "data_quality", "suite": r["suite"], "severity": r["severity"], "why": r["why"],
                        "rows": r["unexpected_count"], "sample": sample[:6] if isinstance(sample, list) else []})
    repeated = _rows(con, """
        select strftime(month, '%Y-%m') as month, sum(repeated_crime_id_rows_dropped)::int as rows
        from marts.fct_crime_monthly_coverage where month between ? and ? group by 1 having sum(repeated_crime_id_rows_dropped) > 0
        order by 1
    """, [quarter.shift(-4).start, quarter.end]) if pack["crime"]["flags"] else []
    for r in repeated:
        caveats.append({"kind": "repeated_crime_ids", "month": r["month"], "rows": r["rows"]})
    # stale sources: the latest attempt to refresh a dataset (or one of its partitions) was rejected, so its
    # figures are those of the last good load (the reason is in raw.load_log and the run's failure message)
    for r in _rows(con, """
        select source, dataset, partition_key,
               max(retrieved_at) filter (where outcome = 'rejected')::date as failed_on,
               max(retrieved_at) filter (where outcome in ('loaded', 'unchanged'))::date as good_on
        from raw.load_log group by all
        having max(retrieved_at) filter (where outcome = 'rejected')
               > coalesce(max(retrieved_at) filter (where outcome in ('loaded', 'unchanged')), '1900-01-01'::timestamp)
        order by 1, 2, 3
    """):
        caveats.append({"kind": "stale_source", "dataset": f"{r['source']} {r['dataset']}"
                        + (f" {r['partition_key']}" if r["partition_key"] else ""),
                        "failed_on": r["failed_on"], "good_on": r["good_on"]})
    for f in pack["crime"]["force_ratios"]:
        if f["ratio"] and abs(f["ratio"] - 1) >= 0.05:
            caveats.append({"kind": "force_trend", "force": f["force"], "crime_group": f["crime_group"], "ratio": f["ratio"]})
    return {"police_uk": police, "partner_files": partner, "indicators": catalogue, "caveats": caveats}


def _inputs(con, las: list[str], quarter: Quarter) -> dict:
    """What the pack was built from: the current partner files and the latest load of every public dataset
    (load ids), so a manifest can say what changed between versions."""
    files = [r[0] for r in con.execute(
        "select file_id from raw.partner_files where superseded_by is null and period_start <= ? order by file_id",
        [quarter.end]).fetchall()]
    loads = [r[0] for r in con.execute("""
        select load_id from (
            select load_id, row_number() over (partition by source, dataset, coalesce(partition_key, '')
                                               order by retrieved_at desc, load_id desc) as rn
            from raw.load_log where outcome = 'loaded'
        ) where rn = 1 order by load_id
    """).fetchall()]
    return {"partner_files": files, "loads": loads}
