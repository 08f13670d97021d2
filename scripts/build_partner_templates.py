"""Regenerate the partner extract templates and contract tables from orchestration/lib/partner_extracts/contracts.py."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestration.lib.partner_extracts.guide import write_all  # noqa: E402

if __name__ == "__main__":
    for path in write_all():
        print(f"wrote {path}")
