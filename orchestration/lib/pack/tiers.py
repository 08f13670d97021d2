"""Tiered versions of a pack (guide Part 3, Step 5 "Circulation of reports").

- ``gold_silver`` (OFFICIAL-SENSITIVE): the full pack as ``model.build_pack`` returns it.
- ``bronze`` (OFFICIAL): Bronze and partner agencies. Local authority and ward only: no LSOA, no free text,
  no risk descriptions or CIA subjects, incident counts only from the shared tier (small counts suppressed,
  with secondary suppression) and no other partner count, expected value or probability from which a count
  could be worked back.
- ``summary`` (OFFICIAL): when circulation must be restricted: one page per group, the overall rating and
  trend per LA and how many exceptions each section holds; nothing below LA.

Lower tiers are *built* from the full pack by choosing each field they may hold (never by deleting fields
from a copy), so anything added to the full pack later stays out of them until someone decides otherwise.
"""

from __future__ import annotations

from orchestration.lib.pack import TIERS

MARKINGS = {"gold_silver": "OFFICIAL-SENSITIVE", "bronze": "OFFICIAL", "summary": "OFFICIAL"}
DEFAULT_THRESHOLD = 5
SHARED_LEVELS = ("la", "ward")


def for_tier(pack: dict, tier: str) -> dict:
    if tier not in TIERS:
        raise ValueError(f"tier {tier!r}: expected one of {', '.join(TIERS)}")
    if tier == "gold_silver":
        out = dict(pack)
    elif tier == "bronze":
        out = _bronze(pack)
    else:
        out = _summary(pack)
    out["tier"] = tier
    out["marking"] = MARKINGS[tier]
    return out


def _common(pack: dict) -> dict:
    return {"schema": pack["schema"], "group": pack["group"], "quarter": pack["quarter"], "as_of": pack["as_of"]}


def _la(area: dict | None) -> dict | None:
    return None if area is None else {k: area[k] for k in ("code", "level", "name", "name_cy")}


def _place(place: dict) -> dict:
    """LA and ward of a place; the LSOA is dropped and the level says at most 'ward'."""
    level = place.get("area_level")
    return {"la": _la(place["la"]), "ward": _la(place.get("ward")), "lsoa": None,
            "area_level": level if level in SHARED_LEVELS else ("ward" if place.get("ward") else "la")}


def _grade(g: dict | None) -> dict | None:
    return None if g is None else {k: g[k] for k in ("scale", "grade", "eep", "level4")}


def _threshold(pack: dict) -> int:
    shared = pack["evidence"].get("shared") or []
    return int(shared[0]["threshold"]) if shared else DEFAULT_THRESHOLD


def _count(n: int | None, threshold: int) -> dict:
    """A partner count as shown in a shared tier: zero and counts at or above the threshold as they are,
    1 .. threshold-1 suppressed (the value is not carried at all)."""
    if n is None:
        return {"value": None, "is_suppressed": False}
    if 0 < n < threshold:
        return {"value": None, "is_suppressed": True}
    return {"value": int(n), "is_suppressed": False}


