"""Redaction of personal data in partner free text (Part 3 of the guide). Plain Python, stdlib only.

Every free-text value of a partner extract (tension report information, incident description,
assessment rationale, risk description, role fields, ...) goes through :func:`redact` before it
reaches the warehouse. Text may be English or Welsh (UTF-8: â ê î ô û ŵ ŷ, curly apostrophes).

What is replaced, in this order (``KINDS``), each by a fixed token:

========== ================= =====================================================================
kind        token             what
========== ================= =====================================================================
email       ``[email]``       any e-mail address (sub-domains, plus-addressing, any case)
ni_number   ``[NI number]``   National Insurance numbers (any two letters, six digits, suffix A-D)
vehicle_reg ``[vehicle reg]`` UK registrations: current (AB12 CDE), prefix (A123 BCD), suffix
                              (ABC 123D)
postcode    ``[postcode]``    full UK postcodes (NP20 1AB, np201ab); outward codes alone are kept
phone       ``[phone]``       UK phone numbers (07..., 01/02/03..., 0800, +44 / 0044, "(0)")
address     ``[address]``     house number + street ("12 High Street", "4a Heol y Bont",
                              "Flat 3, 27 Commercial Road")
name        ``[name]``        the name after a title ("Mr John Smith" -> "Mr [name]"); the title
                              is kept
========== ================= =====================================================================

The order matters: e-mail addresses go first (their local part can look like a name or a number),
NI numbers and registrations before postcodes, street addresses before names ("12 Sir Alfred Road").
Each kind is matched on the text with the spans already found masked out, so one item is never
counted twice and positions refer to the original text.

Limits, on purpose:

- A name *without* a title ("John Smith said ...") cannot be told apart from a place, an
  organisation or the start of a sentence by a pattern, so it is not caught. Partners are asked not
  to name people; the submitter fields of the tension report form (name, e-mail, phone) are not
  redacted but dropped entirely before the warehouse (store.py).
- Operational identifiers are kept: LSOA / ward / local-authority codes (W01001524, W05001039,
  W06000022), incident references (INC-2024-000123, GP/24/001234), dates, times, money, counts and
  outward-only postcodes ("NP20").
- The patterns prefer catching too much to too little where the two conflict (a number before a
  capitalised "... Road" is taken to be an address even in "over 20 High Street traders").

:func:`find_personal_data` uses the same patterns; the data-quality checks run it over the
warehouse's redacted text to prove nothing slipped through (it must return ``[]`` there).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# --- building blocks --------------------------------------------------------------------------------

# Upper-case letters, including the accented ones of Welsh and other Latin-script names (Â Ê Î Ô Û Ŵ Ŷ
# É Ö Ł ...). Python's re has no "upper-case letter" class, so it is spelled out from Latin-1 and
# Latin Extended-A.
_UPPER = "A-Z" + "".join(ch for ch in map(chr, range(0xC0, 0x180)) if ch.isupper())
_LETTER = r"[^\W\d_]"  # any Unicode letter
_SP = r"[ \t\u00a0]"  # horizontal white space only: an item never spans a line break
_APOS = "'\u2019"  # straight and curly apostrophes

# A capitalised word: "High", "Siân", "Ŵyn-Jones", "O'Brien", "O’Neill", "McDonald", "MacLeod".
_CAP_WORD = rf"[{_UPPER}](?:[{_APOS}][{_UPPER}])?{_LETTER}*(?:-{_LETTER}+)*"

# Three-letter words that are never taken as the letters of a registration ("NP20 and NP19",
# "FY24 the", "A48 AND A470").
_COMMON_3 = (
    "and|the|for|not|but|nor|yet|was|are|has|had|its|our|you|who|why|how|now|all|any|can|did|get|"
    "got|her|him|his|may|new|old|one|two|six|ten|out|own|saw|say|see|she|too|use|way|off|per|via|"
    "ago|etc|arr|dep|inc|ref|est|min|max|avg|tot"
)


def _alternation(words: list[str]) -> str:
    """Longest first, so "PCSO" is tried before "PC" and "Revd" before "Rev"."""
    return "|".join(sorted(set(words), key=lambda w: (-len(w), w)))


# --- one pattern per kind ---------------------------------------------------------------------------

# email: local part (letters, digits, . _ % + -, so plus-addressing), "@", one or more domain labels
# and a top-level domain of 2+ letters. A full stop ending a sentence is not part of the address.
_EMAIL = re.compile(
    r"(?<![\w.%+-])[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}(?![\w-])",
    re.IGNORECASE,
)

# ni_number: two letters, six digits optionally grouped in pairs, suffix A-D; any case, spaces or
# dashes between the groups. Any two letters, not only HMRC's valid prefixes: a mistyped, temporary
# or example number (QQ 12 34 56 C) is still about a person, and privacy wins over precision here.
_NI_NUMBER = re.compile(
    r"(?<![\w])[A-Z]{2}[ -]?\d{2}[ -]?\d{2}[ -]?\d{2}[ -]?[A-D](?![\w])",
    re.IGNORECASE,
)

# vehicle_reg, three formats. Letters must be all upper case or (current format only) all lower case,
# so an outward postcode or "FY24" before an ordinary word ("NP20 and NP19") is not a registration,
# and three-letter words in _COMMON_3 are never the letters (the price: a real "AB12 AND" is missed);
# numbers of the older formats never start with 0, which keeps LSOA names ("RCT 012A") out.
#   current (2001-):  AB12 CDE - area letters (no I Q Z), two-digit age, three letters (no I Q)
#   prefix (1983-2001): A123 BCD - age letter, 1-3 digits, three letters (road numbers have no letters
#                      after them, and 4-digit roads such as A4042 cannot match)
#   suffix (1963-1983): ABC 123D - three letters, 1-3 digits, age letter
_VEHICLE_REG = re.compile(
    rf"(?<![\w])(?:"
    rf"[A-HJ-PR-Y]{{2}}\d{{2}}{_SP}?(?!(?i:{_COMMON_3})\b)[A-HJ-PR-Z]{{3}}"
    rf"|[a-hj-pr-y]{{2}}\d{{2}}{_SP}?(?!(?i:{_COMMON_3})\b)[a-hj-pr-z]{{3}}"
    rf"|[A-HJ-NPR-Y][1-9]\d{{0,2}}{_SP}?(?!(?i:{_COMMON_3})\b)[A-Z]{{3}}"
    rf"|(?!(?i:{_COMMON_3})\b)[A-Z]{{3}}{_SP}?[1-9]\d{{0,2}}[A-HJ-NPR-Y]"
    rf")(?![\w])"
)

# postcode: a full postcode - outward code (A9, A99, A9A, AA9, AA99, AA9A), optional space, inward code
# (digit + two letters, never C I K M O V). All upper or all lower case, so "A4 2nd" or "M4 3rd" are
# not postcodes. An outward code alone ("NP20") is an area, not personal data, and is kept.
_POSTCODE = re.compile(
    rf"(?<![\w])(?:"
    rf"[A-Z]{{1,2}}\d[A-Z\d]?{_SP}?\d[ABD-HJLNP-UW-Z]{{2}}"
    rf"|[a-z]{{1,2}}\d[a-z\d]?{_SP}?\d[abd-hjlnp-uw-z]{{2}}"
    rf")(?![\w])"
)

# phone: UK numbers - a trunk "0" (optionally bracketed: "(01633) 123 456") or +44 / 0044 with an
# optional "(0)", then 9 or 10 more digits, single spaces, dashes, dots or a closing bracket allowed
# between digits. Not preceded by a letter, digit, "/" or "£", nor by "-", "," or "." after a digit;
# not a dd-mm-yyyy date (the same separator twice: "01-05-2024 10:00"); not continued by ":" and a
# digit, nor by more digits glued on with "-", "." or nothing. So dates (2024-05-01, 01/05/2024,
# 01.05.2024), times, codes (W01001524), references (INC-2024-000123, GP/24/001234), money (£1,250)
# and counts are never phones.
_PHONE = re.compile(
    r"(?<![\w/£+])(?<!\w[,-])(?<!\d\.)"
    r"(?!\d{1,2}([./-])\d{1,2}\1\d{2,4}(?!\d))"
    r"(?:"
    r"(?:\+|\b00)44[ .-]?(?:\(0\)[ .-]?)?[1-9](?:\)?[ .-]?\d){8,9}"
    r"|\(?0[1-9](?:\)?[ .-]?\d){8,9}"
    r")"
    r"(?![\w/]|:\d|[.-]?\d)"
)

# address: an optional flat / unit ("Flat 3, "), a house number (12, 4a, 12-14), then either up to
# three capitalised words and an English street word ("12 High Street", "27 Commercial Road") or a
# Welsh street word followed by one to three words, with y / yr / 'r between them ("4a Heol y Bont",
# "15 Ffordd Las", "1 Rhodfa'r Môr"). Words must be capitalised, so "12 incidents in the high street"
# is not an address; house numbers have at most three digits, so years ("In 2023 Cardiff Road") are not.
_STREET = (
    "Street|St|Road|Rd|Avenue|Ave|Lane|Close|Drive|Court|Crescent|Terrace|Way|Place|Gardens|Grove|"
    "Hill|View|Walk|Square|Row|Parade|Mews"
)
_WELSH_STREET = "Heol|Ffordd|Stryd|Lôn|Lon|Rhodfa|Cilgant|Teras|Clos"
_HOUSE_NUMBER = r"\d{1,3}[A-Za-z]?(?:[-\u2013]\d{1,3}[A-Za-z]?)?"
_ADDRESS = re.compile(
    rf"(?<![\w£$.,/:-])"
    rf"(?:(?:Flat|Fflat|Apartment|Apt|Unit){_SP}+{_HOUSE_NUMBER},?{_SP}+)?"
    rf"{_HOUSE_NUMBER},?{_SP}+"
    rf"(?:"
    rf"(?:(?:St\.|{_CAP_WORD}(?:[{_APOS}]s)?){_SP}+){{1,3}}(?:{_STREET})"
    rf"|(?:{_WELSH_STREET})(?:[{_APOS}]r)?(?:{_SP}+(?:(?:y|yr){_SP}+)?{_CAP_WORD}){{1,3}}"
    rf")(?![\w{_APOS}-])"
)

# name: a title, then one to three capitalised words or initials ("J."), with the particles of Welsh
# and other names between them (ap, ab, ferch, verch, van, von, de, bin, ibn). Only the name is
# replaced; the title stays ("Dr. Aled Ŵyn-Jones" -> "Dr. [name]"). Titles are matched as written
# ("Mr"), in capitals ("MR") and, for the unambiguous ones, in lower case ("mr."); never "miss", "sir",
# "pc" in lower case (ordinary words). Words that follow a title but are not names are skipped: roles
# ("Lord Mayor", "Sergeant Major") and the Welsh counties after "Sir", which is Welsh for county
# ("Cyngor Sir Gâr", "Sir Benfro", "Sir Fynwy").
_TITLES = [
    "Mr", "Mrs", "Ms", "Miss", "Mx", "Dr", "Doctor", "Prof", "Professor", "Rev", "Revd", "Reverend",
    "Cllr", "Councillor", "Cynghorydd", "Parch", "PC", "PCSO", "DC", "DS", "DI", "Sgt", "Sergeant",
    "Insp", "Inspector", "Sir", "Dame", "Lord", "Lady", "Father", "Fr", "Imam", "Rabbi", "Pastor",
]
_LOWER_CASE_TITLES = ["mr", "mrs", "ms", "mx", "dr", "prof", "revd", "cllr", "sgt", "insp"]
_NOT_A_NAME = (
    "mayor|mayoress|lieutenant|chief|chair|chairman|major|general|constable|superintendent|"
    "commissioner|provost|bishop|archbishop|"
    "gâr|gar|benfro|fôn|fon|ddinbych|fflint|gaerfyrddin|fynwy|gaernarfon|drefaldwyn|forgannwg|"
    "feirionnydd|frycheiniog|faesyfed|aberteifi|gaerdydd|gasnewydd|abertawe"
)
_NAME_PARTICLE = "ap|ab|ferch|verch|van|von|de|bin|ibn"
_NAME_WORD = rf"(?:[{_UPPER}]\.|{_CAP_WORD}(?!\w))"  # "Smith's": the name is "Smith"
_NAME = re.compile(
    rf"(?<![\w])"
    rf"(?:{_alternation(_TITLES + [t.upper() for t in _TITLES] + _LOWER_CASE_TITLES)})"
    rf"\.?{_SP}+"
    rf"(?!(?i:{_NOT_A_NAME})\b)"
    rf"(?P<pd>(?:(?:{_NAME_PARTICLE}){_SP}+)?{_NAME_WORD}"
    rf"(?:{_SP}+(?:(?:{_NAME_PARTICLE}){_SP}+)?{_NAME_WORD}){{0,2}})"
)

# (kind, pattern, token), in the order applied. A pattern with a group "pd" replaces only that group.
_RULES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("email", _EMAIL, "[email]"),
    ("ni_number", _NI_NUMBER, "[NI number]"),
    ("vehicle_reg", _VEHICLE_REG, "[vehicle reg]"),
    ("postcode", _POSTCODE, "[postcode]"),
    ("phone", _PHONE, "[phone]"),
    ("address", _ADDRESS, "[address]"),
    ("name", _NAME, "[name]"),
)
_TOKENS = {kind: token for kind, _, token in _RULES}

KINDS: tuple[str, ...] = tuple(kind for kind, _, _ in _RULES)

# Stands in for a span already found while the later kinds are matched: not a letter, digit or space,
# and none of the characters the patterns treat specially, so it neither joins nor splits an item.
_MASK = "\x00"


@dataclass(frozen=True)
class Redacted:
    text: str | None  # redacted text (None in -> None out; white space preserved otherwise)
    items: int  # number of items replaced
    kinds: tuple[str, ...]  # sorted distinct kinds replaced, e.g. ("email", "phone")


def _spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, kind) of every item in ``text``, in text order, without overlaps."""
    found: list[tuple[int, int, str]] = []
    masked = text
    for kind, pattern, _ in _RULES:
        spans = [m.span("pd") if "pd" in pattern.groupindex else m.span() for m in pattern.finditer(masked)]
        for start, end in spans:
            masked = masked[:start] + _MASK * (end - start) + masked[end:]
            found.append((start, end, kind))
    return sorted(found)


def redact(text: str | None) -> Redacted:
    """Replace the personal data in ``text`` by tokens ("[email]", "[name]", ...)."""
    if text is None:
        return Redacted(None, 0, ())
    spans = _spans(text)
    if not spans:
        return Redacted(text, 0, ())
    parts: list[str] = []
    position = 0
    for start, end, kind in spans:
        parts.append(text[position:start])
        parts.append(_TOKENS[kind])
        position = end
    parts.append(text[position:])
    return Redacted("".join(parts), len(spans), tuple(sorted({kind for _, _, kind in spans})))


def find_personal_data(text: str | None) -> list[tuple[str, str]]:
    """[(kind, matched text)] of every item ``redact`` would replace, in text order; [] if none."""
    if not text:
        return []
    return [(kind, text[start:end]) for start, end, kind in _spans(text)]


def regex_list() -> list[str]:
    """The patterns as plain regex strings (case-insensitivity inlined), for data-quality suites that
    search a whole column for anything that should have been redacted."""
    return [("(?i)" if pattern.flags & re.IGNORECASE else "") + pattern.pattern for _, pattern, _ in _RULES]
