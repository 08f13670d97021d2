"""`make dashboards`: the atlas served on localhost (python -m orchestration.dashboards)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(env: dict, port: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "orchestration.dashboards", "--port", str(port)], cwd=REPO,
                            env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _get(url: str, deadline: float) -> tuple[int, bytes]:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, b""
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_serves_the_atlas_folder_on_localhost_only(tmp_path):
    atlas = tmp_path / "atlas"
    (atlas / "cy" / "area").mkdir(parents=True)
    (atlas / "index.html").write_text("<!doctype html><title>atlas</title>", encoding="utf-8")
    (atlas / "cy" / "area" / "W06000022.html").write_text("Casnewydd", encoding="utf-8")
    port = _free_port()
    proc = _serve({"COHESION_ATLAS_DIR": str(atlas)}, port)
    try:
        deadline = time.monotonic() + 30
        assert _get(f"http://127.0.0.1:{port}/", deadline) == (200, b"<!doctype html><title>atlas</title>")
        assert _get(f"http://127.0.0.1:{port}/cy/area/W06000022.html", deadline) == (200, b"Casnewydd")
        assert _get(f"http://127.0.0.1:{port}/cy/area/none.html", deadline)[0] == 404
        # bound to the loopback interface only: nothing listens on the machine's other addresses
        listening = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True)
        if listening.returncode == 0:
            assert all("127.0.0.1:" in line for line in listening.stdout.splitlines() if line.strip())
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_no_atlas_and_no_warehouse_says_what_to_run(tmp_path):
    proc = _serve({"COHESION_ATLAS_DIR": str(tmp_path / "atlas"),
                   "COHESION_WAREHOUSE_PATH": str(tmp_path / "none.duckdb")}, _free_port())
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "run `make run` first" in err and str(tmp_path / "none.duckdb") in err