def _bronze(pack: dict) -> dict:
    out = _common(pack)
    threshold = _threshold(pack)
    out["disclosure_threshold"] = threshold
    out["geography"] = {"lsoa21_codes": [], "ward_codes": list(pack["geography"]["ward_codes"])}

    out["tension"] = {"areas": [
        {"area": _la(a["area"]), "place": _place(a["place"]), "assessment_date": a["assessment_date"],
         "previous_assessment_date": a["previous_assessment_date"], "in_quarter": a["in_quarter"],
         "scale": a["scale"], "narrative_text": [],
         "rows": [{"community_type": r["community_type"], "is_overall": r["is_overall"],
                   "overall_source": r["overall_source"], "scale": r["scale"],
                   "current": _grade(r["current"]), "potential": _grade(r["potential"]),
                   "current_trend": r["current_trend"], "potential_trend": r["potential_trend"],
                   "is_cia_trigger": r["is_cia_trigger"]} for r in a["rows"]]}
        for a in pack["tension"]["areas"] if a["area"]["level"] in SHARED_LEVELS
    ]}

    action = pack["action"]
    out["action"] = {
        "cias": [{"cia_id": c["cia_id"], "reason": c["reason"], "trigger": c["trigger"], "status": c["status"],
                  "triggered_on": c["triggered_on"], "due_on": c["due_on"], "completed_on": c["completed_on"],
                  "age_days": c["age_days"], "community_types": list(c["community_types"]),
                  "place": _place(c["place"])} for c in action["cias"]],
        "risks_without_plan": [_risk(r) for r in action["risks_without_plan"]],
        "open_risks": [_risk(r) for r in action["open_risks"]],
        "next_steps": [{"kind": s["kind"], "ref": s["ref"], "level": s["level"], "score": s["score"],
                        "place": _place(s["place"]), "community_type": s["community_type"],
                        "from_potential": s.get("from_potential", False),
                        **({"area": _la(s["area"])} if s.get("area") and s["area"]["level"] in SHARED_LEVELS else {})}
                       for s in action["next_steps"]
                       if s["kind"] == "risk" or (s.get("area") and s["area"]["level"] in SHARED_LEVELS)],
    }

    ev = pack["evidence"]
    out["evidence"] = {
        "volumes": [], "strands": [],
        "shared": [dict(r) for r in ev["shared"]],
        # a spike or disagreement is named at ward or LA level with its level in words: no count, expected or
        # probability (any of them with the other two gives the count back)
        "spikes": [{"area": _la(s["area"]), "la": _la(s["la"]), "ward": None, "community_type": s["community_type"],
                    "month": s["month"], "volume_level": s["volume_level"], "trend": []}
                   for s in ev["spikes"] if s["area"]["level"] in SHARED_LEVELS],
        "disagreements": [{"area": _la(d["area"]), "la": _la(d["la"]), "community_type": d["community_type"],
                           "month": d["month"], "group_grade": d["group_grade"],
                           "suggested_grade": d["suggested_grade"], "direction": d["direction"]}
                          for d in ev["disagreements"] if d["area"]["level"] in SHARED_LEVELS],
        "raised_not_listed": None, "strand_baseline_complete": ev["strand_baseline_complete"],
    }

    coh = pack["cohesion"]
    out["cohesion"] = {
        "factors": [{"factor": f["factor"],
                     "items": [dict(i) for i in f["items"] if i["geography_level"] in SHARED_LEVELS],
                     "lsoas_worse": [dict(w) for w in f["lsoas_worse"]]} for f in coh["factors"]],
        "crime_below_la_in_section_5": coh["crime_below_la_in_section_5"],
    }
    out["cohesion"]["n_items"] = sum(len(f["items"]) for f in out["cohesion"]["factors"])

    crime = pack["crime"]
    flags = [dict(f) for f in crime["flags"] if f["geography_level"] in SHARED_LEVELS]
    lsoas_by_ward: dict[tuple, dict] = {}
    for f in crime["flags"]:
        if f["geography_level"] == "lsoa":
            key = (f["ward"]["code"], f["crime_group"])
            entry = lsoas_by_ward.setdefault(key, {"ward": _la(f["ward"]), "la": _la(f["la"]),
                                                  "crime_group": f["crime_group"], "lsoas_flagged": 0})
            entry["lsoas_flagged"] += 1
    out["crime"] = {"tested": crime["tested"], "rows_in_quarter": crime["rows_in_quarter"],
                    "lsoa_flags": crime["lsoa_flags"], "above_own_past": crime["above_own_past"],
                    "families": [dict(f) for f in crime.get("families", [])],
                    "force_ratios": [dict(f) for f in crime["force_ratios"]], "flags": flags,
                    "lsoas_by_ward": sorted(lsoas_by_ward.values(),
                                            key=lambda e: (e["la"]["name"], e["ward"]["name"], e["crime_group"]))}

    fwd = pack["forward"]
    future_by_la: dict[str, dict] = {}
    for r in fwd["future_reports"]:
        entry = future_by_la.setdefault(r["place"]["la"]["code"], {"la": _la(r["place"]["la"]), "n": 0})
        entry["n"] += 1
    out["forward"] = {
        "planned_events": [{"cia_id": e["cia_id"], "triggered_on": e["triggered_on"], "status": e["status"],
                            "due_on": e["due_on"], "completed_on": e["completed_on"], "overall_risk": e["overall_risk"],
                            "in_quarter": e["in_quarter"], "place": _place(e["place"]),
                            "community_types": list(e["community_types"])} for e in fwd["planned_events"]],
        "future_reports": [],
        "future_reports_by_la": [{"la": e["la"], "count": _count(e["n"], threshold)}
                                 for e in sorted(future_by_la.values(), key=lambda e: e["la"]["name"])],
    }
    out["about"] = {"police_uk": pack["about"]["police_uk"], "partner_files": pack["about"]["partner_files"],
                    "indicators": pack["about"]["indicators"],
                    "caveats": [dict(c) for c in pack["about"]["caveats"]]}
    return out


