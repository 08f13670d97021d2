"""Words and numbers for the atlas in Welsh and English: the pack's ``Lang`` (one message catalogue,
``orchestration/lib/pack/locale/cy/LC_MESSAGES/messages.po``) plus what the atlas shows that the pack does not:
units, intervals, changes, the exception engine's verdicts, period labels of 12-month windows, Welsh LSOA and
MSOA names, and the marts' explanatory notes read in Welsh.

The marts write their notes (comparison_note, change_note) in English from a handful of fixed patterns; here each
pattern is matched and re-said through the catalogue with its numbers formatted for the language. A note that
matches no pattern is shown as it is, marked ``lang="en"``, and recorded in ``Lang.untranslated`` so a build (and
its tests) can see it. The catalogue's long ``caveats`` and ``definition`` are not translated: Welsh pages show
the structured limits (how collected, lowest reliable level, status) in Welsh and the source's own notes in
English, marked as such.

No Dagster imports.
"""

from __future__ import annotations

import functools
import math
import re
from decimal import ROUND_HALF_EVEN, Decimal

from babel.numbers import get_decimal_symbol, get_group_symbol
from markupsafe import Markup, escape

from orchestration.lib.pack.i18n import LABELS, Lang, N_

# Digits shown per unit (the marts keep full precision; downloads carry it).
DIGITS = {"percent": 1, "rank_share_percent": 1, "per_1000_person_years": 1, "per_million_person_years": 1, "gbp": 0,
          "ratio": 2, "score": 2}

ASSESSMENTS: dict[str, str] = {
    "better": N_("Better"), "worse": N_("Worse"), "similar": N_("Similar"), "higher": N_("Higher"),
    "lower": N_("Lower"), "not compared": N_("Not compared"), "suppressed": N_("Suppressed"),
}
DIRECTIONS: dict[str, str] = {
    "worsening": N_("worsening"), "improving": N_("improving"), "rapid increase": N_("rapid increase"),
    "rapid decrease": N_("rapid decrease"), "significant but below threshold": N_("significant but below threshold"),
    "no significant change": N_("no significant change"), "not tested": N_("not tested"),
    "series break": N_("series break"),
}
# mart_cohesion_profile.change_verdict: the exception engine's verdict on the change since the benchmark
CHANGE_VERDICTS: dict[str, str] = {
    "significant rise": N_("Significant rise"), "significant fall": N_("Significant fall"),
    "significant but below threshold": N_("Significant but smaller than the materiality threshold"),
    "no significant change": N_("No significant change"), "not tested": N_("Not tested"),
    "series break": N_("Series break"), "not compared": N_("Not compared"),
}
# why the engine ran no test (change_test_method / fct_indicator_change.test_method 'not tested: …'); the minimum
# count is the engine's (%(n)s)
NOT_TESTED: dict[str, str] = {
    "fewer than {n} events in the two periods": N_("fewer than %(n)s events in the two periods"),
    "fewer than {n} in a cell": N_("fewer than %(n)s people counted, or not counted, in one of the periods"),
    "no interval for a figure": N_("a figure has no 95%% interval"),
    "the source calls a figure unreliable": N_("the source flags a figure as unreliable"),
    "series break": N_("series break"),
}
NOT_TESTED_ESTIMATED = N_("a figure is estimated across the 2011 to 2021 LSOA boundary change, not counted")
POLARITY: dict[str, str] = {
    "risk": N_("A rise is a risk to cohesion"), "protective": N_("A rise is good for cohesion"),
    "context": N_("Context: no direction is good or bad"),
}
STATUS: dict[str, str] = {
    "actual": N_("computed from counts"), "published": N_("as published"), "estimated": N_("estimated across a boundary change"),
    "unreliable": N_("the source flags it as unreliable"), "suppressed": N_("suppressed (small count)"),
}
URBAN_RURAL = {"Urban": N_("Urban"), "Rural": N_("Rural")}
FACTORS: tuple[str, ...] = tuple(LABELS["factor"])
FREQUENCY = {"annual": N_("annual"), "quarterly": N_("quarterly"), "monthly": N_("monthly"),
             "decennial": N_("every ten years"), "irregular": N_("irregular"), "periodic": N_("periodic")}


