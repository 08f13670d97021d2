"""The annual cohesion profile document per local authority (guide, Part 2, Step 5), HTML and PDF, Welsh and English.

"A cohesion profile for the authority might be produced on an annual basis. The first report would act as a
benchmark. Future reports would update and add to the profile, highlighting any significant change ... It is
advisable to report on each cohesion factor separately." The figures are ``marts.mart_cohesion_profile`` (benchmark =
the first period of the latest series, change since it, comparison with Wales, urban and rural, the LSOAs that changed
most) with the trend of each indicator from ``marts.fct_indicator_value``; Part 1 (``marts.mart_community_profile``)
is an annex. The PDF is the same HTML through WeasyPrint (``orchestration.lib.pack.render.render_pdf``: nothing is
fetched), rendered in parallel on the machine's cores (one pdf_worker process per core).

Files: ``<out_dir>/<lang>/profile/<la_code>.html`` and ``.pdf``, and ``<out_dir>/exception_method.html``: the
method page (``orchestration.lib.method_page``, from the dbt docs block exception_method) the documents, the atlas's
About page and its area pages link to.

No Dagster imports.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

from orchestration.lib.atlas import model
from orchestration.lib.atlas.site import LANGUAGES, MARKER_CSS, Renderer, environment
from orchestration.lib.crime_exceptions import engine_rules
from orchestration.lib.method_page import write_method_page
from orchestration.lib.pack.render import _css_string, render_pdf
from orchestration.lib.private_files import write_atomic

_ENV = environment()
_ENV.filters["css_string"] = _css_string


def render_profile(data: model.AtlasData, la_code: str, lang: str, for_pdf: bool = False,
                   has_pdf: bool = True) -> tuple[str, Renderer]:
    """The profile document's HTML for one local authority and language (and the renderer, whose ``L`` holds
    any text that had no Welsh)."""
    R = Renderer(data, lang)
    la = data.la_by_code[la_code]
    rows = data.profiles.get(la_code, [])
    community = []
    for r in data.community.get(la_code, []):
        if not community or community[-1][0] != r["topic"]:
            community.append((r["topic"], []))
        community[-1][1].append(r)
    ctx = {
        "L": R.L, "_": R.L.gettext, "gettext": R.L.gettext, "la": la, "built_on": data.built_on,
        "indicators": data.indicators, "factors": model.profile_by_factor(rows, data.indicators, data.trends, la_code),
        # narrower charts in the document, so their words stay legible at the printed size (about 9 cm wide)
        "trends": {r["indicator_id"]: R.trend(la, r, width=440, height=220) for r in rows}, "lsoa_names": data.lsoa_names,
        "community": community, "topic_labels": {t: R.topic_label(t) for t, _r in community},
        "community_value": R.community_value, "marker": R.marker, "marker_css": MARKER_CSS, "spine": R.spine, "for_pdf": for_pdf,
        "has_pdf": has_pdf, "min_events": engine_rules()[1],
    }
    return _ENV.get_template("profile.html.j2").render(ctx), R


def _workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def _lower_priority() -> None:
    """In the PDF worker before it starts: rendering is background work (nice 10), writers' runs come first."""
    os.nice(10)


