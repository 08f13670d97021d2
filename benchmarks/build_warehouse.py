"""Benchmark: wall time of a cold build (empty data dir) and a warm rebuild (nothing changed).

    uv run python benchmarks/build_warehouse.py [--runs N]

Each build runs `python -m orchestration.build` in a subprocess with its own data dir, exactly as
`make run` does after the environment is installed. Prints one line per run and the medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def build(data_dir: Path) -> float:
    env = {**os.environ, "COHESION_DATA_DIR": str(data_dir), "DAGSTER_HOME": str(data_dir / "dagster_home")}
    env.pop("COHESION_WAREHOUSE_PATH", None)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "orchestration.build"], cwd=REPO, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    cold, warm = [], []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            cold.append(build(Path(tmp)))
            warm.append(build(Path(tmp)))
        print(f"run {i + 1}: cold {cold[-1]:.1f} s, warm {warm[-1]:.1f} s", flush=True)
    print(f"median of {args.runs}: cold build {statistics.median(cold):.1f} s, warm rebuild {statistics.median(warm):.1f} s")


if __name__ == "__main__":
    main()
