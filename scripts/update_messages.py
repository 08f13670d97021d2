"""Refresh the Welsh message catalogue of the monitoring pack from the code.

    uv run python scripts/update_messages.py          # add new strings to messages.po (msgstr empty)
    uv run python scripts/update_messages.py --check  # exit 1 if a string has no Welsh (what the tests check)

Strings come from ``_()`` / ``gettext()`` in the pack's templates (Jinja2) and ``_()`` / ``N_()`` in its Python
modules, lib/delivery.py (the messages sent to named officers) and lib/method_page.py (the method page every output
links to), plus the indicator labels of seeds/indicator_catalogue.csv (reference data the pack shows). Existing
translations are kept; strings no longer used are dropped (they stay in git history).
"""

from __future__ import annotations

import csv
import sys
from datetime import datetime, timezone
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

REPO = Path(__file__).resolve().parents[1]
PACK = REPO / "orchestration" / "lib" / "pack"
PO = PACK / "locale" / "cy" / "LC_MESSAGES" / "messages.po"
KEYWORDS = {"_": None, "N_": None, "gettext": None}
LIB = REPO / "orchestration" / "lib"
METHODS = [("pack/templates/**.j2", "jinja2.ext:babel_extract"), ("pack/**.py", "python"), ("delivery.py", "python"),
           ("atlas/templates/**.j2", "jinja2.ext:babel_extract"), ("atlas/**.py", "python"),
           ("method_page.py", "python")]
CATALOGUE = REPO / "seeds" / "indicator_catalogue.csv"


def extracted() -> dict[str, list[str]]:
    """msgid -> locations."""
    found: dict[str, list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(LIB), METHODS, keywords=KEYWORDS, options_map={"pack/templates/**.j2": {"trimmed": "false"},
                                                         "atlas/templates/**.j2": {"trimmed": "false"}},
    ):
        if isinstance(message, tuple):
            message = message[0]
        if message:
            found.setdefault(message, []).append(f"{filename}:{lineno}")
    with open(CATALOGUE, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            for column in ("label", "publisher", "licence"):
                found.setdefault(row[column], []).append(f"seeds/indicator_catalogue.csv:{row['indicator_id']}")
    return found


def main(argv: list[str]) -> int:
    messages = extracted()
    with open(PO, "rb") as fh:
        old = read_po(fh, locale="cy")
    # fixed dates: the file changes only when a string does
    catalog = Catalog(locale="cy", project="cohesion-monitor monitoring pack", fuzzy=False, version="1",
                      creation_date=datetime(2026, 12, 5, tzinfo=timezone.utc),
                      revision_date=datetime(2026, 12, 5, tzinfo=timezone.utc),
                      last_translator="cohesion-monitor", language_team="Cymraeg",
                      header_comment="# Welsh for the quarterly monitoring pack (orchestration/lib/pack).\n"
                                     "# Regenerate the list with scripts/update_messages.py; translate every msgstr.")
    missing = []
    for msgid in sorted(messages):
        previous = old.get(msgid)
        string = previous.string if previous is not None and not previous.fuzzy else ""
        catalog.add(msgid, string, locations=[(loc.rsplit(":", 1)[0], loc.rsplit(":", 1)[1]) for loc in messages[msgid][:3]])
        if not string:
            missing.append(msgid)
    if "--check" in argv:
        for m in missing:
            print(f"no Welsh: {m!r}")
        return 1 if missing else 0
    with open(PO, "wb") as fh:
        write_po(fh, catalog, width=100, omit_header=False, sort_output=True, include_lineno=False)
    print(f"{PO.relative_to(REPO)}: {len(messages)} strings, {len(missing)} without Welsh")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
