"""The partner guide's contract tables and the blank templates, generated from contracts.py.

``python scripts/build_partner_templates.py`` rewrites docs/partner-extracts/templates/*.csv and the
generated section of docs/partner-extracts/README.md; a test fails if either drifts from the contract.
"""

from __future__ import annotations

from orchestration.lib.partner_extracts import contracts as c
from orchestration.settings import REPO_ROOT

GUIDE_DIR = REPO_ROOT / "docs" / "partner-extracts"
TEMPLATES_DIR = GUIDE_DIR / "templates"
BEGIN = "<!-- BEGIN generated contract tables: scripts/build_partner_templates.py -->"
END = "<!-- END generated contract tables -->"

KIND_TEXT = {
    c.TEXT: "free text (redacted)",
    c.CODE: "identifier",
    c.ENUM: "one of",
    c.ENUM_LIST: "';'-separated list of",
    c.DATE: "date",
    c.INT: "whole number",
    c.GRADE: "grade",
    c.AREA: "area code",
    c.YES_NO: "yes / no",
    c.PERSONAL: "personal (never stored)",
}


def template_csv(extract: c.ExtractType) -> str:
    return ",".join(extract.column_names) + "\n"


def contract_tables() -> str:
    parts = []
    for extract in c.extract_types().values():
        rule = (f"`{extract.period_date}` dates the row; a register is a snapshot, so rows raised before the "
                "file's period are normal" if extract.is_register
                else f"`{extract.period_date}` dates the row (and the file, when its name gives no period)")
        if extract.name == "incidents":
            rule = "`occurred_on` and `reported_on` date the row (and the file, when its name gives no period)"
        if extract.name == "tension_assessments":
            rule = (f"`period_start` ≤ `period_end`, and `assessment_date` from `period_start` to `period_end` + "
                    f"{c.ASSESSMENT_LAG_DAYS} days (a period is often assessed at the next meeting); a file may "
                    "carry a series of periods")
        parts += [
            f"### `{extract.name}/` — {extract.title}",
            "",
            f"Supplied by {extract.supplied_by}. Template: `templates/{extract.name}.csv`. "
            f"Date rule: {rule}."
            + (f" Unique within a file: {' + '.join(f'`{k}`' for k in extract.key)}." if extract.key else ""),
            "",
            "| column | required | type | allowed values / notes |",
            "|---|---|---|---|",
        ]
        for col in extract.columns:
            values = ", ".join(f"`{v}`" for v in col.values)
            if col.kind == c.INT:
                values = f"{col.minimum}–{col.maximum}"
            if col.kind == c.GRADE:
                values = "eep6: `1`–`6`; level4: `high`, `medium`, `low`, `none`"
            note = "; ".join(x for x in (values, col.description) if x)
            parts.append(f"| `{col.name}` | {'yes' if col.required else 'no'} | {KIND_TEXT[col.kind]} | {note} |")
        parts.append("")
    return "\n".join(parts)


def write_all() -> list[str]:
    TEMPLATES_DIR.mkdir(parents=True, exist_ok=True)
    written = []
    for extract in c.extract_types().values():
        path = TEMPLATES_DIR / f"{extract.name}.csv"
        path.write_text(template_csv(extract), encoding="utf-8")
        written.append(str(path.relative_to(REPO_ROOT)))
    readme = GUIDE_DIR / "README.md"
    text = readme.read_text(encoding="utf-8")
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    readme.write_text(text[:start] + "\n\n" + contract_tables() + "\n" + text[end:], encoding="utf-8")
    written.append(str(readme.relative_to(REPO_ROOT)))
    return written
