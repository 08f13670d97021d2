"""Is the process that left something behind still there? Used for runs whose process died (defs/runs.py) and
for the scratch folders a killed police.uk download left (lib/sources/police_uk_api.py). Plain Python, Linux
/proc for start times (elsewhere a pid that is alive counts as the same process)."""

from __future__ import annotations

import os
from pathlib import Path


def pid_alive(pid: int) -> bool:
    """A process ``pid`` exists (someone else's included)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_started(pid: int) -> float | None:
    """When the process ``pid`` started (seconds since the epoch), from /proc; None where that cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22 of stat: start time in clock ticks
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def process_gone(pid: int, running_by: float) -> bool:
    """No process ``pid``, or one that started after ``running_by`` (a time the original was running by): the
    number was reused after the original died (after a restart, say)."""
    if not pid_alive(pid):
        return True
    began = process_started(pid)
    return began is not None and began > running_by + 2  # /proc/stat's boot time is whole seconds
