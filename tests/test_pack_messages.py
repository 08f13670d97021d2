"""The Welsh message catalogue of the monitoring pack is complete and well-formed (no warehouse needed).

Councils in Wales publish in both languages, so every fixed string of the pack, every coded label it shows
and every indicator name, publisher and licence from the catalogue must have Welsh in
``orchestration/lib/pack/locale/cy/LC_MESSAGES/messages.po``: non-empty, not fuzzy, not left in English,
with the same python-format placeholders as the English.
"""

from __future__ import annotations

import csv
import importlib.util
import re
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from orchestration.lib.pack import i18n

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "update_messages.py"
CATALOGUE = REPO / "seeds" / "indicator_catalogue.csv"
PLACEHOLDER = re.compile(r"%\(([^)]+)\)s")
# the only msgstr allowed to be the same as the English: symbols
SAME_IN_WELSH = {"%", "£"}


def _load_script():
    spec = importlib.util.spec_from_file_location("update_messages_for_tests", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def extracted() -> dict[str, list[str]]:
    return _load_script().extracted()


@pytest.fixture(scope="module")
def po() -> dict[str, tuple[str, bool]]:
    """msgid -> (msgstr, fuzzy), read straight from the .po (not the cached catalogue)."""
    with open(i18n.PO_PATH, "rb") as fh:
        catalog = read_po(fh, locale="cy")
    out = {}
    for message in catalog:
        if not message.id:
            continue
        msgid = message.id if isinstance(message.id, str) else message.id[0]
        msgstr = message.string if isinstance(message.string, str) else (message.string[0] if message.string else "")
        out[msgid] = (msgstr or "", bool(message.fuzzy))
    return out


def test_every_extracted_string_has_welsh(extracted, po):
    assert len(extracted) > 300, "extraction found suspiciously few strings"
    problems = []
    for msgid in sorted(extracted):
        if msgid not in po:
            problems.append(f"not in messages.po (run scripts/update_messages.py): {msgid!r}")
            continue
        msgstr, fuzzy = po[msgid]
        if not msgstr.strip():
            problems.append(f"no Welsh: {msgid!r}")
        elif fuzzy:
            problems.append(f"fuzzy: {msgid!r}")
    assert not problems, "\n".join(problems)


def test_placeholders_match_and_format(po):
    problems = []
    for msgid, (msgstr, _fuzzy) in sorted(po.items()):
        if not msgstr:
            continue
        names_en, names_cy = Counter(PLACEHOLDER.findall(msgid)), Counter(PLACEHOLDER.findall(msgstr))
        if names_en != names_cy:
            problems.append(f"placeholders {dict(names_cy)} != {dict(names_en)}: {msgid!r}")
            continue
        if names_en:
            if any(n > 1 for n in names_cy.values()):
                problems.append(f"placeholder repeated: {msgstr!r}")
            values = {name: "x" for name in names_en}
            try:
                msgstr % values
            except (ValueError, TypeError, KeyError) as exc:
                problems.append(f"msgstr does not format ({exc}): {msgstr!r}")
            if msgid.count("%%") != msgstr.count("%%"):
                problems.append(f"literal %% count differs: {msgstr!r}")
        else:
            # not formatted when shown: a doubled percent sign would appear as "%%"
            if "%%" in msgstr and "%%" not in msgid:
                problems.append(f"'%%' in a string without placeholders: {msgstr!r}")
            if "%(" in msgstr:
                problems.append(f"stray placeholder: {msgstr!r}")
    assert not problems, "\n".join(problems)


def test_no_english_left(po):
    same = sorted(msgid for msgid, (msgstr, _fuzzy) in po.items()
                  if msgstr and msgstr.strip() == msgid.strip() and msgid not in SAME_IN_WELSH)
    assert not same, f"msgstr equal to the English msgid: {same}"
    for symbol in SAME_IN_WELSH:
        if symbol in po:
            assert po[symbol][0] == symbol


def _catalogue_strings() -> set[str]:
    with open(CATALOGUE, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    out = set()
    for row in rows:
        for column in ("label", "publisher", "licence"):
            if row.get(column):
                out.add(row[column])
    assert any(row["label"] for row in rows)
    return out


def test_labels_and_indicator_names_have_welsh():
    i18n._welsh_catalogue.cache_clear()
    try:
        L = i18n.Lang("cy")
        strings = {english for kind in i18n.LABELS.values() for english in kind.values()} | _catalogue_strings()
        untranslated = sorted(s for s in strings if L.gettext(s) == s and s not in SAME_IN_WELSH)
        assert not untranslated, f"no Welsh for: {untranslated}"
        assert not L.missing, f"not in the Welsh catalogue: {sorted(L.missing)}"
        for kind, labels in i18n.LABELS.items():
            for code in labels:
                assert L.label(kind, code), (kind, code)
    finally:
        i18n._welsh_catalogue.cache_clear()
