"""The partner guide and templates say exactly what the validator checks (both generated from contracts.py),
and the validator does what the guide's tables say: a required column or value is refused when missing, an
optional one is not."""

import re
from datetime import date

import pytest

from orchestration.lib.partner_extracts import contracts
from orchestration.lib.partner_extracts.guide import GUIDE_DIR, TEMPLATES_DIR, contract_tables, template_csv
from orchestration.lib.partner_extracts.reader import Sheet, Workbook, read_csv
from orchestration.lib.partner_extracts.validate import validate

RECEIVED = date(2024, 7, 15)
# One valid row per extract type, every column filled (optional ones too).
GOOD = {
    "tension_reports": {"submitted_on": "2024-05-02", "source_type": "resident", "area_code": "W01001661",
                        "area_description": "by the park", "community_types": "ethnic", "tension_categories": "community",
                        "information": "Graffiti again", "submitter_name": "A", "submitter_organisation": "B",
                        "submitter_email": "c@example.org", "submitter_phone": "07700 900000", "contact_consent": "no"},
    "incidents": {"incident_ref": "P/1", "occurred_on": "2024-05-02", "reported_on": "2024-05-02",
                  "area_code": "W01001661", "incident_type": "hate_incident", "hate_strands": "race",
                  "community_type": "ethnic", "source_organisation": "Gwent Police", "description": "Shouting"},
    "tension_assessments": {"assessment_date": "2024-05-07", "period_start": "2024-05-01", "period_end": "2024-06-30",
                            "area_code": "W06000022", "community_type": "ethnic", "scale": "eep6",
                            "current_grade": "4", "potential_grade": "3", "rationale": "Leaflets",
                            "assessed_by_role": "Silver chair"},
    "community_impact_assessments": {"cia_id": "CIA-1", "trigger": "rating", "triggered_on": "2024-05-09",
                                     "area_code": "W06000022", "community_types": "ethnic", "subject": "Leaflets",
                                     "status": "complete", "completed_on": "2024-05-20", "overall_risk": "medium"},
    "risk_register": {"risk_id": "R-1", "area_code": "W06000022", "raised_on": "2024-05-09", "description": "Disorder",
                      "ppplem_heading": "physical", "likelihood": "3", "impact": "3", "residual_likelihood": "2",
                      "residual_impact": "2", "action_plan_ref": "AP-1", "owner_role": "Silver chair",
                      "review_due": "2024-07-01", "status": "open"},
}
# Optional values that other values make necessary (the guide's "Consistency" rules).
NEEDED_BY_OTHERS = {("incidents", "hate_strands"), ("community_impact_assessments", "completed_on"),
                    ("community_impact_assessments", "overall_risk"), ("risk_register", "residual_likelihood"),
                    ("risk_register", "residual_impact")}


def test_every_extract_type_has_a_blank_template_matching_its_contract():
    for extract in contracts.extract_types().values():
        path = TEMPLATES_DIR / f"{extract.name}.csv"
        assert path.read_text(encoding="utf-8") == template_csv(extract), "run scripts/build_partner_templates.py"
        assert read_csv(path.read_bytes()).sheets[0].header == extract.column_names


def test_the_guide_carries_the_current_contract_tables():
    assert contract_tables() in (GUIDE_DIR / "README.md").read_text(encoding="utf-8"), "run scripts/build_partner_templates.py"


def _guide_required() -> dict[tuple[str, str], bool]:
    """(extract type, column) -> required, as the guide's tables print it."""
    text = (GUIDE_DIR / "README.md").read_text(encoding="utf-8")
    found, current = {}, None
    for line in text.splitlines():
        heading = re.match(r"### `(\w+)/`", line)
        if heading:
            current = heading[1]
        row = re.match(r"\| `(\w+)` \| (yes|no) \|", line)
        if row and current:
            found[(current, row[1])] = row[2] == "yes"
    return found


def _check(extract, values: dict, header: list[str]):
    cells = {name: values.get(name) for name in header}
    return validate(extract, Workbook(sheets=[Sheet("", header, [(2, cells)])]), "partner_2024-Q2.csv", RECEIVED)[1]


@pytest.mark.parametrize("extract_type", contracts.extract_types())
def test_the_validator_does_what_the_guide_says_for_every_column(extract_type):
    extract = contracts.extract_types()[extract_type]
    guide = _guide_required()
    assert {c for (t, c) in guide if t == extract_type} == set(extract.column_names)
    assert _check(extract, GOOD[extract_type], extract.column_names) == [], "the full row is valid"
    text = (GUIDE_DIR / "README.md").read_text(encoding="utf-8")
    assert f"{contracts.ASSESSMENT_LAG_DAYS} days after `period_end`" in text
    for column in extract.columns:
        required = guide[(extract_type, column.name)]
        assert required == column.required, column.name
        header = [c for c in extract.column_names if c != column.name]
        without_column = {p.rule for p in _check(extract, GOOD[extract_type], header)}
        blank = {p.rule for p in _check(extract, {**GOOD[extract_type], column.name: ""}, extract.column_names)}
        if (extract_type, column.name) in NEEDED_BY_OTHERS:
            continue  # optional in general, needed by the row's other values: covered by the consistency tests
        if required:
            assert "missing_column" in without_column, column.name
            assert "required" in blank, column.name
        else:
            assert without_column == set() and blank == set(), (column.name, without_column, blank)