class PdfRendering:
    """PDFs being written by pdf_worker processes (one per core, nice 10) while this process goes on; ``wait()``
    for them. A few jobs, or one core: rendered here, in ``wait()``."""

    def __init__(self, jobs: list[tuple[Path, str]]):
        self.jobs = jobs
        self.procs: list[subprocess.Popen] = []
        self.tmp: tempfile.TemporaryDirectory | None = None
        workers = _workers()
        if workers <= 1 or len(jobs) <= 2:
            return
        repo = Path(__file__).resolve().parents[3]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(repo), os.environ.get("PYTHONPATH")) if p)}
        self.tmp = tempfile.TemporaryDirectory(prefix="atlas-pdf-")
        try:
            specs = []
            for i, (path, html) in enumerate(jobs):
                src = Path(self.tmp.name) / f"{i}.html"
                src.write_text(html, encoding="utf-8")
                specs.append([str(src), str(path)])
            for n in range(workers):
                listing = Path(self.tmp.name) / f"jobs-{n}.json"
                listing.write_text(json.dumps(specs[n::workers]), encoding="utf-8")
                self.procs.append(subprocess.Popen(
                    [sys.executable, "-m", "orchestration.lib.atlas.pdf_worker", str(listing)], env=env, cwd=repo,
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=_lower_priority))
        except BaseException:
            self.abort()
            raise

    def wait(self) -> None:
        """Return once every PDF is written; raise if a worker failed."""
        if self.tmp is None:
            for path, html in self.jobs:
                write_atomic(path, render_pdf(html))
            return
        try:
            failures = []
            for proc in self.procs:
                _out, err = proc.communicate()
                if proc.returncode:
                    failures.append(err.decode("utf-8", "replace").strip().splitlines()[-1:]
                                    or ["exit " + str(proc.returncode)])
            if failures:
                raise RuntimeError("profile PDF rendering failed: " + " | ".join(f[0] for f in failures))
        finally:
            self.abort()

    def abort(self) -> None:
        """Stop the workers still running (the build failed meanwhile) and remove their inputs."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if proc.stderr is not None:
                proc.stderr.close()
        if self.tmp is not None:
            self.tmp.cleanup()


SOURCES = "profile/.pdf-sources.json"  # per language: {pdf file name: sha256 of the HTML it was rendered from}


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _reuse_unchanged(jobs: list[tuple[str, str]], root: Path, previous: Path | None) -> list[tuple[str, str]]:
    """Copy into ``root`` each PDF whose source HTML is the same as in the ``previous`` site (same sha256), and
    return the jobs still to render. A PDF takes WeasyPrint ~2-2.5 s of CPU; a rebuild after a change that touches few
    local authorities (or none of the documents) then renders only those."""
    if previous is None:
        return jobs
    known: dict[str, str] = {}
    for lang in LANGUAGES:
        try:
            listed = json.loads((previous / lang / SOURCES).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        known.update({f"{lang}/profile/{name}": sha for name, sha in listed.items()})
    todo = []
    for rel, html in jobs:
        old = previous / rel
        if known.get(rel) == _sha(html) and old.is_file():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(old, root / rel)
        else:
            todo.append((rel, html))
    return todo


def _record_sources(jobs: list[tuple[str, str]], root: Path) -> None:
    for lang in LANGUAGES:
        listed = {Path(rel).name: _sha(html) for rel, html in jobs if rel.startswith(f"{lang}/")}
        if listed:
            path = root / lang / SOURCES
            previous = {}
            if path.exists():
                previous = json.loads(path.read_text(encoding="utf-8"))
            write_atomic(path, json.dumps({**previous, **listed}, indent=0, sort_keys=True))


def write_profiles(data: model.AtlasData, root: Path, la_codes: list[str], pdf: bool = True,
                   previous: Path | None = None, meanwhile: Callable[[], None] | None = None) -> dict:
    """Write the HTML (and PDF) profile documents of ``la_codes`` in both languages under ``root``; a PDF whose
    HTML is unchanged from the ``previous`` site's is copied from there, not rendered again. The PDFs render in
    worker processes while this process writes the HTML documents and then runs ``meanwhile`` (the rest of the
    atlas); if that fails, the workers are stopped."""
    # the method page the documents (and the atlas's About and area pages) link to: <root>/exception_method.html
    method = write_method_page(root)
    pages = {"profile_html": [], "profile_pdf": [], "method": [method.relative_to(root).as_posix()]}
    untranslated, missing = set(), set()
    pdf_jobs: list[tuple[str, str]] = []
    if pdf:  # the PDFs' HTML first, so their rendering starts at once
        for lang in LANGUAGES:
            for code in la_codes:
                pdf_html, _R = render_profile(data, code, lang, for_pdf=True)
                pdf_jobs.append((f"{lang}/profile/{code}.pdf", pdf_html))
    todo = _reuse_unchanged(pdf_jobs, root, previous) if pdf_jobs else []
    rendering = PdfRendering([(root / rel, html) for rel, html in todo])
    try:
        for lang in LANGUAGES:
            for code in la_codes:
                html, R = render_profile(data, code, lang, has_pdf=pdf)
                rel = f"{lang}/profile/{code}.html"
                write_atomic(root / rel, html)
                pages["profile_html"].append(rel)
                untranslated |= R.L.untranslated
                missing |= R.L.missing
        if meanwhile is not None:
            meanwhile()
    except BaseException:
        rendering.abort()
        raise
    rendering.wait()
    if pdf_jobs:
        _record_sources(pdf_jobs, root)
        pages["profile_pdf"].extend(rel for rel, _html in pdf_jobs)
    return {"pages": pages, "untranslated": untranslated, "missing": missing, "pdfs_rendered": len(todo)}


def build_profile_documents(warehouse: Path, out_dir: Path, la_codes: list[str] | None = None, pdf: bool = True) -> dict:
    """Write the annual cohesion profile documents (HTML and PDF, Welsh and English) of ``la_codes`` (default: all
    22 local authorities) into ``out_dir/<lang>/profile/``, each file replaced atomically. Returns ``pages``
    {profile_html, profile_pdf, method: [relative paths]}, ``untranslated`` and ``missing`` (text with no Welsh)."""
    data = model.load(Path(warehouse))
    codes = la_codes or [la["code"] for la in data.las]
    unknown = [c for c in codes if c not in data.la_by_code]
    if unknown:
        raise ValueError(f"not local authorities of the warehouse: {', '.join(unknown)}")
    return write_profiles(data, Path(out_dir), codes, pdf=pdf)
