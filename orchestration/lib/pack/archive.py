"""The pack archive: ``<reports>/<quarter>/<group>/v<N>/`` with every tier × language × format (and the method page
``exception_method.html`` the packs link to), and
``<reports>/<quarter>/<group>/manifest.json`` listing every version (tier, language, sha256 of each file, the
inputs' load ids and partner file ids, what changed since the version before).

A version is identified by the sha256 of the pack's content (the full, language-neutral dict from
``model.build_pack``, canonical JSON, without what moves with the clock and with figures to 6 significant digits):
the same inputs give the same content and so the same version (a rerun writes nothing new); a later change to a
past quarter's inputs gives a new version that says what changed.
The folders are owner-only (the Gold/Silver files are OFFICIAL-SENSITIVE and ``content.json`` holds the
full pack).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from orchestration.lib.method_page import PAGE_NAME as METHOD_PAGE
from orchestration.lib.method_page import write_method_page
from orchestration.lib.pack import LANGUAGES, TIERS
from orchestration.lib.pack.render import EngineRules, VersionInfo, render_html, render_pdf
from orchestration.lib.pack.tiers import MARKINGS, for_tier, section_counts_by_la
from orchestration.lib.private_files import private_dir, write_private

MANIFEST = "manifest.json"
SECTIONS = ("tension", "action", "evidence", "cohesion", "crime", "forward")


def canonical(content: dict) -> bytes:
    return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")


# Not what the pack says about the group's area: the as-of date and the days a CIA has been open move with the
# clock; `inputs` (every current partner file and load id) and the partner-file counts in "about the data" are
# provenance for all of Wales, recorded in the manifest. A new version is made when what the pack says changes,
# not because a day passed or a file about another area arrived or was corrected.
VOLATILE_KEYS = frozenset({"as_of", "age_days", "inputs", "partner_files"})


# Nor a figure that moved in its 15th significant digit: a change of code that adds the same numbers in another
# order did that (an LCI of 103.569799843449 became 103.56979984344333 between two builds of the same data) and
# made a new version of every pack, sent to every recipient as a correction that changed nothing they can read.
# Figures are compared to 6 significant digits, more than any is shown with.
SIGNIFICANT_DIGITS = 6


def _without_volatile(node):
    if isinstance(node, dict):
        return {k: _without_volatile(v) for k, v in node.items() if k not in VOLATILE_KEYS}
    if isinstance(node, list):
        return [_without_volatile(v) for v in node]
    if isinstance(node, float):
        return float(f"{node:.{SIGNIFICANT_DIGITS}g}")
    return node


def _same_as_stored(folder: Path, version: dict, digest: str) -> bool:
    """The version's stored content.json has this digest under today's rules (a manifest written before a rule
    changed records the old digest of the same content)."""
    try:
        stored = json.loads((folder / version["content"]).read_text(encoding="utf-8"))
    except (KeyError, OSError, ValueError):
        return False
    return content_sha256(stored) == digest


def content_sha256(content: dict) -> str:
    return hashlib.sha256(canonical(_without_volatile(content))).hexdigest()


def section_totals(pack: dict) -> dict[str, int]:
    counts = section_counts_by_la(pack)
    return {s: sum(c[s] for c in counts.values()) for s in SECTIONS}


def grade_changes(before: dict, after: dict) -> int:
    """Tension summary cells (area × community × current/potential) whose grade differs between versions."""
    def cells(pack):
        out = {}
        for a in pack["tension"]["areas"]:
            for r in a["rows"]:
                for k in ("current", "potential"):
                    out[(a["area"]["code"], r["community_type"], k)] = (r[k] or {}).get("grade")
        return out
    b, a = cells(before), cells(after)
    return sum(1 for key in set(a) | set(b) if a.get(key) != b.get(key))


def describe_changes(before: dict | None, after: dict) -> list[dict]:
    """Language-neutral list of what changed (the template words it): per-section exception counts, grades,
    and the inputs (partner files added or superseded, public loads replaced)."""
    if before is None:
        return []
    changes = []
    tb, ta = section_totals(before), section_totals(after)
    for s in SECTIONS:
        if tb[s] != ta[s]:
            changes.append({"kind": "section", "section": s, "before": tb[s], "after": ta[s]})
    n = grade_changes(before, after)
    if n:
        changes.append({"kind": "grades", "n": n})
    fb, fa = set(before["inputs"]["partner_files"]), set(after["inputs"]["partner_files"])
    lb, la = set(before["inputs"]["loads"]), set(after["inputs"]["loads"])
    if fa - fb or fb - fa:
        changes.append({"kind": "partner_files", "added": len(fa - fb), "removed": len(fb - fa)})
    if la - lb:
        changes.append({"kind": "loads", "n": len(la - lb)})
    if not changes:
        changes.append({"kind": "other"})
    return changes


@dataclass
class Archived:
    quarter: str
    group: str
    version: int
    is_new: bool
    folder: Path
    files: list[dict] = field(default_factory=list)
    changes: list[dict] = field(default_factory=list)
    content_sha256: str = ""


def _read_manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    return {"versions": []}


def archive_pack(pack: dict, reports_dir: Path, engine: EngineRules, *, pdf: bool = True,
                 now: dt.datetime | None = None) -> Archived:
    """Write (or reuse) the version of this pack's content; return what is current."""
    quarter, group = pack["quarter"]["key"], pack["group"]["code"]
    folder = private_dir(reports_dir, reports_dir / quarter / group)
    manifest = _read_manifest(folder)
    digest = content_sha256(pack)
    current = manifest["versions"][-1] if manifest["versions"] else None
    if current and (current["content_sha256"] == digest or _same_as_stored(folder, current, digest)) and all(
        (folder / f["path"]).exists() for f in current["files"]
    ):
        method = folder / f"v{current['version']}" / METHOD_PAGE
        if not method.exists():  # a version archived before the packs linked their method page
            write_method_page(method.parent, write=write_private)
        return Archived(quarter, group, current["version"], False, folder, current["files"],
                        current.get("changes", []), digest)

    number = (current["version"] + 1) if current else 1
    before = None
    if current and (folder / current["content"]).exists():
        before = json.loads((folder / current["content"]).read_text(encoding="utf-8"))
    changes = describe_changes(before, pack)
    generated = (now or dt.datetime.now(dt.timezone.utc)).replace(microsecond=0)
    version_dir = private_dir(folder, folder / f"v{number}")
    files = []
    for tier in TIERS:
        tiered = for_tier(pack, tier)
        tiered["changes"] = changes
        for language in LANGUAGES:
            info = VersionInfo(number=number, generated_at=generated.isoformat())
            html, missing = render_html(tiered, language, info, engine)
            if missing:
                raise ValueError(f"{len(missing)} fixed strings have no Welsh (scripts/update_messages.py --check)")
            outputs = [("html", html.encode("utf-8"))]
            if pdf:
                outputs.append(("pdf", render_pdf(html)))
            for fmt, data in outputs:
                name = f"pack-{quarter}-{group}-{tier}-{language}.{fmt}"
                write_private(version_dir / name, data)
                files.append({"tier": tier, "marking": MARKINGS[tier], "language": language, "format": fmt,
                              "path": f"v{number}/{name}", "bytes": len(data),
                              "sha256": hashlib.sha256(data).hexdigest()})
    write_private(version_dir / "content.json", canonical(pack))
    # the method page the packs link to (exception_method.html, beside them: the folder opens offline)
    method_page = write_method_page(version_dir, write=write_private)
    entry = {"version": number, "generated_at": generated.isoformat(), "content_sha256": digest,
             "content": f"v{number}/content.json", "method_page": f"v{number}/{method_page.name}",
             "quarter": quarter, "group": group,
             "inputs": pack["inputs"], "section_totals": section_totals(pack), "changes": changes,
             "replaces": current["version"] if current else None, "files": files}
    manifest["versions"].append(entry)
    manifest.update({"quarter": quarter, "group": group, "current_version": number})
    write_private(folder / MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False))
    return Archived(quarter, group, number, True, folder, files, changes, digest)


def archived_quarters(reports_dir: Path) -> set[str]:
    """Quarters that have a pack folder under the archive ('2024-Q2')."""
    return {p.name for p in Path(reports_dir).glob("*-Q*") if p.is_dir() and re.fullmatch(r"\d{4}-Q[1-4]", p.name)}


def current_packs(reports_dir: Path) -> list[dict]:
    """The current version of every archived pack: quarter, group, version, folder and the Gold/Silver English
    HTML's relative path (for the console and the UI)."""
    out = []
    for manifest_path in sorted(Path(reports_dir).glob(f"*/*/{MANIFEST}")):
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if not manifest.get("versions"):
            continue
        current = manifest["versions"][-1]
        html = next((f["path"] for f in current["files"]
                     if (f["tier"], f["language"], f["format"]) == ("gold_silver", "en", "html")), None)
        out.append({"quarter": manifest["quarter"], "group": manifest["group"], "version": current["version"],
                    "folder": str(manifest_path.parent), "gold_silver_en_html": html,
                    "section_totals": current["section_totals"]})
    return out
