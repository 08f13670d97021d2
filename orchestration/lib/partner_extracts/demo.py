"""Demo partner extracts on the real Gwent geography (used by ``make run``).

Writes 18 months (``DEMO_START``..``DEMO_END``, which sits on the bundled police.uk Gwent crime data) of
realistic, entirely fictional partner files for all five extract types into a landing folder:

- ``demo-gwent-police``: incidents, one CSV a month (hate crimes/incidents, ASB, public order, criminal
  damage), placed in LSOAs weighted by the real police.uk counts for the matching crime type so the hot
  spots look like Gwent's real ones. The first quarter of 2023 still uses 2011 LSOA codes where the 2021
  code differs (a legacy system).
- ``demo-newport-council``: incidents and tension report forms, one file a quarter, Newport only for
  incidents, dates written dd/mm/yyyy; the 2023-Q1 incidents are an XLSX workbook with real date cells,
  and one CSV ends with Excel's trailing ",,,," rows.
- ``demo-tension-group``: tension assessments every two months (5 Gwent LAs x 9 community types, Monmouthshire
  on the level4 scale), and quarterly snapshots of the CIA log and the PPPLEM risk register.

Planted events (described in ``PLANTED`` so tests can find them): a race hate spike in Pillgwenlly in
May 2024, Newport's ethnic communities rating rising over three assessments, an overdue CIA, a rating with
no CIA, a risk with no action plan, free text carrying personal data (for redaction tests) and a corrected
police file superseding the original.

Deterministic: one ``random.Random(20240630)`` per call, sorted iteration, no clock; two runs write
byte-identical files (XLSX included: fixed workbook properties and zip entry timestamps). Every partner
slug starts with ``demo-`` so nobody mistakes these for real data. No Dagster imports.
"""

from __future__ import annotations

import calendar
import csv
import io
import os
import random
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import cache
from pathlib import Path

from orchestration.lib.partner_extracts.contracts import extract_types
from orchestration.lib.seeds import read_seed
from orchestration.settings import REPO_ROOT

DEMO_START = date(2023, 1, 1)
DEMO_END = date(2024, 6, 30)
SEED = 20240630

# The bundled real police.uk data (not the configurable snapshots dir: the demo must not change with it).
POLICE_UK_DIR = REPO_ROOT / "data" / "snapshots" / "police_uk" / "gwent"

GWENT_FORCE = "W15000002"
BLAENAU_GWENT = "W06000019"
CAERPHILLY = "W06000018"
MONMOUTHSHIRE = "W06000021"
NEWPORT = "W06000022"
TORFAEN = "W06000020"
GWENT_LAS = (CAERPHILLY, BLAENAU_GWENT, TORFAEN, MONMOUTHSHIRE, NEWPORT)  # sorted by code

POLICE = "demo-gwent-police"
COUNCIL = "demo-newport-council"
GROUP = "demo-tension-group"
POLICE_ORG = "Gwent Police"
COUNCIL_ORG = "Newport City Council"

SPIKE_LSOA = "W01001661"  # Newport 018C, Pillgwenlly ward
SPIKE_MONTH = (2024, 5)
SPIKE_POLICE_ROWS = 9
SPIKE_COUNCIL_ROWS = 5
CITY_CENTRE_LSOA = "W01001685"  # Newport 014B, Stow Hill
BRYNMAWR_LSOA = "W01001448"  # Blaenau Gwent 002C
BLACKWOOD_LSOA = "W01001350"  # Caerphilly 009C

# The group meets every two months; each assessment covers its month and the next.
ASSESSMENT_MONTHS = ((2023, 1), (2023, 3), (2023, 5), (2023, 7), (2023, 9), (2023, 11), (2024, 1), (2024, 3), (2024, 5))

CORRECTED_CHANGED_REF = "GP/24/017987"
CORRECTED_ADDED_REF = "GP/24/023105"

# Personal data planted in free text (must never reach a mart).
PD_NAME = "Mr Gareth Price"
PD_PHONE = "07700 900123"
PD_EMAIL = "gareth.price@example.org"
PD_POSTCODE = "NP20 4AB"
PD_NINO = "QQ 12 34 56 C"
PD_VRM = "CV19 ABC"
PD_ADDRESS = "14 Commercial Road"
PD_AREA_POSTCODE = "NP20 2JG"
PD_INCIDENT_NAME = "Mrs Sian Morgan"
PD_INCIDENT_PHONE = "07700 900789"
PD_RISK_NAME = "Mr Dafydd Evans"
PD_RISK_PHONE = "07700 900456"
PD_RATIONALE_NAME = "Ms Carys Lewis"
PD_RATIONALE_PHONE = "07700 900321"
_PLANTED_PHONE_SUFFIXES = (123, 321, 456, 789)

NEWPORT_ETHNIC = {  # assessment month -> (current, potential)
    "2023-11": (6, 5),
    "2024-01": (5, 5),
    "2024-03": (4, 3),
    "2024-05": (3, 3),
}
TORFAEN_FAITH = {"2024-05": (5, 4)}  # a CIA trigger (potential 4) that gets no CIA