def _risk(r: dict) -> dict:
    return {"risk_id": r["risk_id"], "score": r["score"], "likelihood": r["likelihood"], "impact": r["impact"],
            "risk_level": r["risk_level"], "ppplem_heading": r["ppplem_heading"], "residual_score": r["residual_score"],
            "action_plan_missing": r["action_plan_missing"], "action_plan_required": r["action_plan_required"],
            "review_due": r["review_due"], "is_review_overdue": r["is_review_overdue"], "raised_on": r["raised_on"],
            "place": _place(r["place"])}


def section_counts_by_la(pack: dict) -> dict[str, dict]:
    """How many exceptions each section holds, per LA of the group (the summary tier's table)."""
    counts = {la["code"]: {"tension": 0, "action": 0, "evidence": 0, "cohesion": 0, "crime": 0, "forward": 0}
              for la in pack["group"]["las"]}

    def add(la_code, section, n=1):
        if la_code in counts:
            counts[la_code][section] += n

    for a in pack["tension"]["areas"]:
        add(a["place"]["la"]["code"], "tension", sum(1 for r in a["rows"] if r["is_cia_trigger"]))
    for c in pack["action"]["cias"]:
        add(c["place"]["la"]["code"], "action")
    for r in pack["action"]["risks_without_plan"]:
        add(r["place"]["la"]["code"], "action")
    for s in pack["evidence"]["spikes"]:
        add(s["la"]["code"], "evidence")
    for d in pack["evidence"]["disagreements"]:
        add(d["la"]["code"], "evidence")
    for f in pack["cohesion"]["factors"]:
        for i in f["items"]:
            add(i["la"]["code"], "cohesion")
    for f in pack["crime"]["flags"]:
        add(f["la"]["code"], "crime")
    for e in pack["forward"]["planned_events"]:
        add(e["place"]["la"]["code"], "forward")
    for r in pack["forward"]["future_reports"]:
        add(r["place"]["la"]["code"], "forward")
    return counts


def _summary(pack: dict) -> dict:
    out = _common(pack)
    out["geography"] = {"lsoa21_codes": [], "ward_codes": []}
    overall = {}
    for a in pack["tension"]["areas"]:
        if a["area"]["level"] != "la":
            continue
        for r in a["rows"]:
            if r["is_overall"]:
                overall[a["area"]["code"]] = {
                    "assessment_date": a["assessment_date"], "scale": r["scale"],
                    "current": _grade(r["current"]), "potential": _grade(r["potential"]),
                    "current_trend": r["current_trend"], "potential_trend": r["potential_trend"]}
    counts = section_counts_by_la(pack)
    out["las"] = [{"la": _la({"code": la["code"], "level": "la", "name": la["name"], "name_cy": la["name_cy"]}),
                   "overall": overall.get(la["code"]), "counts": counts[la["code"]]}
                  for la in pack["group"]["las"]]
    high = [s for s in pack["action"]["next_steps"] if s["level"] == "high"]
    out["high_level_items"] = len(high)
    return out
