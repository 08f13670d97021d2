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
count. Whatever the rule, the ingestion reads the bytes once, and a file that changed while being read is
left and read again (store.py).

**Nothing a late writer adds is lost.** A file that has been read is not deleted: it is *claimed*, moved by
one rename into ``landing/.claimed/<id>/`` beside ``claim.json`` (its landing path, size, mtime and the
sha256 of the bytes ingested). A rename keeps the inode, so a writer that paused longer than any rule could
tell and still holds the file open writes on into the claimed file. ``sweep_claims`` (every sensor tick
and every ingestion run) compares each claimed file with what was ingested: a file that grew or changed is
moved back to its landing path and read again, its complete version superseding the partial one
(store.py: an earlier file from the same landing path whose bytes are a prefix of the new one); an
unchanged one that nobody holds open is deleted after ``hold_seconds`` (COHESION_LANDING_CLAIM_SECONDS,
default one hour). ``.claimed`` is owner-only and never scanned as waiting files.
No Dagster imports.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from orchestration.lib.partner_extracts import contracts as c

IGNORED_PREFIXES = (".", "~$")  # hidden files, Excel lock files
TEMPORARY_SUFFIXES = (".tmp", ".part", ".crdownload", ".partial", ".filepart", ".swp", ".download")
MARKER_SUFFIXES = (".done", ".ready")
PROC = Path("/proc")
CLAIMED_DIR = ".claimed"
CLAIM_FILE = "claim.json"
UNFINISHED_CLAIM_SECONDS = 600  # a claim folder still hidden this long was left by a killed run: swept
STALE_TEMPORARY_SECONDS = 3600  # a temporary or hidden file older than this is reported, never read


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


def left_alone(landing_dir: Path, older_than: float = STALE_TEMPORARY_SECONDS,
               now: float | None = None) -> list[str]:
    """Temporary, hidden and marker files (never read as extracts) that have sat in the landing folder for over
    `older_than` seconds: a copy that was never renamed when done, or a marker without its file. They are
    reported (sensor log) so they do not sit there unseen for ever."""
    now = time.time() if now is None else now
    found: list[str] = []
    if not landing_dir.is_dir():
        return found
    for root, dirs, files in os.walk(landing_dir):
        if Path(root) == landing_dir:
            dirs[:] = [d for d in dirs if d != CLAIMED_DIR]
        for name in files:
            path = Path(root) / name
            if not (_ignored(name) or any(part.startswith(".") for part in path.relative_to(landing_dir).parts[:-1])):
                continue
            if name.lower().endswith(MARKER_SUFFIXES) and path.with_name(name.rsplit(".", 1)[0]).exists():
                continue  # a marker beside its file: read with it
            try:
                if now - path.stat().st_mtime > older_than:
                    found.append(str(path.relative_to(landing_dir)))
            except FileNotFoundError:
                continue
    return sorted(found)


def claim(path: Path, landing_dir: Path, landing_path: str, sha256: str, before: os.stat_result,
          now: float | None = None) -> Path:
    """Move an ingested landing file into landing/.claimed/<id>/ by one rename (see the module docstring).
    Falls back to deleting it when it cannot be renamed there (another file system)."""
    now = time.time() if now is None else now
    claimed = landing_dir / CLAIMED_DIR
    claimed.mkdir(parents=True, exist_ok=True)
    os.chmod(claimed, 0o700)
    name = f"{int(now * 1000)}-{sha256[:16]}"
    # built under a hidden name the sweep leaves alone, then renamed: a sweep never sees half a claim
    building = claimed / f".{name}"
    building.mkdir(mode=0o700, exist_ok=True)
    (building / CLAIM_FILE).write_text(json.dumps({
        "landing_path": landing_path, "sha256": sha256, "size": before.st_size, "mtime_ns": before.st_mtime_ns,
        "claimed_at": now}), encoding="utf-8")
    os.chmod(building / CLAIM_FILE, 0o600)
    try:
        os.rename(path, building / path.name)
    except OSError:
        path.unlink()
        shutil.rmtree(building, ignore_errors=True)
        return path
    os.rename(building, claimed / name)
    return claimed / name / path.name


@dataclass(frozen=True)
class ClaimEvent:
    landing_path: str
    action: str  # returned (it grew after it was read) | released (unchanged; deleted) | waiting (return blocked)


def sweep_claims(landing_dir: Path, hold_seconds: float, now: float | None = None) -> list[ClaimEvent]:
    """Check every claimed file against what was ingested: return the ones that changed to the landing folder
    (to be read again), delete the unchanged ones held longer than `hold_seconds` that nobody has open."""
    from orchestration.lib.warehouse import sha256_of

    now = time.time() if now is None else now
    events: list[ClaimEvent] = []
    claimed = landing_dir / CLAIMED_DIR
    if not claimed.is_dir():
        return events
    for folder in sorted(p for p in claimed.iterdir() if p.is_dir()):
        try:
            event = _sweep_one(landing_dir, folder, hold_seconds, now, sha256_of)
        except FileNotFoundError:
            continue  # taken meanwhile by another sweep (the sensor's and a run's may overlap) or by the claim
        if event is not None:
            events.append(event)
    return events


def _sweep_one(landing_dir: Path, folder: Path, hold_seconds: float, now: float, sha256_of) -> ClaimEvent | None:
    if folder.name.startswith(".") and now - folder.stat().st_mtime < UNFINISHED_CLAIM_SECONDS:
        return None  # a claim being made right now
    files = [p for p in folder.iterdir() if p.name != CLAIM_FILE and p.is_file()]
    try:
        meta = json.loads((folder / CLAIM_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = None
    if not files:
        shutil.rmtree(folder, ignore_errors=True)
        return None
    file = files[0]
    if meta is None:  # an unfinished claim (killed between the mkdir and the rename): read the file again
        meta = {"landing_path": file.name, "sha256": "", "size": -1, "mtime_ns": -1, "claimed_at": now}
    st = file.stat()
    changed = ((st.st_size, st.st_mtime_ns) != (meta["size"], meta["mtime_ns"])
               and sha256_of(file) != meta["sha256"])
    if changed:
        dest = landing_dir / meta["landing_path"]
        if dest.exists():  # a new file of the same name is waiting: return this one after it has been taken
            return ClaimEvent(meta["landing_path"], "waiting")
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(file, dest)  # never over a file dropped there meanwhile (a rename would replace it)
        except FileExistsError:
            return ClaimEvent(meta["landing_path"], "waiting")
        except OSError:  # a file system without hard links
            os.rename(file, dest)
        shutil.rmtree(folder, ignore_errors=True)
        return ClaimEvent(meta["landing_path"], "returned")
    if now - meta["claimed_at"] >= hold_seconds and not open_for_writing([file]):
        shutil.rmtree(folder, ignore_errors=True)
        return ClaimEvent(meta["landing_path"], "released")
    return None


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
