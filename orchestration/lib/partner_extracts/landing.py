"""The landing folder: which files are waiting, and which of them are complete and safe to read.

Layout: ``landing/<extract type>/<file>`` or ``landing/<extract type>/<partner>/<file>`` (a partner may keep
its own sub-folder; the folder then names the partner when the file name does not). A file anywhere else
(the landing root, a folder that is not an extract type) is *misplaced*: it is reported and quarantined,
never left waiting silently.

**When is a file complete?** Copying takes time, and a copy may pause (a slow network share, a partner's
script writing in batches). A file is read only when

1. it is not a temporary name (``*.part``, ``*.tmp``, ``*.crdownload``, ``~$…``, hidden files): partners
   and their tools may write under such a name and rename when done — the rename is atomic; or
2. a marker ``<file>.done`` (or ``<file>.ready``) sits beside it — the partner's explicit "finished"; or
3. no process on this machine has it open for writing (``/proc/<pid>/fdinfo``) and it has not changed for
   ``settle_seconds``.

(3) sees writers on this machine, which covers local copies and shares served from it (Samba, SFTP);
it cannot see a writer on another machine writing over NFS, and an unprivileged service account cannot
see other users' processes. Set ``COHESION_LANDING_REQUIRE_MARKER=1`` there: only (1) and (2) then
count. Whatever the rule, the ingestion reads the bytes once and removes the file only if it still holds
exactly those bytes (store.py), so a file that changed while being read is read again, never lost.
No Dagster imports.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from orchestration.lib.partner_extracts import contracts as c

IGNORED_PREFIXES = (".", "~$")  # hidden files, Excel lock files
TEMPORARY_SUFFIXES = (".tmp", ".part", ".crdownload", ".partial", ".filepart", ".swp", ".download")
MARKER_SUFFIXES = (".done", ".ready")
PROC = Path("/proc")


@dataclass(frozen=True)
class LandingFile:
    path: Path
    extract_type: str | None  # None: misplaced (not inside an extract-type folder)
    partner_folder: str | None  # the sub-folder under the extract-type folder, if any
    relative: str  # path under the landing folder, for messages
    size: int
    mtime: float
    changed: float  # the later of mtime and ctime (a rename or chmod also counts as a change)

    @property
    def marker(self) -> Path | None:
        for suffix in MARKER_SUFFIXES:
            candidate = self.path.with_name(self.path.name + suffix)
            if candidate.exists():
                return candidate
        return None


def _ignored(name: str) -> bool:
    lowered = name.lower()
    return name.startswith(IGNORED_PREFIXES) or lowered.endswith(TEMPORARY_SUFFIXES + MARKER_SUFFIXES)


def ensure_landing(landing_dir: Path) -> None:
    """Create landing/<extract type>/ for every type: owner and group only (partners may write via a group)."""
    landing_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(landing_dir, 0o770)
    for name in c.extract_types():
        folder = landing_dir / name
        folder.mkdir(exist_ok=True)
        os.chmod(folder, 0o770)


def scan(landing_dir: Path) -> list[LandingFile]:
    """Every file waiting anywhere under the landing folder, oldest first (arrival order decides which
    file supersedes which). Temporary names and markers are not files to read."""
    types = set(c.extract_types())
    found: list[LandingFile] = []
    if not landing_dir.is_dir():
        return found
    for root, dirs, files in os.walk(landing_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        parts = Path(root).relative_to(landing_dir).parts
        extract_type = parts[0] if parts and parts[0] in types else None
        partner = parts[1] if extract_type and len(parts) > 1 else None
        for name in files:
            if _ignored(name):
                continue
            path = Path(root) / name
            try:
                st = path.stat()
            except FileNotFoundError:
                continue  # taken by a run while listing
            if not path.is_file():
                continue
            found.append(LandingFile(path, extract_type, partner, str(path.relative_to(landing_dir)), st.st_size,
                                     st.st_mtime, max(st.st_mtime, st.st_ctime)))
    return sorted(found, key=lambda f: (f.mtime, f.relative))


def writers_visible() -> bool:
    return PROC.is_dir()


def open_for_writing(paths: Iterable[Path]) -> set[Path]:
    """The paths some process on this machine holds open for writing (by its /proc fd table)."""
    wanted = {str(Path(p).resolve()): Path(p) for p in paths}
    found: set[Path] = set()
    if not wanted or not writers_visible():
        return found
    for pid in os.listdir(PROC):
        if not pid.isdigit():
            continue
        fd_dir = PROC / pid / "fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue  # gone, or another user's process (see the module docstring)
        for fd in fds:
            try:
                target = os.readlink(fd_dir / fd)
            except OSError:
                continue
            if target not in wanted:
                continue
            try:
                info = (PROC / pid / "fdinfo" / fd).read_text()
                flags = int(info.split("flags:", 1)[1].split()[0], 8)
            except (OSError, IndexError, ValueError):
                flags = os.O_RDWR  # cannot tell: assume a writer
            if flags & (os.O_WRONLY | os.O_RDWR):
                found.add(wanted[target])
    return found


@dataclass
class Readiness:
    ready: list[LandingFile]
    waiting: list[tuple[LandingFile, str]]  # (file, why it is not read yet)


def check_ready(files: list[LandingFile], settle_seconds: float, require_marker: bool = False,
                now: float | None = None) -> Readiness:
    now = time.time() if now is None else now
    busy = open_for_writing(f.path for f in files)
    ready, waiting = [], []
    for f in files:
        if f.path in busy:
            waiting.append((f, "a program still has it open for writing"))
        elif f.marker is not None:
            ready.append(f)
        elif require_marker:
            waiting.append((f, f"waiting for its marker {f.path.name}.done (COHESION_LANDING_REQUIRE_MARKER is on)"))
        elif now - f.changed < settle_seconds:
            waiting.append((f, f"changed less than {settle_seconds:g} s ago"))
        else:
            ready.append(f)
    return Readiness(ready, waiting)
