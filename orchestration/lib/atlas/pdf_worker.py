"""Render profile PDFs in a separate process: ``python -m orchestration.lib.atlas.pdf_worker <jobs.json>``.

``jobs.json`` lists ``[html_path, pdf_path]`` pairs; each HTML file is rendered with the pack's ``render_pdf``
(WeasyPrint, nothing fetched) and written to its PDF path through a temporary name. WeasyPrint is single-threaded,
so profile_doc.py starts one of these per core. A plain subprocess (not multiprocessing) so the caller's main module
is never re-imported, whatever started the build (Dagster, pytest, a script).

No Dagster imports.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    from orchestration.lib.pack.render import render_pdf
    from orchestration.lib.private_files import write_atomic

    jobs = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    for html_path, pdf_path in jobs:
        write_atomic(Path(pdf_path), render_pdf(Path(html_path).read_text(encoding="utf-8")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