# --------------------------------------------------------------------------------------------- helpers


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _months() -> list[tuple[int, int]]:
    out, y, m = [], DEMO_START.year, DEMO_START.month
    while date(y, m, 1) <= DEMO_END:
        out.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _quarters() -> list[tuple[int, int]]:
    return sorted({(y, (m - 1) // 3 + 1) for y, m in _months()})


def _quarter_bounds(year: int, quarter: int) -> tuple[date, date]:
    return date(year, 3 * quarter - 2, 1), _month_end(year, 3 * quarter)


def _assessment_date(year: int, month: int) -> date:
    """The first Tuesday on or after the 4th (clear of bank holidays): a weekday early in the month."""
    day = date(year, month, 4)
    while day.weekday() != 1:
        day += timedelta(days=1)
    return day


def _iso(d: date | None) -> str:
    return "" if d is None else d.isoformat()


def _dmy(d: date | None) -> str:
    return "" if d is None else d.strftime("%d/%m/%Y")


def _random_day(rng: random.Random, start: date, end: date) -> date:
    return start + timedelta(days=rng.randint(0, (end - start).days))


def _pick(rng: random.Random, picker: tuple[tuple[str, ...], tuple[float, ...]]) -> str:
    codes, cumulative = picker
    return rng.choices(codes, cum_weights=cumulative, k=1)[0]


# ------------------------------------------------------------------------------------- geography & data


@dataclass(frozen=True)
class Lsoa:
    code: str
    name: str
    ward_code: str
    ward_name: str
    ward_name_cy: str
    la_code: str


@cache
def _geography() -> dict:
    lsoas = {
        r["lsoa21_code"]: Lsoa(r["lsoa21_code"], r["lsoa21_name"], r["ward_code"], r["ward_name"],
                               r["ward_name_cy"], r["la_code"])
        for r in read_seed("geography/lsoa21_geography.csv")
        if r["police_force_code"] == GWENT_FORCE
    }
    las = {r["la_code"]: (r["la_name"], r["la_name_cy"]) for r in read_seed("geography/local_authority.csv")
           if r["police_force_code"] == GWENT_FORCE}
    wards = {r["ward_code"]: (r["ward_name"], r["ward_name_cy"], r["la_code"]) for r in read_seed("geography/ward.csv")
             if r["la_code"] in las}
    predecessors: dict[str, list[str]] = {}
    for r in read_seed("geography/lsoa11_lsoa21_exact_fit.csv"):
        if r["lsoa21_code"] in lsoas and r["lsoa11_code"] != r["lsoa21_code"]:
            predecessors.setdefault(r["lsoa21_code"], []).append(r["lsoa11_code"])
    if sorted(las) != sorted(GWENT_LAS) or SPIKE_LSOA not in lsoas:
        raise RuntimeError("the geography seeds do not hold the expected Gwent areas")
    return {
        "lsoas": lsoas,
        "las": las,
        "wards": wards,
        "predecessors": {k: tuple(sorted(v)) for k, v in sorted(predecessors.items())},
    }


@cache
def _police_uk_counts() -> dict[tuple[str, str], int]:
    """(police.uk crime type, Gwent 2021 LSOA) -> records over the 24 months 2022-07..2024-06 (the demo was drawn
    from those; the earlier-vintage 2022-01..06 files bundled later are left out so the demo stays the same)."""
    lsoas = _geography()["lsoas"]
    files = sorted(p for p in POLICE_UK_DIR.glob("*-gwent-street.csv") if p.name[:7] >= "2022-07")
    if not files:
        raise FileNotFoundError(f"no bundled police.uk Gwent files in {POLICE_UK_DIR}")
    counts: dict[tuple[str, str], int] = {}
    for path in files:
        with open(path, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                code = row["LSOA code"]
                if code in lsoas:
                    key = (row["Crime type"], code)
                    counts[key] = counts.get(key, 0) + 1
    return counts


@cache
def _picker(crime_type: str, la_code: str | None = None, exclude: tuple[str, ...] = ()) -> tuple:
    counts = _police_uk_counts()
    codes = tuple(c for c, l in sorted(_geography()["lsoas"].items())
                  if (la_code is None or l.la_code == la_code) and c not in exclude)
    cumulative, total = [], 0.0
    for code in codes:
        total += counts.get((crime_type, code), 0) + 0.5  # every LSOA possible, hot spots likely
        cumulative.append(total)
    return codes, tuple(cumulative)


# ------------------------------------------------------------------------------------------ vocabulary

STRAND_WEIGHTS = (
    ("race", 66), ("sexual_orientation", 13), ("religion", 8), ("disability", 7), ("transgender", 5),
    ("alternative_subculture", 1),
)
SEASON = {1: 0.9, 2: 0.85, 3: 0.95, 4: 1.0, 5: 1.05, 6: 1.1, 7: 1.15, 8: 1.1, 9: 1.0, 10: 1.0, 11: 0.95, 12: 0.9}

HATE_TEXT = {
    "race": (
        "Racially aggravated verbal abuse towards a shop worker",
        "Racist comments shouted at a family in the street",
        "Racially aggravated harassment by a neighbour",
        "Racist abuse directed at a taxi driver",
        "Racially aggravated assault outside licensed premises",
        "Racist graffiti daubed on a garden wall",
        "Racist remarks made to a bus driver",
        "Online racist abuse aimed at a local takeaway",
    ),
    "religion": (
        "Abusive comments about the victim's faith made in the street",
        "Eggs thrown at the door of a place of worship",
        "Religiously aggravated harassment outside a mosque",
        "Anti-Semitic remarks made to a customer in a shop",
        "Headscarf pulled during a verbal altercation",
    ),
    "sexual_orientation": (
        "Homophobic abuse shouted at a couple in the town centre",
        "Homophobic graffiti on a bus shelter",
        "Homophobic comments made repeatedly by neighbours",
        "Homophobic abuse directed at bar staff",
    ),
    "disability": (
        "Disablist name-calling directed at a young man by a group of youths",
        "Disability-related harassment of a resident by neighbours",
        "Mobility scooter damaged and abusive remarks made",
    ),
    "transgender": (
        "Transphobic abuse shouted in the street",
        "Transphobic messages sent online to a resident",
        "Transphobic comments made to a member of staff",
    ),
    "alternative_subculture": (
        "Young couple abused and followed because of their goth appearance",
        "Abuse directed at a young person because of how they dress",
    ),
}
SPIKE_TEXT = (
    "Racially aggravated verbal abuse towards shop workers in Pillgwenlly",
    "Racist abuse shouted at women walking home in Pillgwenlly",
    "Racist graffiti sprayed on the shutters of a grocery shop",
    "Group of men shouting racist abuse at families from a car",
    "Racially aggravated threats made to a takeaway owner",
    "Racist abuse directed at children walking to school",
    "Window of a family home broken; racist remarks made",
    "Racist leaflets pushed through letterboxes in the street",
    "Racially aggravated assault on a man waiting at a bus stop",
)
POLICE_TEXT = {
    "asb": (
        "Group of youths causing nuisance outside shops",
        "Off-road motorbikes ridden on the park and footpaths",
        "Drunken behaviour outside licensed premises",
        "Youths throwing stones at passing buses",
        "Rowdy behaviour at the skate park late at night",
        "Fireworks let off in the street",
        "Nuisance vehicles revving in a supermarket car park",
        "Persistent door knocking and running away",
    ),
    "public_order": (
        "Threatening behaviour outside licensed premises",
        "Fight in the town centre in the early hours",
        "Abusive and threatening language towards door staff",
        "Disorder at a house party spilling into the street",
        "Threats made during a dispute between neighbours",
    ),
    "criminal_damage": (
        "Windows of a house smashed",
        "Bus shelter glass broken",
        "Car tyres slashed overnight",
        "Wheelie bins set alight in a lane",
        "Damage to the door of a community centre",
        "Wing mirrors snapped off parked cars",
    ),
}
COUNCIL_TEXT = {
    "offensive_graffiti": (
        "Offensive graffiti on an underpass wall, removed by the Streetscene team",
        "Offensive slogan sprayed on a garage door",
        "Offensive words painted on a play area sign",
        "Swastika scratched into a bus shelter panel",
        "Obscene graffiti on the side of a shop",
    ),
    "neighbour_dispute": (
        "Dispute over parking outside neighbouring houses",
        "Ongoing boundary dispute between neighbours",
        "Complaint about a neighbour's dog and threats made",
        "Dispute over a shared garden and bins",
        "Neighbours arguing over a hedge and fence",
    ),
    "noise_complaint": (
        "Loud music late at night from a flat",
        "Repeated parties at weekends",
        "Dog barking for long periods during the day",
        "Shouting and banging from a neighbouring property",
        "Noise from a car repair business in a residential street",
    ),
    "deliberate_fire": (
        "Rubbish set alight in a back lane",
        "Grass fire started deliberately on common land",
        "Wheelie bin set on fire",
        "Fire started in an empty garage",
        "Mattress set alight in a lane",
    ),
    "hate_incident": (
        "Tenant reports comments from a neighbour targeting their background",
        "Abusive leaflet pushed through a tenant's letterbox",
        "Resident reports abuse from youths while walking home",
        "Abusive notes left on a tenant's car",
    ),
}
COMMUNITY_FOR_STRAND = {
    "race": (("ethnic", 40), ("new_arrivals", 6), ("gypsies_travellers", 3), ("", 51)),
    "religion": (("faith", 50), ("", 50)),
    "sexual_orientation": (("lgbt", 45), ("", 55)),
    "transgender": (("lgbt", 45), ("", 55)),
    "disability": (("", 1),),
    "alternative_subculture": (("", 1),),
}

SUBMITTERS = (
    "Rhiannon Pritchard", "Owain Jenkins", "Sioned Davies", "Huw Bowen", "Ffion Roberts", "Gethin Thomas",
    "Bethan Hughes", "Aled Williams", "Nia Edwards", "Rhys Phillips", "Catrin Lloyd", "Dylan Rees",
    "Megan Powell", "Iwan Howells", "Lowri Bevan", "Emyr Watkins", "Amira Hassan", "Tomasz Nowak",
    "Priya Sharma", "Kwame Mensah",
)
ORGANISATIONS = {
    "person_working_in_area": (
        "Newport City Council", "Gwent Police", "Pobl Group", "Bron Afon Community Housing",
        "Tai Calon Community Housing", "Caerphilly County Borough Council", "Monmouthshire County Council",
        "Torfaen County Borough Council", "Blaenau Gwent County Borough Council", "Citizens Advice",
        "GAVO", "Urdd Gobaith Cymru",
    ),
    "own_observation": ("Gwent Police", "Newport City Council", "Community Cohesion team"),
}

# (community types, tension categories, text with {place}); {place} is a ward or LA name.
REPORT_TEMPLATES = (
    ("language", "political;community",
     "Parents at the Ysgol Gymraeg in {place} report leaflets left at the school gates criticising "
     "Cymraeg-medium education. Some parents are upset and the head teacher has asked for advice."),
    ("lgbt", "future;community",
     "Organisers of the summer ŵyl in {place} are worried after posts on social media calling for a "
     "counter-protest against the Pride stall."),
    ("new_arrivals", "immigration;political",
     "Rumours on local Facebook groups that a former hotel in {place} will house asylum seekers. A public "
     "meeting is being organised and feelings are running high."),
    ("generational", "criminal;community",
     "Young people gathering in the park in {place} in the evenings; older residents say they feel "
     "intimidated and have stopped using the path."),
    ("ethnic;new_arrivals", "racial_religious;immigration",
     "Stickers with anti-immigration slogans found on lamp posts around {place}. Streetscene have been asked "
     "to remove them."),
    ("gypsies_travellers", "community",
     "Tension between residents and Gypsy and Traveller families after an unauthorised encampment on land in "
     "{place}. Comments on social media are becoming hostile."),
    ("socio_economic;new_arrivals", "community;immigration",
     "Food bank volunteers in {place} say more families are struggling and some visitors blame newcomers for "
     "the housing waiting list."),
    ("faith", "national_international;racial_religious",
     "The mosque committee in {place} reports abusive phone calls after national news coverage of events "
     "overseas. Worshippers are anxious about Friday prayers."),
    ("", "organisational_capacity",
     "Fewer PCSO patrols in {place} since the winter; community groups say they feel less supported and are "
     "less likely to report problems."),
    ("", "future",
     "Remembrance parade planned in {place}. No concerns raised but the organisers have asked for a visible "
     "police presence."),
    ("faith", "community",
     "Eid celebration in {place} went well, with neighbours attending. No tensions observed."),
    ("language", "community",
     "Welsh-language café night at the library in {place} was well attended; a few hostile comments online "
     "about Cymraeg signage."),
    ("", "community;criminal",
     "A dispute between two families in {place} has spilled onto social media and threats have been made."),
    ("new_arrivals", "political;immigration",
     "Election leaflets delivered in {place} use language about 'illegal migrants' that some residents find "
     "inflammatory."),
    ("generational;socio_economic", "community",
     "Closure of the youth club in {place} has left teenagers with nowhere to go; shopkeepers report more "
     "nuisance after school."),
    ("ethnic", "racial_religious",
     "Staff at a barber's shop in {place} were called racist names by a group of men; the shop owner does not "
     "want to make a formal report."),
)
SPIKE_REPORTS = (
    ((2024, 2, 19), "own_observation", "ethnic", "racial_religious;community",
     "Community leaders in Pillgwenlly report growing fear among ethnic minority residents after several "
     "incidents of verbal abuse in the street since January."),
    ((2024, 4, 22), "person_working_in_area", "ethnic;faith", "racial_religious;political",
     "Youth workers in Pillgwenlly hear talk of a protest outside the community centre; online posts "
     "blame local families for recent crime."),
    ((2024, 5, 9), "resident", "ethnic", "racial_religious;criminal",
     "Shopkeepers in Pillgwenlly describe racist abuse most evenings this week and some are closing early."),
    ((2024, 6, 4), "person_working_in_area", "ethnic;new_arrivals", "racial_religious;community",
     "Parents at the primary school say children are scared to walk to school through Pillgwenlly after the "
     "incidents in May; attendance has dipped."),
)

GRADE5_REASON = {
    "ethnic": "occasional reports of racist abuse; partners monitoring",
    "faith": "some anxiety around places of worship after national news",
    "new_arrivals": "online rumours about asylum accommodation",
    "generational": "youth nuisance in the town centre in the evenings",
    "socio_economic": "cost-of-living pressures raised by food banks",
    "lgbt": "some online hostility ahead of Pride events",
    "gypsies_travellers": "tension around an unauthorised encampment",
    "language": "a few hostile comments online about Welsh-medium provision",
}
NEWPORT_ETHNIC_RATIONALE = {
    "2023-11": "No significant tension; a small number of racist incidents reported in the city centre.",
    "2024-01": "Increase in reports of verbal racist abuse in Pillgwenlly and Stow Hill; partners monitoring "
               "social media.",
    "2024-03": "Sustained rise in race hate incidents around Pillgwenlly and online rumours of a protest. "
               "Grade lowered to 4; a CIA has been requested.",
    "2024-05": f"Further racist incidents in Pillgwenlly in early May; residents report fear of going out after "
               f"dark. Concerns raised at the ward surgery by {PD_RATIONALE_NAME} ({PD_RATIONALE_PHONE}) have been "
               f"passed to the neighbourhood team.",
}


# ------------------------------------------------------------------------------------------- police


def _hate_strands(rng: random.Random) -> list[str]:
    strands, weights = zip(*STRAND_WEIGHTS, strict=True)
    first = rng.choices(strands, weights=weights, k=1)[0]
    if first == "race" and rng.random() < 0.06:
        return ["race", "religion"]
    return [first]


def _community_for(rng: random.Random, strand: str) -> str:
    options, weights = zip(*COMMUNITY_FOR_STRAND[strand], strict=True)
    return rng.choices(options, weights=weights, k=1)[0]


def _dates(rng: random.Random, start: date, end: date) -> tuple[date, date]:
    reported = _random_day(rng, start, end)
    r = rng.random()
    delay = 0 if r < 0.6 else rng.randint(1, 3) if r < 0.9 else rng.randint(4, 21)
    return reported - timedelta(days=delay), reported


def _police_month(rng: random.Random, year: int, month: int, spike_background: dict) -> list[dict]:
    start, end = date(year, month, 1), _month_end(year, month)
    season = SEASON[month]
    counts = {
        "hate": max(40, min(60, round(48 * season) + rng.randint(-5, 5))),
        "asb": round(50 * season) + rng.randint(-8, 8),
        "public_order": round(30 * season) + rng.randint(-5, 5),
        "criminal_damage": round(22 * season) + rng.randint(-4, 4),
    }
    rows: list[dict] = []
    for kind in ("hate", "asb", "public_order", "criminal_damage"):
        for _ in range(counts[kind]):
            occurred, reported = _dates(rng, start, end)
            if kind == "hate":
                strands = _hate_strands(rng)
                lsoa = _pick(rng, _picker("Public order"))
                # The spike LSOA stays quiet (at most one a month) so May 2024 stands out.
                while lsoa == SPIKE_LSOA and ((year, month) == SPIKE_MONTH or spike_background.get((year, month))):
                    lsoa = _pick(rng, _picker("Public order"))
                if lsoa == SPIKE_LSOA:
                    spike_background[(year, month)] = 1
                rows.append({
                    "incident_type": "hate_crime" if rng.random() < 0.72 else "hate_incident",
                    "hate_strands": ";".join(strands),
                    "community_type": _community_for(rng, strands[0]),
                    "description": rng.choice(HATE_TEXT[strands[0]]),
                    "occurred_on": occurred, "reported_on": reported, "lsoa": lsoa,
                })
            else:
                crime_type = {"asb": "Anti-social behaviour", "public_order": "Public order",
                              "criminal_damage": "Criminal damage and arson"}[kind]
                rows.append({
                    "incident_type": kind, "hate_strands": "",
                    "community_type": "generational" if kind == "asb" and rng.random() < 0.08 else "",
                    "description": rng.choice(POLICE_TEXT[kind]),
                    "occurred_on": occurred, "reported_on": reported, "lsoa": _pick(rng, _picker(crime_type)),
                })
    if (year, month) == SPIKE_MONTH:
        for i in range(SPIKE_POLICE_ROWS):
            reported = date(2024, 5, 3 + 3 * i)
            rows.append({
                "incident_type": "hate_crime" if i % 3 != 2 else "hate_incident",
                "hate_strands": "race", "community_type": "ethnic" if i % 2 == 0 else "",
                "description": SPIKE_TEXT[i], "occurred_on": reported - timedelta(days=i % 2),
                "reported_on": reported, "lsoa": SPIKE_LSOA,
            })
    predecessors = _geography()["predecessors"]
    for row in rows:
        # Until April 2023 the force's system still recorded 2011 LSOAs.
        if (year, month) < (2023, 4) and row["lsoa"] in predecessors:
            row["area_code"] = rng.choice(predecessors[row["lsoa"]])
        else:
            row["area_code"] = row["lsoa"]
        row["source_organisation"] = POLICE_ORG
    return rows


def _police_rows(rng: random.Random) -> dict[tuple[int, int], list[dict]]:
    by_month: dict[tuple[int, int], list[dict]] = {}
    spike_background: dict = {}
    reserved = {int(CORRECTED_CHANGED_REF[-6:]), int(CORRECTED_ADDED_REF[-6:])}
    seq: dict[int, int] = {}
    for year, month in _months():
        rows = _police_month(rng, year, month, spike_background)
        for i, row in enumerate(rows):
            row["_order"] = i
        rows.sort(key=lambda r: (r["reported_on"], r["_order"]))
        if year not in seq:
            seq[year] = rng.randint(100, 400)
        for row in rows:
            seq[year] += rng.randint(15, 60)
            while seq[year] in reserved:
                seq[year] += 1
            row["incident_ref"] = f"GP/{year % 100:02d}/{seq[year]:06d}"
        by_month[(year, month)] = rows
    april = by_month[(2024, 4)]
    # Planted for the corrected file: recorded as ASB, corrected to public order.
    april.append({
        "incident_ref": CORRECTED_CHANGED_REF, "occurred_on": date(2024, 4, 12), "reported_on": date(2024, 4, 13),
        "area_code": "W01001687", "lsoa": "W01001687", "incident_type": "asb", "hate_strands": "",
        "community_type": "", "source_organisation": POLICE_ORG,
        "description": "Group shouting and threatening passers-by outside a takeaway",
    })
    april.sort(key=lambda r: (r["reported_on"], r["incident_ref"]))
    return by_month


def _police_corrected(rows: list[dict]) -> list[dict]:
    corrected = [dict(r) for r in rows]
    for row in corrected:
        if row["incident_ref"] == CORRECTED_CHANGED_REF:
            row["incident_type"] = "public_order"
    corrected.append({
        "incident_ref": CORRECTED_ADDED_REF, "occurred_on": date(2024, 4, 27), "reported_on": date(2024, 4, 29),
        "area_code": "W01001646", "lsoa": "W01001646", "incident_type": "hate_crime",
        "hate_strands": "sexual_orientation", "community_type": "lgbt", "source_organisation": POLICE_ORG,
        "description": "Homophobic abuse shouted at a couple at a bus stop (crime record entered late)",
    })
    corrected.sort(key=lambda r: (r["reported_on"], r["incident_ref"]))
    return corrected


# ------------------------------------------------------------------------------------------ council


def _council_incidents(rng: random.Random) -> dict[tuple[int, int], list[dict]]:
    geography = _geography()
    predecessors = geography["predecessors"]
    by_quarter: dict[tuple[int, int], list[dict]] = {}
    seq: dict[int, int] = {}
    plan = (("offensive_graffiti", 10, 18, "Criminal damage and arson"),
            ("neighbour_dispute", 15, 25, "Anti-social behaviour"),
            ("noise_complaint", 25, 40, "Anti-social behaviour"),
            ("deliberate_fire", 3, 8, "Criminal damage and arson"),
            ("hate_incident", 2, 5, "Public order"))
    for year, quarter in _quarters():
        start, end = _quarter_bounds(year, quarter)
        rows: list[dict] = []
        for kind, low, high, crime_type in plan:
            exclude = (SPIKE_LSOA,) if kind == "hate_incident" else ()
            for _ in range(rng.randint(low, high)):
                occurred, reported = _dates(rng, start, end)
                row = {"incident_type": kind, "occurred_on": occurred, "reported_on": reported,
                       "lsoa": _pick(rng, _picker(crime_type, NEWPORT, exclude)),
                       "description": rng.choice(COUNCIL_TEXT[kind]), "hate_strands": "", "community_type": ""}
                if kind == "hate_incident":
                    strands = _hate_strands(rng)
                    row["hate_strands"] = ";".join(strands)
                    row["community_type"] = _community_for(rng, strands[0])
                rows.append(row)
        if quarter % 2 == 0:  # an LA-wide row every other quarter
            occurred, reported = _dates(rng, start, end)
            rows.append({"incident_type": "offensive_graffiti", "occurred_on": occurred, "reported_on": reported,
                         "lsoa": "", "area_code": NEWPORT, "hate_strands": "", "community_type": "",
                         "description": "Stickers with offensive slogans reported at several sites across the city"})
        if (year, quarter) == (2024, 2):
            for i in range(SPIKE_COUNCIL_ROWS):
                reported = date(2024, 5, 6 + 5 * i)
                description = ("Tenant reports racist abuse shouted at her family from the street",
                               f"Reported by {PD_INCIDENT_NAME}, {PD_INCIDENT_PHONE}: racist graffiti on her "
                               f"front door",
                               "Racist remarks made to a housing officer's client outside the flats",
                               "Racist notes left on cars parked in the street",
                               "Tenant reports racist abuse from a group of men in a car")[i]
                rows.append({"incident_type": "hate_incident", "occurred_on": reported - timedelta(days=1),
                             "reported_on": reported, "lsoa": SPIKE_LSOA, "hate_strands": "race",
                             "community_type": "ethnic" if i != 3 else "", "description": description})
        for i, row in enumerate(rows):
            row["_order"] = i
        rows.sort(key=lambda r: (r["reported_on"], r["_order"]))
        if year not in seq:
            seq[year] = rng.randint(20, 90)
        for row in rows:
            seq[year] += rng.randint(1, 9)
            row["incident_ref"] = f"NCC-{year % 100:02d}-{seq[year]:05d}"
            row["source_organisation"] = COUNCIL_ORG
            if "area_code" not in row:
                r = rng.random()
                if r < 0.10 and row["lsoa"] != SPIKE_LSOA:
                    row["area_code"] = geography["lsoas"][row["lsoa"]].ward_code
                elif r < 0.45 and row["lsoa"] in predecessors:
                    row["area_code"] = rng.choice(predecessors[row["lsoa"]])
                else:
                    row["area_code"] = row["lsoa"]
            if rng.random() < 0.15:  # blank reported_on means reported the day it happened
                row["occurred_on"] = row["reported_on"]
                row["reported_blank"] = True
        by_quarter[(year, quarter)] = rows
    return by_quarter


def _email(name: str) -> str:
    return name.lower().replace(" ", ".") + "@example.org"


def _phone(rng: random.Random) -> str:
    n = rng.randint(0, 999)
    while n in _PLANTED_PHONE_SUFFIXES:
        n = rng.randint(0, 999)
    return f"07700 900{n:03d}"


def _tension_reports(rng: random.Random) -> dict[tuple[int, int], list[dict]]:
    geography = _geography()
    lsoas, las = geography["lsoas"], geography["las"]
    predecessors = geography["predecessors"]
    by_quarter: dict[tuple[int, int], list[dict]] = {}
    for year, quarter in _quarters():
        start, end = _quarter_bounds(year, quarter)
        rows: list[dict] = []
        for _ in range(rng.randint(5, 13)):
            la = rng.choice(GWENT_LAS)
            communities, categories, text = rng.choice(REPORT_TEMPLATES)
            lsoa = lsoas[_pick(rng, _picker("Anti-social behaviour", la))]
            r = rng.random()
            if r < 0.15:
                area_code, place, description = la, las[la][0], ""
            elif r < 0.40:
                area_code, place = lsoa.ward_code, lsoa.ward_name
                description = f"{lsoa.ward_name} / {lsoa.ward_name_cy}" if lsoa.ward_name != lsoa.ward_name_cy else ""
            elif r < 0.48 and lsoa.code in predecessors:
                area_code, place, description = predecessors[lsoa.code][0], lsoa.ward_name, "Town centre"
            else:
                area_code, place = lsoa.code, lsoa.ward_name
                description = rng.choice(("Near the shops", "Park and play area", "High Street", "Bus station",
                                          "Outside the community centre", "Housing estate", ""))
            rows.append({"submitted_on": _random_day(rng, start, end),
                         "source_type": rng.choice(("resident", "resident", "person_working_in_area",
                                                    "person_working_in_area", "own_observation")),
                         "area_code": area_code, "area_description": description, "community_types": communities,
                         "tension_categories": categories, "information": text.format(place=place)})
        for (y, m, d), source, communities, categories, text in SPIKE_REPORTS:
            if start <= date(y, m, d) <= end:
                rows.append({"submitted_on": date(y, m, d), "source_type": source, "area_code": SPIKE_LSOA,
                             "area_description": "Pillgwenlly / Pilgwenlli", "community_types": communities,
                             "tension_categories": categories, "information": text})
        if (year, quarter) == (2024, 2):
            rows.append({
                "submitted_on": date(2024, 5, 14), "source_type": "resident", "area_code": SPIKE_LSOA,
                "area_description": f"Alexandra Road shops, {PD_AREA_POSTCODE}",
                "community_types": "ethnic;faith", "tension_categories": "racial_religious;criminal",
                "information": (
                    f"{PD_NAME} of {PD_ADDRESS}, {PD_POSTCODE} says a car ({PD_VRM}) has been driven round the "
                    f"streets most evenings with men shouting racist abuse at families near the mosque. He can be "
                    f"reached on {PD_PHONE} or {PD_EMAIL}. He gave his National Insurance number as {PD_NINO} "
                    f"when asked for ID."
                ),
                "planted_personal_data": True,
            })
        for i, row in enumerate(rows):
            row["_order"] = i
        rows.sort(key=lambda r: (r["submitted_on"], r["_order"]))
        for row in rows:
            source = row["source_type"]
            if row.get("planted_personal_data"):
                name = "Gareth Price"
                row.update(submitter_name=name, submitter_organisation="", submitter_email=PD_EMAIL,
                           submitter_phone=PD_PHONE, contact_consent="yes")
            elif source == "own_observation" or rng.random() < 0.7:
                name = rng.choice(SUBMITTERS)
                org = rng.choice(ORGANISATIONS[source]) if source in ORGANISATIONS else ""
                row.update(submitter_name=name, submitter_organisation=org,
                           submitter_email=_email(name) if rng.random() < 0.8 else "",
                           submitter_phone=_phone(rng) if rng.random() < 0.6 else "",
                           contact_consent=rng.choice(("yes", "yes", "no")))
            else:
                row.update(submitter_name="", submitter_organisation="", submitter_email="", submitter_phone="",
                           contact_consent=rng.choice(("no", "No")))  # the form asks: never blank
        by_quarter[(year, quarter)] = rows
    return by_quarter


# ------------------------------------------------------------------------------------ tension group


def _assessments(rng: random.Random) -> dict[tuple[int, int], list[dict]]:
    communities = [c for c in _community_types() if c != "overall"]
    state: dict[tuple[str, str], int] = {}
    by_month: dict[tuple[int, int], list[dict]] = {}
    for year, month in ASSESSMENT_MONTHS:
        key = f"{year}-{month:02d}"
        assessed_on = _assessment_date(year, month)
        period_end = _month_end(year + (month == 12), month % 12 + 1)
        rows: list[dict] = []
        for la in GWENT_LAS:
            grades: dict[str, tuple[int, int]] = {}
            for community in communities:
                previous = state.get((la, community), 6)
                stay = 0.55 if previous == 5 else 0.85
                current = previous if rng.random() < stay else 11 - previous  # 5 <-> 6
                if la == NEWPORT and key == "2023-11":
                    current = 6
                state[(la, community)] = current
                potential = current - 1 if current == 6 and rng.random() < 0.15 else current
                if la == NEWPORT and community == "ethnic" and key in NEWPORT_ETHNIC:
                    current, potential = NEWPORT_ETHNIC[key]
                    state[(la, community)] = max(current, 5)
                if la == TORFAEN and community == "faith" and key in TORFAEN_FAITH:
                    current, potential = TORFAEN_FAITH[key]
                grades[community] = (current, potential)
            overall_current = min(c for c, _p in grades.values())
            overall_potential = min(p for _c, p in grades.values())
            if la != NEWPORT:
                overall_potential = max(overall_potential, 5)  # the group judged LA-wide risk as raised at most
            grades["overall"] = (overall_current, overall_potential)
            for community in [*communities, "overall"]:
                current, potential = grades[community]
                if la == NEWPORT and community == "ethnic" and key in NEWPORT_ETHNIC_RATIONALE:
                    rationale = NEWPORT_ETHNIC_RATIONALE[key]
                elif community == "overall":
                    rationale = (f"Most tense community this period is at grade {current}." if current < 6
                                 else "No significant community tensions reported by partners this period.")
                elif la == TORFAEN and community == "faith" and key in TORFAEN_FAITH:
                    rationale = ("Potential raised: a planned demonstration near a place of worship in Cwmbran has "
                                 "been advertised online.")
                elif current == 5:
                    rationale = f"Raised: {GRADE5_REASON[community]}."
                elif potential == 5:
                    rationale = "Normal, but partners expect some tension around upcoming events."
                else:
                    rationale = rng.choice(("No significant tensions reported.", "Normal activity; nothing to note.",
                                            "No concerns raised by partners.", ""))
                role = ("Silver chair" if community == "overall"
                        else rng.choice(("Community cohesion officer", "Community cohesion officer",
                                         "Neighbourhood policing inspector", "Hate crime officer")))
                if la == MONMOUTHSHIRE:
                    scale, cur, pot = "level4", _level4(current), _level4(potential)
                else:
                    scale, cur, pot = "eep6", str(current), str(potential)
                rows.append({"assessment_date": assessed_on, "period_start": date(year, month, 1),
                             "period_end": period_end, "area_code": la, "community_type": community,
                             "scale": scale, "current_grade": cur, "potential_grade": pot,
                             "rationale": rationale, "assessed_by_role": role})
        by_month[(year, month)] = rows
    return by_month


def _level4(grade: int) -> str:
    return {1: "high", 2: "high", 3: "medium", 4: "medium", 5: "low", 6: "none"}[grade]


def _community_types() -> tuple[str, ...]:
    return extract_types()["tension_assessments"].column("community_type").values


# CIA log: (id, trigger, triggered_on, area, communities, subject, started_on, completed_on, overall_risk)
CIAS = (
    ("CIA-2023-001", "incident", date(2023, 2, 13), BRYNMAWR_LSOA, "generational;socio_economic",
     "Online rumours and threats after an arrest in Brynmawr", date(2023, 2, 15), date(2023, 3, 1), "low"),
    ("CIA-2023-002", "planned_event", date(2023, 8, 7), CITY_CENTRE_LSOA, "new_arrivals;ethnic",
     "Planned march through Newport city centre about asylum accommodation, with a counter-protest",
     date(2023, 8, 8), date(2023, 8, 24), "medium"),
    ("CIA-2023-003", "incident", date(2023, 11, 20), BLACKWOOD_LSOA, "faith",
     "Windows of a place of worship in Blackwood damaged", date(2023, 11, 21), date(2023, 12, 6), "low"),
    ("CIA-2024-001", "rating", date(2024, 3, 11), NEWPORT, "ethnic;overall",
     "Newport ethnic communities rated 4 (moderate, low) with potential 3: rising race hate incidents in "
     "Pillgwenlly", date(2024, 3, 18), None, ""),
    ("CIA-2024-002", "planned_event", date(2024, 4, 15), CAERPHILLY, "lgbt",
     "Pride event in Caerphilly town centre", date(2024, 4, 16), date(2024, 5, 10), "low"),
    ("CIA-2024-003", "incident", date(2024, 6, 10), SPIKE_LSOA, "ethnic",
     "Cluster of racist incidents in Pillgwenlly in May 2024", None, None, ""),
)

# Risk register: (id, area, raised_on, description, heading, L, I, residual L, residual I, action plan,
#                 owner role, review_due, closed_on)
RISKS = (
    ("RISK-2023-001", BRYNMAWR_LSOA, date(2023, 2, 16),
     "Further online threats lead to people gathering outside the family's home", "psychological",
     2, 2, 1, 2, "", "Neighbourhood policing inspector", date(2023, 3, 16), date(2023, 3, 20)),
    ("RISK-2023-002", CITY_CENTRE_LSOA, date(2023, 8, 8),
     "Confrontation between marchers and counter-protesters in the city centre", "police",
     3, 4, 2, 3, "AP-2023-08", "Silver commander", date(2023, 8, 26), date(2023, 8, 28)),
    ("RISK-2023-003", CITY_CENTRE_LSOA, date(2023, 8, 8),
     "City centre businesses close early and lose trade on the day of the march", "economic",
     3, 2, 2, 2, "AP-2023-08", "Business liaison officer", date(2023, 8, 26), date(2023, 8, 28)),
    ("RISK-2023-004", BLACKWOOD_LSOA, date(2023, 11, 21),
     "Repeat attack on the place of worship in Blackwood", "physical",
     3, 3, 2, 2, "AP-2023-11", "Neighbourhood policing inspector", date(2024, 1, 15), date(2024, 1, 18)),
    ("RISK-2024-001", NEWPORT, date(2024, 3, 12),
     "Escalating race hate incidents erode trust between minority communities and public services", "moral",
     4, 3, 3, 3, "AP-2024-03", "Community cohesion coordinator", date(2024, 6, 14), None),
    ("RISK-2024-002", SPIKE_LSOA, date(2024, 3, 12),
     f"Rumoured protest outside the community centre could draw people from outside the area; raised by "
     f"{PD_RISK_NAME} ({PD_RISK_PHONE})", "police",
     3, 3, None, None, "", "Neighbourhood policing inspector", date(2024, 6, 28), None),
    ("RISK-2024-003", CAERPHILLY, date(2024, 4, 16),
     "Online hostility towards the Pride event deters people from attending", "psychological",
     2, 3, 1, 3, "AP-2024-04", "Community cohesion officer", date(2024, 5, 10), date(2024, 5, 13)),
    ("RISK-2024-004", SPIKE_LSOA, date(2024, 6, 10),
     "Retaliation or vigilante activity after the May incidents in Pillgwenlly", "physical",
     4, 4, 3, 3, "AP-2024-06", "Silver commander", date(2024, 6, 24), None),
    ("RISK-2024-005", NEWPORT, date(2024, 6, 11),
     "The Newport CIA is not completed within the agreed timescale", "legal",
     2, 2, None, None, "", "Community safety manager", date(2024, 6, 28), None),
)


def _cia_snapshot(as_of: date) -> list[dict]:
    rows = []
    for cia_id, trigger, triggered, area, communities, subject, started, completed, risk in CIAS:
        if triggered > as_of:
            continue
        if completed is not None and completed <= as_of:
            status, done, overall = "complete", completed, risk
        elif started is not None and started <= as_of:
            status, done, overall = "in_progress", None, ""
        else:
            status, done, overall = "required", None, ""
        rows.append({"cia_id": cia_id, "trigger": trigger, "triggered_on": triggered, "area_code": area,
                     "community_types": communities, "subject": subject, "status": status,
                     "completed_on": done, "overall_risk": overall})
    return rows


def _risk_snapshot(as_of: date) -> list[dict]:
    rows = []
    for (risk_id, area, raised, description, heading, li, im, rli, rim, plan, owner, review,
         closed) in RISKS:
        if raised > as_of:
            continue
        rows.append({"risk_id": risk_id, "area_code": area, "raised_on": raised, "description": description,
                     "ppplem_heading": heading, "likelihood": str(li), "impact": str(im),
                     "residual_likelihood": "" if rli is None else str(rli),
                     "residual_impact": "" if rim is None else str(rim), "action_plan_ref": plan,
                     "owner_role": owner, "review_due": review,
                     "status": "closed" if closed is not None and closed <= as_of else "open"})
    return rows


# ----------------------------------------------------------------------------------------- writing

_ZIP_TIME = (2024, 7, 1, 9, 0, 0)


def _csv_bytes(columns: list[str], rows: list[dict], date_format, line_end: str = "\n",
               trailing_blank_rows: int = 0) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator=line_end)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([date_format(v) if isinstance(v, date) else ("" if v is None else v)
                         for v in (row.get(c, "") for c in columns)])
    for _ in range(trailing_blank_rows):
        writer.writerow([""] * len(columns))
    return buffer.getvalue().encode("utf-8")


def _xlsx_bytes(columns: list[str], rows: list[dict], created: datetime, sheet_title: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.writer.excel import ExcelWriter

    book = Workbook()
    sheet = book.active
    sheet.title = sheet_title
    sheet.append(columns)
    for row in rows:
        cells = []
        for c in columns:
            value = row.get(c, "")
            cells.append(None if value in ("", None) else value)
        sheet.append(cells)
    for col in sheet.iter_cols(min_row=2):
        for cell in col:
            if isinstance(cell.value, (date, datetime)):
                cell.number_format = "DD/MM/YYYY"
    book.properties.creator = COUNCIL_ORG
    book.properties.lastModifiedBy = COUNCIL_ORG
    book.properties.created = created
    book.properties.modified = created
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(book, archive).save()  # not save_workbook(): that stamps "modified" with the clock
    # Rewrite the archive with fixed entry timestamps so two runs give identical bytes.
    fixed = io.BytesIO()
    with zipfile.ZipFile(raw) as source, zipfile.ZipFile(fixed, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=_ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            target.writestr(entry, source.read(info.filename))
    return fixed.getvalue()


@dataclass(frozen=True)
class _File:
    extract_type: str
    name: str
    data: bytes
    arrives: datetime  # when the partner would send it: the ingest order and the file's mtime


def _utc(y: int, m: int, d: int, hour: int = 9) -> datetime:
    return datetime(y, m, d, hour, 0, 0, tzinfo=timezone.utc)


def _build_files() -> list[_File]:
    rng = random.Random(SEED)
    types = extract_types()
    files: list[_File] = []

    def columns(name: str) -> list[str]:
        return types[name].column_names

    # Police incidents, monthly.
    police = _police_rows(rng)
    cols = columns("incidents")
    for (year, month), rows in sorted(police.items()):
        nxt = _month_end(year, month) + timedelta(days=5)
        files.append(_File("incidents", f"{POLICE}_{year}-{month:02d}.csv", _csv_bytes(cols, rows, _iso),
                           _utc(nxt.year, nxt.month, nxt.day)))
        if (year, month) == (2024, 4):
            files.append(_File("incidents", f"{POLICE}_2024-04_corrected.csv",
                               _csv_bytes(cols, _police_corrected(rows), _iso), _utc(2024, 5, 20)))

    # Council incidents and tension reports, quarterly.
    council = _council_incidents(rng)
    for (year, quarter), rows in sorted(council.items()):
        _start, end = _quarter_bounds(year, quarter)
        arrives = end + timedelta(days=10)
        out = [dict(r, reported_on="" if r.get("reported_blank") else r["reported_on"]) for r in rows]
        name = f"{COUNCIL}_{year}-Q{quarter}"
        if (year, quarter) == (2023, 1):
            data = _xlsx_bytes(cols, out, datetime(2023, 4, 10, 9, 0, 0), "Incidents")
            files.append(_File("incidents", name + ".xlsx", data, _utc(arrives.year, arrives.month, arrives.day)))
        else:
            blank_rows = 2 if (year, quarter) == (2023, 3) else 0
            data = _csv_bytes(cols, out, _dmy, "\r\n", blank_rows)
            files.append(_File("incidents", name + ".csv", data, _utc(arrives.year, arrives.month, arrives.day)))
    reports = _tension_reports(rng)
    for (year, quarter), rows in sorted(reports.items()):
        _start, end = _quarter_bounds(year, quarter)
        arrives = end + timedelta(days=12)
        files.append(_File("tension_reports", f"{COUNCIL}_{year}-Q{quarter}.csv",
                           _csv_bytes(columns("tension_reports"), rows, _dmy, "\r\n"),
                           _utc(arrives.year, arrives.month, arrives.day)))

    # Tension group: assessments every two months, CIA log and risk register snapshots quarterly.
    for (year, month), rows in sorted(_assessments(rng).items()):
        arrives = _assessment_date(year, month) + timedelta(days=1)
        files.append(_File("tension_assessments", f"{GROUP}_{year}-{month:02d}.csv",
                           _csv_bytes(columns("tension_assessments"), rows, _iso),
                           _utc(arrives.year, arrives.month, arrives.day)))
    for year, quarter in _quarters():
        _start, end = _quarter_bounds(year, quarter)
        arrives = end + timedelta(days=7)
        files.append(_File("community_impact_assessments", f"{GROUP}_{year}-Q{quarter}.csv",
                           _csv_bytes(columns("community_impact_assessments"), _cia_snapshot(end), _iso),
                           _utc(arrives.year, arrives.month, arrives.day)))
        files.append(_File("risk_register", f"{GROUP}_{year}-Q{quarter}.csv",
                           _csv_bytes(columns("risk_register"), _risk_snapshot(end), _iso),
                           _utc(arrives.year, arrives.month, arrives.day, 10)))
    files.sort(key=lambda f: (f.arrives, f.extract_type, f.name))
    return files


def write_demo_extracts(landing_dir: Path) -> list[Path]:
    """Write the demo partner files to ``landing_dir/<extract_type>/<file name>``.

    Returns the paths in the order they should be ingested (the order the partners would send them: the
    original April 2024 police file before its correction). File modification times are set to the same
    fixed arrival times, so tools that order by mtime agree. Each file is written as the partner guide asks:
    under a temporary name, renamed when complete, then a ``<file>.done`` marker beside it.
    """
    landing_dir = Path(landing_dir)
    written: list[Path] = []
    for file in _build_files():
        folder = landing_dir / file.extract_type
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / file.name
        partial = path.with_name(path.name + ".part")
        partial.write_bytes(file.data)
        stamp = int(file.arrives.timestamp())
        os.utime(partial, (stamp, stamp))
        os.replace(partial, path)
        path.with_name(path.name + ".done").touch()
        written.append(path)
    return written


# -------------------------------------------------------------------------------------------- planted

PLANTED: dict = {
    "seed": SEED,
    "period": {"start": DEMO_START.isoformat(), "end": DEMO_END.isoformat()},
    "partners": {"police": POLICE, "council": COUNCIL, "tension_group": GROUP},
    "hate_spike": {
        "area_code": SPIKE_LSOA,
        "lsoa_name": "Newport 018C",
        "ward": "Pillgwenlly",
        "la_code": NEWPORT,
        "month": f"{SPIKE_MONTH[0]}-{SPIKE_MONTH[1]:02d}",
        "hate_strand": "race",
        "incident_types": ["hate_crime", "hate_incident"],
        "police_rows": SPIKE_POLICE_ROWS,
        "council_rows": SPIKE_COUNCIL_ROWS,
        "total_rows": SPIKE_POLICE_ROWS + SPIKE_COUNCIL_ROWS,
        "baseline_max_per_month": 1,
        "files": ["incidents/demo-gwent-police_2024-05.csv", "incidents/demo-newport-council_2024-Q2.csv"],
    },
    "rising_rating": {
        "area_code": NEWPORT,
        "community_type": "ethnic",
        "scale": "eep6",
        "current_grade": {k: v[0] for k, v in NEWPORT_ETHNIC.items()},
        "potential_grade": {k: v[1] for k, v in NEWPORT_ETHNIC.items()},
        "overall_current_grade": {k: v[0] for k, v in NEWPORT_ETHNIC.items()},
        "files": [f"tension_assessments/{GROUP}_{k}.csv" for k in NEWPORT_ETHNIC],
    },
    "cia_overdue": {
        "cia_id": "CIA-2024-001", "trigger": "rating", "area_code": NEWPORT,
        "community_types": ["ethnic", "overall"], "triggered_on": "2024-03-11", "status": "in_progress",
        "after_assessment": _assessment_date(2024, 3).isoformat(), "days_open_at_end": (DEMO_END - date(2024, 3, 11)).days,
    },
    "cia_completed_planned_event": {
        "cia_id": "CIA-2023-002", "trigger": "planned_event", "area_code": CITY_CENTRE_LSOA,
        "triggered_on": "2023-08-07", "completed_on": "2023-08-24", "overall_risk": "medium",
    },
    "cia_missing": {
        "area_code": TORFAEN, "community_type": "faith", "assessment_month": "2024-05",
        "assessment_date": _assessment_date(2024, 5).isoformat(), "scale": "eep6",
        "current_grade": TORFAEN_FAITH["2024-05"][0], "potential_grade": TORFAEN_FAITH["2024-05"][1],
    },
    "risk_without_action_plan": {
        "risk_id": "RISK-2024-002", "area_code": SPIKE_LSOA, "likelihood": 3, "impact": 3, "score": 9,
        "status": "open",
    },
    "personal_data": [
        PD_NAME, PD_PHONE, PD_EMAIL, PD_POSTCODE, PD_NINO, PD_VRM, PD_ADDRESS, PD_AREA_POSTCODE,
        PD_INCIDENT_NAME, PD_INCIDENT_PHONE, PD_RISK_NAME, PD_RISK_PHONE, PD_RATIONALE_NAME, PD_RATIONALE_PHONE,
    ],
    "personal_data_locations": {
        "tension_reports/demo-newport-council_2024-Q2.csv": {
            "information": [PD_NAME, PD_PHONE, PD_EMAIL, PD_POSTCODE, PD_NINO, PD_VRM, PD_ADDRESS],
            "area_description": [PD_AREA_POSTCODE],
        },
        "incidents/demo-newport-council_2024-Q2.csv": {"description": [PD_INCIDENT_NAME, PD_INCIDENT_PHONE]},
        "risk_register/demo-tension-group_2024-Q1.csv": {"description": [PD_RISK_NAME, PD_RISK_PHONE]},
        "risk_register/demo-tension-group_2024-Q2.csv": {"description": [PD_RISK_NAME, PD_RISK_PHONE]},
        "tension_assessments/demo-tension-group_2024-05.csv": {"rationale": [PD_RATIONALE_NAME, PD_RATIONALE_PHONE]},
    },
    "submitter_names": sorted([*SUBMITTERS, "Gareth Price"]),
    "corrected_file": {
        "extract_type": "incidents",
        "original": f"{POLICE}_2024-04.csv",
        "corrected": f"{POLICE}_2024-04_corrected.csv",
        "changed_ref": CORRECTED_CHANGED_REF,
        "changed_field": "incident_type",
        "changed_from": "asb",
        "changed_to": "public_order",
        "added_ref": CORRECTED_ADDED_REF,
    },
    "quirks": {
        "xlsx_with_date_cells": "incidents/demo-newport-council_2023-Q1.xlsx",
        "trailing_blank_rows": "incidents/demo-newport-council_2023-Q3.csv",
        "dd_mm_yyyy_dates_partner": COUNCIL,
        "lsoa11_codes_until": "2023-03",
    },
}

__all__ = ["DEMO_END", "DEMO_START", "PLANTED", "write_demo_extracts"]
