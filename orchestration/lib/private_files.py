"""Files and folders only the service account may read (the restricted store, the Dagster instance), and the
atomic write every output uses (``write_atomic``: readers see the old or the new file, never half).

Modes are set explicitly, never left to the umask: folders 0700, files 0600. ``private_dir`` sets every
level from the store's root down to the folder, so a sub-folder made by any version stays owner-only.
No Dagster imports.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def private_dir(root: Path, path: Path | None = None) -> Path:
    """Create `path` (a folder inside `root`, or `root` itself) with every level from `root` down 0700."""
    path = Path(path or root)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, PRIVATE_DIR_MODE)
    current = root
    for part in path.relative_to(root).parts:
        current = current / part
        current.mkdir(exist_ok=True)
        os.chmod(current, PRIVATE_DIR_MODE)
    return path


def write_private(path: Path, data: bytes | str) -> Path:
    """Write a file readable by its owner only, atomically (a temporary name, then a rename)."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
        view = memoryview(payload)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(partial, path)
    return path



def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: Path, data: bytes | str, mode: int | None = None) -> None:
    """Write a file through a temporary name and os.replace: readers see the old or the new file, never half.
    The temporary file is 0600 (mkstemp); with `mode` it is given that mode less the umask before the replace."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        if mode is not None:
            os.chmod(tmp, mode & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
