"""The emergency flash (guide Part 3, "Next steps": a high risk is "rapidly relayed to the senior level (Gold
group)"): not waiting for the quarter, a short OFFICIAL-SENSITIVE report to Gold as soon as a file with a
grade of 1–2 (imminent or high; ``high`` on the four-level scale) or an open risk in the high band is accepted.

Each urgent item is flashed once: ``reports.flash_items`` keeps what was flashed (a rating by assessment and
grades, a risk by id and score), so a worse grade or score for the same item is flashed again and a rerun
sends nothing new. Ratings older than the group's two-month cycle (a back-filled history) are not flashed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from orchestration.lib.pack.i18n import Lang
from orchestration.lib.pack.model import as_of_date
from orchestration.lib.pack.render import _ENV

RECENT_DAYS = 62  # the group's two-month cycle (fct_cia uses the same window)

FLASH_DDL = """
create schema if not exists reports;
create table if not exists reports.flash_items (
    item_key varchar primary key,
    kind varchar not null,
    la_code varchar,
    flash_id varchar not null,
    flashed_at timestamp not null
);
"""


def urgent_items(con) -> list[dict]:
    """Ratings of 1–2 (either grade) and open high risks not flashed yet."""
    con.execute(FLASH_DDL)
    as_of = as_of_date(con)
    ratings = con.execute("""
        select 'rating:' || assessment_id || ':' || coalesce(current_grade, '') || '/' || coalesce(potential_grade, '')
                   as item_key,
               assessment_id, assessment_date, area_code, area_level, area_name, la_code, ward_code, lsoa21_code,
               la_name, ward_name, lsoa21_name,
               community_type, scale, current_grade, potential_grade, current_eep_grade, potential_eep_grade,
               current_level4, potential_level4, current_trend_label, potential_trend_label, rationale
        from marts.fct_tension_assessment
        where overall_source = 'supplied' and (current_level4 = 'high' or potential_level4 = 'high')
          and assessment_date >= ?::date - ? * interval 1 day
          and item_key not in (select item_key from reports.flash_items)
        order by assessment_date, la_code, area_code, community_type
    """, [as_of, RECENT_DAYS]).fetchall()
    rating_cols = ["item_key", "assessment_id", "assessment_date", "area_code", "area_level", "area_name", "la_code",
                   "ward_code", "lsoa21_code", "la_name", "ward_name", "lsoa21_name", "community_type", "scale", "current_grade", "potential_grade",
                   "current_eep", "potential_eep", "current_level4", "potential_level4", "current_trend",
                   "potential_trend", "rationale_text"]
    risks = con.execute("""
        select 'risk:' || risk_id || ':' || score as item_key, risk_id, raised_on, area_code, area_level, area_name,
               la_code, ward_code, lsoa21_code, la_name, ward_name, lsoa21_name, score, likelihood, impact, risk_level, ppplem_heading, action_plan_missing,
               description
        from marts.fct_risk
        where status = 'open' and risk_level = 'high'
          and item_key not in (select item_key from reports.flash_items)
        order by score desc, risk_id
    """).fetchall()
    risk_cols = ["item_key", "risk_id", "raised_on", "area_code", "area_level", "area_name", "la_code", "ward_code",
                 "lsoa21_code", "la_name", "ward_name", "lsoa21_name", "score", "likelihood", "impact", "risk_level", "ppplem_heading", "action_plan_missing",
                 "description_text"]
    out = [{"kind": "rating", **dict(zip(rating_cols, r))} for r in ratings]
    out += [{"kind": "risk", **dict(zip(risk_cols, r))} for r in risks]
    for item in out:
        for k, v in list(item.items()):
            if isinstance(v, (dt.date, dt.datetime)):
                item[k] = v.isoformat()
    return out


def groups_of(con) -> dict[str, set[str]]:
    """LA code -> monitoring groups covering it."""
    out: dict[str, set[str]] = {}
    for group, la in con.execute("select group_code, la_code from ref.monitoring_groups").fetchall():
        out.setdefault(la, set()).add(group)
    return out


def build_flash(con, items: list[dict]) -> dict:
    """The flash content: the items with their places named in both languages (from the seeds, so a flash needs
    nothing but the tension marts and the geography reference data)."""
    la_cy = dict(con.execute("select la_code, la_name_cy from ref.local_authority").fetchall())
    ward_cy = dict(con.execute("select ward_code, ward_name_cy from ref.ward").fetchall())

    def area(code, level, en, cy):
        return None if not code else {"code": code, "level": level, "name": en or code, "name_cy": cy or en or code}

    for item in items:
        la_en, la_w = item["la_name"], la_cy.get(item["la_code"])
        lsoa_cy = (la_w + item["lsoa21_name"][len(la_en):]
                   if item["lsoa21_name"] and la_en and la_w and item["lsoa21_name"].startswith(la_en) else item["lsoa21_name"])
        item["place"] = {"la": area(item["la_code"], "la", la_en, la_w),
                         "ward": area(item["ward_code"], "ward", item["ward_name"], ward_cy.get(item["ward_code"])),
                         "lsoa": area(item["lsoa21_code"], "lsoa21", item["lsoa21_name"], lsoa_cy),
                         "area_level": item["area_level"]}
    digest = hashlib.sha256(json.dumps([i["item_key"] for i in items]).encode()).hexdigest()[:12]
    return {"flash_id": digest, "as_of": as_of_date(con).isoformat(), "items": items,
            "la_codes": sorted({i["la_code"] for i in items if i["la_code"]})}


def render_flash_html(flash: dict, language: str, generated_at: str) -> str:
    L = Lang(language)
    html = _ENV.get_template("flash.html.j2").render(f=flash, L=L, _=L.gettext, generated_at=generated_at)
    if L.missing:
        raise ValueError(f"{len(L.missing)} fixed strings of the flash have no Welsh (scripts/update_messages.py --check)")
    return html
