"""The partner guide and templates say exactly what the validator checks (both generated from contracts.py)."""

from orchestration.lib.partner_extracts import contracts
from orchestration.lib.partner_extracts.guide import GUIDE_DIR, TEMPLATES_DIR, contract_tables, template_csv
from orchestration.lib.partner_extracts.reader import read_csv


def test_every_extract_type_has_a_blank_template_matching_its_contract():
    for extract in contracts.extract_types().values():
        path = TEMPLATES_DIR / f"{extract.name}.csv"
        assert path.read_text(encoding="utf-8") == template_csv(extract), "run scripts/build_partner_templates.py"
        assert read_csv(path.read_bytes()).header == extract.column_names


def test_the_guide_carries_the_current_contract_tables():
    assert contract_tables() in (GUIDE_DIR / "README.md").read_text(encoding="utf-8"), "run scripts/build_partner_templates.py"
