"""Welsh and English for the monitoring pack: one message catalogue (gettext, edited as a .po file) for every
fixed string, Welsh area names from the geography, Welsh number and date formats (Babel ``cy_GB``).

Councils in Wales publish in both languages, so the Welsh pack is built the same way as the English one: the
templates and this module mark every fixed string with ``_()`` / ``N_()`` (``babel.cfg`` says where to look;
``pybabel extract -F babel.cfg -o messages.pot .`` lists them), and ``locale/cy/LC_MESSAGES/messages.po``
holds the Welsh. ``tests/test_pack_i18n.py`` fails when a marked string, or a label from the seeds the pack
shows, has no Welsh.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from pathlib import Path

from babel.dates import format_date
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
PO_PATH = LOCALE_DIR / "cy" / "LC_MESSAGES" / "messages.po"
BABEL_LOCALES = {"en": "en_GB", "cy": "cy_GB"}


def N_(message: str) -> str:
    """Mark a string for the catalogue without translating it here (it is translated where it is shown)."""
    return message


# Coded values the marts carry, and the words the pack shows for them (English msgids; Welsh in the .po).
LABELS: dict[str, dict[str, str]] = {
    "community_type": {
        "ethnic": N_("Ethnic"), "faith": N_("Faith or religious"), "new_arrivals": N_("New arrivals"),
        "generational": N_("Generational groups"), "socio_economic": N_("Socio-economic groups"),
        "lgbt": N_("LGBT communities"), "gypsies_travellers": N_("Gypsies and Travellers"),
        "language": N_("Language groups"), "overall": N_("Overall assessment"),
    },
    "trend": {"rising": N_("rising"), "falling": N_("falling"), "static": N_("static")},
    "level4": {"high": N_("High"), "medium": N_("Medium"), "low": N_("Low"), "none": N_("No tensions")},
    "eep": {"1": N_("Imminent"), "2": N_("High"), "3": N_("Moderate (high)"), "4": N_("Moderate (low)"),
            "5": N_("Raised"), "6": N_("Normal")},
    "risk_level": {"low": N_("Low risk"), "medium": N_("Medium risk"), "high": N_("High risk")},
    "next_step": {
        "low": N_("Keep monitoring"),
        "medium": N_("Report to Gold and engage Bronze on prevention"),
        "high": N_("Relay to Gold at once for a strategic response"),
    },
    "cia_reason": {"missing": N_("Required but missing"), "overdue": N_("Overdue"), "late": N_("Completed late")},
    "cia_trigger": {"rating": N_("Rating of 1–4"), "incident": N_("Incident"), "planned_event": N_("Planned event")},
    "cia_status": {"required": N_("Required"), "in_progress": N_("In progress"), "complete": N_("Complete"),
                   "missing": N_("Missing")},
    "ppplem": {"physical": N_("Physical"), "police": N_("Police / organisational"),
               "psychological": N_("Psychological"), "legal": N_("Legal"), "economic": N_("Economic"),
               "moral": N_("Moral")},
    "hate_strand": {"race": N_("Race or ethnicity"), "religion": N_("Religion or belief"),
                    "sexual_orientation": N_("Sexual orientation"), "disability": N_("Disability"),
                    "transgender": N_("Transgender identity"), "alternative_subculture": N_("Alternative subculture")},
    "incident_group": {"hate": N_("Hate crimes and hate incidents"),
                       "asb": N_("Anti-social behaviour, public order, noise and neighbour disputes"),
                       "damage": N_("Criminal damage, offensive graffiti and deliberate fires"),
                       "other": N_("Other incidents"), "all": N_("All incidents")},
    "volume_level": {"raised": N_("Raised"), "substantially_raised": N_("Substantially raised")},
    "disagreement": {"group_lower": N_("The group rates lower tension than the evidence suggests"),
                     "group_higher": N_("The group rates higher tension than the evidence suggests")},
    "crime_group": {"all_crime": N_("All recorded crime"), "violence_sexual": N_("Violence and sexual offences"),
                    "asb": N_("Anti-social behaviour"), "public_order": N_("Public order offences")},
    "factor": {"age": N_("Age"), "ethnicity": N_("Ethnicity, country of birth and language"),
               "migration": N_("Migration"), "economic_disadvantage": N_("Economic disadvantage"),
               "crime": N_("Crime"), "education": N_("Education"), "occupation": N_("Occupation"),
               "disability": N_("Disability"), "local_extra": N_("Local indicators")},
    "collection": {"census": N_("Census count"), "count": N_("Administrative or recorded count"),
                   "survey": N_("Sample survey estimate"), "model": N_("Modelled estimate"),
                   "index": N_("Composite index"), "election": N_("Election results")},
    "level": {"lsoa": N_("LSOA"), "lsoa21": N_("LSOA"), "ward": N_("Ward"), "msoa": N_("MSOA"), "la": N_("Local authority"),
              "police_force": N_("Police force area"), "wales": N_("Wales")},
    "reason": {"rapid_change": N_("Rapid change"), "worse_than_benchmark": N_("Worse than benchmark")},
    "direction": {"worsening": N_("worsening"), "improving": N_("improving"), "increase": N_("increase"),
                  "decrease": N_("decrease"), "worse": N_("worse"), "rising": N_("rising"), "falling": N_("falling")},
    "comparison": {"previous_period": N_("previous period"), "year_earlier": N_("a year earlier"),
                   "force_adjusted": N_("previous four quarters, force-adjusted")},
    "benchmark_type": {"wales": N_("Wales"), "la": N_("local authority"), "similar_areas": N_("similar areas")},
    "tension_category": {
        "political": N_("Political"), "community": N_("Community"),
        "immigration": N_("Immigration, asylum seekers and refugees"), "racial_religious": N_("Racial and religious"),
        "criminal": N_("Criminal"), "national_international": N_("National and international"),
        "future": N_("Future (planned events, anniversaries)"), "organisational_capacity": N_("Organisational capacity"),
    },
    "extract_type": {"tension_assessments": N_("tension assessments"), "incidents": N_("incidents"),
                     "tension_reports": N_("tension report forms"),
                     "community_impact_assessments": N_("Community Impact Assessment log"),
                     "risk_register": N_("risk register")},
    "tier": {"gold_silver": N_("Gold and Silver"), "bronze": N_("Bronze and partner agencies"),
             "summary": N_("Summary (restricted circulation)")},
    "marking": {"OFFICIAL-SENSITIVE": N_("OFFICIAL-SENSITIVE"), "OFFICIAL": N_("OFFICIAL")},
    "section": {"tension": N_("Tension summary"), "action": N_("What needs action"), "evidence": N_("Evidence"),
                "cohesion": N_("Cohesion indicators"), "crime": N_("Crime and ASB"), "forward": N_("Looking forward")},
    "unit": {"percent": N_("%"), "per_1000_person_years": N_("per 1,000 person-years"),
             "per_1000": N_("per 1,000"), "ratio": N_("ratio"), "index": N_("index"), "score": N_("score"),
             "gbp": N_("£"), "years": N_("years")},
}


@functools.lru_cache(maxsize=1)
def _welsh_catalogue() -> dict[str, str]:
    with open(PO_PATH, "rb") as fh:
        catalog = read_po(fh, locale="cy")
    out = {}
    for message in catalog:
        if not message.id or message.fuzzy:
            continue
        msgid = message.id if isinstance(message.id, str) else message.id[0]
        msgstr = message.string if isinstance(message.string, str) else (message.string[0] if message.string else "")
        if msgstr:
            out[msgid] = msgstr
    return out


def welsh_catalogue() -> dict[str, str]:
    return dict(_welsh_catalogue())


class Lang:
    """Everything language-dependent the templates need, for 'en' or 'cy'."""

    def __init__(self, code: str):
        if code not in BABEL_LOCALES:
            raise ValueError(f"language {code!r}: expected one of {', '.join(BABEL_LOCALES)}")
        self.code = code
        self.locale = BABEL_LOCALES[code]
        self._messages = _welsh_catalogue() if code == "cy" else {}
        self.missing: set[str] = set()

    # -- messages
    def gettext(self, message: str, **values) -> str:
        text = message
        if self.code == "cy":
            text = self._messages.get(message)
            if text is None:
                self.missing.add(message)
                text = message
        return text % values if values else text

    def label(self, kind: str, code) -> str:
        if code is None:
            return "—"
        english = LABELS[kind].get(str(code))
        if english is None:
            return str(code)
        return self.gettext(english)

    def text(self, english: str | None) -> str:
        """A label that comes from reference data (e.g. an indicator's name in the catalogue)."""
        return "—" if english is None else self.gettext(english)

    # -- names
    def name(self, area: dict | None) -> str:
        if not area:
            return "—"
        return (area.get("name_cy") if self.code == "cy" else area.get("name")) or area.get("name") or area.get("code") or "—"

    # -- numbers and dates
    def num(self, value, digits: int = 1) -> str:
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return "—"
        pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
        return format_decimal(value, pattern, locale=self.locale)

    def int(self, value) -> str:
        return self.num(value, 0)

    def p(self, value) -> str:
        """A probability: 2 significant figures, '< 0.0001' below that."""
        if value is None:
            return "—"
        if value < 0.0001:
            return "< " + format_decimal(0.0001, "0.0000", locale=self.locale)
        digits = max(2, -math.floor(math.log10(value)) + 1) if value > 0 else 2
        return format_decimal(value, "0." + "0" * min(digits, 4), locale=self.locale)

    def ratio(self, value) -> str:
        return "—" if value is None else "×" + self.num(value, 2)

    def date(self, value, fmt: str = "d MMMM y") -> str:
        if value is None:
            return "—"
        if isinstance(value, str):
            value = dt.date.fromisoformat(value[:10])
        return format_date(value, fmt, locale=self.locale)

    def month(self, value) -> str:
        return self.date(value, "LLLL y")

    def quarter(self, key: str, long: bool = False) -> str:
        year, q = key.split("-Q")
        first, last = dt.date(int(year), 3 * int(q) - 2, 1), dt.date(int(year), 3 * int(q), 1)
        if self.code == "cy":
            short = self.gettext("Q%(q)s %(year)s", q=q, year=year)
        else:
            short = f"{year} Q{q}"
        if not long:
            return short
        return f"{short} ({self.date(first, 'LLLL')}–{self.date(last, 'LLLL y')})"

    def period(self, label: str | None) -> str:
        """A period label of the marts (fct_indicator_value.period_label) in this language."""
        if not label:
            return "—"
        if m := re.fullmatch(r"(\d{4}) Q([1-4])", label):
            return self.quarter(f"{m[1]}-Q{m[2]}")
        if m := re.fullmatch(r"Census (\d{4})", label):
            return self.gettext("Census %(year)s", year=m[1])
        if m := re.fullmatch(r"Mid-(\d{4})", label):
            return self.gettext("Mid-%(year)s", year=m[1])
        if m := re.fullmatch(r"WIMD (\d{4})", label):
            return self.gettext("WIMD %(year)s", year=m[1])
        if m := re.fullmatch(r"(\d{4})-(\d{2})-\d{2}/P1Y", label):
            year = int(m[1])
            return m[1] if m[2] == "01" else f"{year}-{(year + 1) % 100:02d}"
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", label):
            return self.date(label)
        return label

    def quarter_short(self, key: str) -> str:
        """For chart axes: 'Q2 24' style, no words."""
        year, q = key.split("-Q")
        return f"{year[2:]}/{q}" if self.code == "cy" else f"{year[2:]} Q{q}"
