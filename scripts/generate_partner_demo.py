"""Write the demo partner extracts (fictional, on the real Gwent geography) into a landing folder.

Usage (from the repository root)::

    uv run python scripts/generate_partner_demo.py                 # writes <data_dir>/landing/ (COHESION_LANDING_DIR)
    uv run python scripts/generate_partner_demo.py --landing DIR   # writes DIR/

Every file goes to ``<landing>/<extract_type>/<partner>_<period>[_<suffix>].csv|.xlsx``; the partner slugs
all start with ``demo-``. The output is deterministic (same bytes on every run); existing files with the
same names are overwritten, other files are left alone. See ``orchestration/lib/partner_extracts/demo.py``.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run as a script: make the repository importable
    sys.path.insert(0, str(REPO_ROOT))


def main(argv: list[str] | None = None) -> int:
    from orchestration.lib.partner_extracts.demo import DEMO_END, DEMO_START, PLANTED, write_demo_extracts
    from orchestration.settings import get_settings

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--landing", type=Path, default=None,
                        help="landing folder (default: the settings' landing folder, <COHESION_DATA_DIR>/landing)")
    args = parser.parse_args(argv)
    settings = get_settings()
    default = getattr(settings, "landing_dir", None) or settings.data_dir / "landing"
    landing = (args.landing or default).expanduser().resolve()

    paths = write_demo_extracts(landing)
    print(f"Demo partner extracts {DEMO_START} to {DEMO_END} written to {landing} (in ingest order):")
    for path in paths:
        print(f"  {path.relative_to(landing)}  ({path.stat().st_size:,} bytes)")
    per_type = Counter(path.parent.name for path in paths)
    print("Files per extract type: " + ", ".join(f"{k} {v}" for k, v in sorted(per_type.items())))
    spike = PLANTED["hate_spike"]
    print(f"Planted: {spike['total_rows']} race hate incidents in {spike['lsoa_name']} ({spike['area_code']}) "
          f"in {spike['month']}; rising Newport ethnic rating; overdue and missing CIAs; a risk without an "
          f"action plan; personal data in free text; a corrected police file for 2024-04.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