class AtlasLang(Lang):
    """``Lang`` with the atlas's formats. ``untranslated`` collects data notes shown in English on a Welsh page."""

    def __init__(self, code: str):
        super().__init__(code)
        self.untranslated: set[str] = set()

    def num(self, value, digits: int = 1) -> str:
        """As ``Lang.num`` (Babel's pattern #,##0.0…, half-even rounding of the decimal value) without Babel's
        per-call pattern parsing: the atlas formats half a million numbers."""
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return "—"
        q = Decimal(str(value)).quantize(_QUANTUM[digits] if digits in _QUANTUM else Decimal(1).scaleb(-digits),
                                         rounding=ROUND_HALF_EVEN)
        text = f"{q:,f}"
        if text.startswith("-") and not q:
            text = text[1:]
        return text.translate(_separators(self.locale))

    @property
    def other(self) -> str:
        return "cy" if self.code == "en" else "en"

    # -- values
    def value(self, v, unit: str | None, digits: int | None = None) -> str:
        """A figure in its unit: 20.2%, £21,345, 4.56, 116.0 (rates: the unit is said in the heading)."""
        if v is None or (isinstance(v, float) and not math.isfinite(v)):
            return "—"
        d = DIGITS.get(unit or "", 1) if digits is None else digits
        text = self.num(v, d)
        if unit in ("percent", "rank_share_percent"):
            return text + "%"
        if unit == "gbp":
            return ("−£" + self.num(-v, d)) if v < 0 else "£" + text
        return text.replace("-", "−")

    def interval(self, lci, uci, unit: str | None) -> str:
        if lci is None or uci is None:
            return "—"
        return f"{self.value(lci, unit)} – {self.value(uci, unit)}"

    def change(self, v, unit: str | None) -> str:
        """A signed change in the indicator's unit (percentage points for percentages)."""
        if v is None:
            return "—"
        d = DIGITS.get(unit or "", 1)
        sign = "+" if v > 0 else ("−" if v < 0 else "±")
        magnitude = self.num(abs(v), d)
        if unit in ("percent", "rank_share_percent"):
            return self.gettext("%(n)s percentage points", n=sign + magnitude)
        if unit == "gbp":
            return f"{sign}£{magnitude}"
        return sign + magnitude

    def change_interval(self, lci, uci, unit: str | None) -> str:
        """A change's 95% interval, signed: '−0.8 to +0.1 percentage points', '+12.6 to +17.1'."""
        if lci is None or uci is None:
            return "—"
        d = DIGITS.get(unit or "", 1)

        def signed(v):
            sign = "+" if v > 0 else ("−" if v < 0 else "±")
            return sign + ("£" if unit == "gbp" else "") + self.num(abs(v), d)

        text = self.gettext("%(low)s to %(high)s", low=signed(lci), high=signed(uci))
        if unit in ("percent", "rank_share_percent"):
            return self.gettext("%(n)s percentage points", n=text)
        return text

    def unit(self, unit: str | None) -> str:
        """The unit in words, for headings and axis notes."""
        return {
            "percent": self.gettext("per cent"),
            "rank_share_percent": self.gettext("per cent of LSOAs"),
            "per_1000_person_years": self.gettext("per 1,000 residents a year"),
            "per_million_person_years": self.gettext("per million residents a year"),
            "gbp": self.gettext("pounds per head"),
            "ratio": self.gettext("ratio"),
            "score": self.gettext("score"),
        }.get(unit or "", unit or "")

    def assessment(self, code: str | None) -> str:
        return self.gettext(ASSESSMENTS.get(code or "not compared", ASSESSMENTS["not compared"]))

    def change_verdict(self, code: str | None, test_method: str | None = None, q_value=None) -> str:
        """mart_cohesion_profile.change_verdict in words: 'Significant rise (q < 0.0001)', 'No significant change
        (q = 0.26)', 'Not tested: fewer than 10 events in the two periods', 'Series break'."""
        text = self.gettext(CHANGE_VERDICTS.get(code or "not compared", CHANGE_VERDICTS["not compared"]))
        if code == "not tested" and test_method:
            return text + ": " + self.not_tested(test_method)
        if q_value is not None and code in ("significant rise", "significant fall", "significant but below threshold",
                                            "no significant change"):
            q = self.p(q_value)
            return text + " (q " + (q if q.startswith("<") else "= " + q) + ")"
        return text

    def not_tested(self, test_method: str) -> str:
        """Why the engine ran no test ('not tested: fewer than 10 events in the two periods'), in this language."""
        reason = re.sub(r"^not tested: ", "", test_method)
        if reason.startswith("a figure is estimated"):
            return self.gettext(NOT_TESTED_ESTIMATED)
        m = re.search(r"\b(\d+)\b", reason)
        key = re.sub(r"\b\d+\b", "{n}", reason, count=1) if m else reason
        if key in NOT_TESTED:
            return self.gettext(NOT_TESTED[key], n=self.int(int(m[1])) if m else "")
        return self.english(reason)

    def direction(self, code: str | None) -> str:
        return self.gettext(DIRECTIONS[code]) if code in DIRECTIONS else (code or "—")

    def polarity(self, code: str | None) -> str:
        return self.gettext(POLARITY[code]) if code in POLARITY else "—"

    def status(self, code: str | None) -> str:
        return self.gettext(STATUS[code]) if code in STATUS else (code or "—")

    def urban_rural(self, code: str | None) -> str:
        return self.gettext(URBAN_RURAL[code]) if code in URBAN_RURAL else "—"

    def frequency(self, code: str | None) -> str:
        return self.gettext(FREQUENCY[code]) if code in FREQUENCY else "—"

    def factor(self, code: str) -> str:
        return self.label("factor", code)

    def level(self, code: str) -> str:
        return self.label("level", code)

    # -- periods
    def period(self, label: str | None) -> str:
        if not label:
            return "—"
        if m := re.fullmatch(r"12 months to (\d{4}-\d{2}-\d{2})", label):
            return self.gettext("12 months to %(date)s", date=self.date(m[1]))
        if m := re.fullmatch(r"(\d{4})-(\d{2})-\d{2}/P([2-9])Y", label):
            year, n = int(m[1]), int(m[3])
            if m[2] == "01":
                first, last = str(year), str(year + n - 1)
            else:
                first, last = f"{year}-{(year + 1) % 100:02d}", f"{year + n - 1}-{(year + n) % 100:02d}"
            return self.gettext("%(first)s to %(last)s", first=first, last=last)
        return super().period(label)

    def period_short(self, label: str | None) -> str:
        """For chart axes: quarters as '22 Q1', everything else as period()."""
        if label and (m := re.fullmatch(r"(\d{4}) Q([1-4])", label)):
            return self.quarter_short(f"{m[1]}-Q{m[2]}")
        if label and (m := re.fullmatch(r"(\d{4})-(\d{2})-\d{2}", label)):
            return m[1] if m[2] == "01" else self.date(label, "LLL y")
        if label and (m := re.fullmatch(r"12 months to (\d{4}-\d{2}-\d{2})", label)):
            return self.date(m[1], "LLL y")
        return self.period(label)

    # -- names
    def area_name(self, row: dict, prefix: str = "") -> str:
        """``row[prefix+'name']`` or, in Welsh, ``row[prefix+'name_cy']`` when there is one."""
        if self.code == "cy" and row.get(prefix + "name_cy"):
            return row[prefix + "name_cy"]
        return row.get(prefix + "name") or row.get(prefix + "code") or "—"

    # -- data notes
    def english(self, text: str) -> Markup:
        """Data text with no Welsh: shown as it is, marked as English (recorded on a Welsh page)."""
        if self.code == "cy":
            self.untranslated.add(text)
            return Markup('<span lang="en">%s</span>') % text
        return escape(text)

    def comparison_note(self, note: str | None, unit: str | None) -> Markup:
        """mart_cohesion_profile / fct_indicator_benchmark comparison_note, in this language, without the leading
        verdict ('similar: ', 'not compared: ') that the page already shows beside it."""
        if not note:
            return Markup("")
        parts = []
        for part in note.split("; "):
            text = self._comparison_part(part.strip(), unit)
            if re.match(r"(similar|not compared): ", part.strip()) and ": " in text and not text.startswith("<"):
                text = Markup(text.split(": ", 1)[1])
            parts.append(text)
        return Markup("; ").join(parts)

    def _comparison_part(self, part: str, unit: str | None) -> Markup:
        _ = self.gettext
        if m := re.fullmatch(r"similar: the interval excludes the benchmark but the difference \((-?[0-9.e+-]+)\) is "
                             r"below the materiality threshold \((-?[0-9.e+-]+)\)", part):
            return escape(_("similar: the 95 per cent interval excludes the benchmark, but the difference "
                            "(%(difference)s) is smaller than the materiality threshold (%(threshold)s)",
                            difference=self.change(float(m[1]), unit), threshold=self.value(float(m[2]), unit)))
        known = {
            "not age-standardised: areas with older populations score higher, so the comparison partly reflects age":
                N_("not age-standardised: areas with older populations score higher, so the comparison partly "
                   "reflects age"),
            "not compared: no 95% interval (none published, or a complete count such as a share of areas)":
                N_("not compared: no 95% interval (none published, or a complete count such as a share of areas)"),
            "not compared: the source flags this figure as unreliable (e.g. an APS estimate on a small sample)":
                N_("not compared: the source flags this figure as unreliable (e.g. an APS estimate on a small sample)"),
            "not compared: no benchmark value for the period": N_("not compared: no benchmark value for the period"),
        }
        if part in known:
            return escape(_(known[part]))
        return self.english(part)

    def change_note(self, note: str | None) -> Markup:
        """mart_cohesion_profile.change_note, in this language."""
        if not note:
            return Markup("")
        _ = self.gettext
        if m := re.fullmatch(r"change withheld: series break \((.+?) → (.+?)\): (.*)", note, flags=re.S):
            return escape(_("Change withheld: series break (%(before)s → %(after)s). %(reason)s",
                            before=self.period(m[1]), after=self.period(m[2]), reason=self.reason(m[3])))
        if m := re.fullmatch(r"benchmark is the first period of the current series; figures to (.+?) belong to an "
                             r"earlier series and are not compared: (.*)", note, flags=re.S):
            return escape(_("The benchmark is the first period of the current series; figures up to %(period)s belong "
                            "to an earlier series and are not compared. %(reason)s",
                            period=self.period(m[1]), reason=self.reason(m[2])))
        known = {
            "first year in this series is the benchmark: later years will show change":
                N_("This is the first year in the series, so it is the benchmark: later years will show change."),
            "change withheld: the source flags the benchmark or latest figure as unreliable":
                N_("Change withheld: the source flags the benchmark or the latest figure as unreliable."),
        }
        if note in known:
            return escape(_(known[note]))
        return self.english(note)

    def _welsh_or_english(self, text: str) -> str | Markup:
        if self.code == "cy":
            return self._messages.get(text) or self.english(text)
        return text

    def reason(self, text: str | None) -> str | Markup:
        """A series-break reason (seed indicator_series_breaks): Welsh from the catalogue when it has it."""
        return self._welsh_or_english(text) if text else ""

    def data_text(self, text: str | None) -> str | Markup:
        """Short reference text from the marts (community profile measures, universes, sources): Welsh from the
        catalogue, else shown in English and recorded."""
        return self._welsh_or_english(text) if text else "—"


_QUANTUM = {d: Decimal(1).scaleb(-d) for d in range(0, 7)}


@functools.lru_cache(maxsize=4)
def _separators(locale: str) -> dict[int, str]:
    return str.maketrans({",": get_group_symbol(locale), ".": get_decimal_symbol(locale)})
