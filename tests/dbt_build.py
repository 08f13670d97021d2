"""Run the real dbt project against a test's own DuckDB file (for tests that build marts from hand-made rows)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def dbt_build(warehouse: Path, select: str, work_dir: Path, as_of_date: str = "2024-06-30",
              extra_vars: dict[str, object] | None = None, full_refresh: bool = True,
              command: str = "build", check: bool = True) -> str:
    """`dbt build --select <select>` on `warehouse`; buildable indirect selection skips the public-data
    tests that hang off the shared seeds (their models are not in this file). `extra_vars` are passed with
    as_of_date (e.g. {"disclosure_threshold": 3}). With --full-refresh, as a full build runs it (the crime
    models incremental by month are rebuilt whole), unless full_refresh=False; command "run" leaves the tests out,
    "test" runs only them. check=False returns dbt's output whatever its exit code (a test that must fail)."""
    dbt_vars = f"as_of_date: {as_of_date}" + "".join(f", {name}: {value}" for name, value in (extra_vars or {}).items())
    env = {**os.environ, "COHESION_WAREHOUSE_PATH": str(warehouse), "DO_NOT_TRACK": "1",
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    dbt = Path(sys.executable).with_name("dbt")
    result = subprocess.run(
        [str(dbt), command, "--select", select, "--indirect-selection", "buildable",
         *(["--full-refresh"] if full_refresh and command != "test" else []),
         "--vars", f"{{{dbt_vars}}}", "--profiles-dir", ".",
         "--target-path", str(work_dir / "target"), "--log-path", str(work_dir / "logs")],
        cwd=REPO / "dbt_project", env=env, capture_output=True, text=True, timeout=300,
    )
    if check:
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    return result.stdout
