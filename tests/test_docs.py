"""The documentation a person reads: the Dagster asset descriptions, the dbt docs (overview, owners, exposures)
and the Great Expectations Data Docs, which must work on a machine without internet."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import duckdb
import pytest

from orchestration.defs.dbt import dbt_project
from orchestration.lib.quality.data_docs import (
    CDN,
    CSS_DIR,
    OWN_STATIC,
    VENDOR_DIR,
    OfflineTemplateLoader,
    external_references,
    offline_source,
    stylesheet_script,
)
from orchestration.lib.quality.runner import build_docs, docs_index, run_suite

MANIFEST = json.loads(Path(dbt_project.manifest_path).read_text(encoding="utf-8"))
PROJECT = MANIFEST["metadata"]["project_name"]


def _models(schema: str | None = None):
    return [n for n in MANIFEST["nodes"].values()
            if n["resource_type"] == "model" and (schema is None or n["schema"] == schema)]


def _seeds():
    return [n for n in MANIFEST["nodes"].values() if n["resource_type"] == "seed"]


def _exposure(name: str) -> dict:
    return MANIFEST["exposures"][f"exposure.{PROJECT}.{name}"]


# ------------------------------------------------------------------------------------------------ Dagster


def test_no_asset_description_shows_raw_sql():
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        description = graph.get(key).description or ""
        assert "#### Raw SQL" not in description and "```sql" not in description, key.to_user_string()


def test_a_dbt_asset_gives_the_dbt_description_and_where_the_model_lives():
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    cia = graph.get(next(k for k in graph.get_all_asset_keys() if k.path == ["marts", "fct_cia"])).description
    assert cia.startswith(MANIFEST["nodes"][f"model.{PROJECT}.fct_cia"]["description"].strip())
    assert "`dbt_project/models/marts/fct_cia.sql`" in cia and f"model.{PROJECT}.fct_cia" in cia
    seed = graph.get(next(k for k in graph.get_all_asset_keys() if k.path == ["ref", "eep_grades"])).description
    assert "`seeds/reference/eep_grades.csv`" in seed


# ------------------------------------------------------------------------------------------------ dbt docs


def test_the_project_has_an_overview_page():
    overview = MANIFEST["docs"].get(f"doc.{PROJECT}.__overview__")
    assert overview, "models/overview.md: {% docs __overview__ %}"
    text = " ".join(overview["block_contents"].split())
    for words in ("Community Mapping and Tension Monitoring", "## Layers", "## Tiers and privacy",
                  "## Where the outputs go", "make run"):
        assert words in text, words


def test_every_model_seed_and_exposure_has_an_owner():
    groups = {g["name"]: g for g in MANIFEST["groups"].values()}
    for node in _models() + _seeds():
        group = groups.get(node.get("group") or "")
        assert group, f"{node['unique_id']} is in no dbt group (dbt_project.yml +group, or config: group:)"
        assert group["owner"].get("email") and group["owner"].get("name"), group["name"]
    for exposure in MANIFEST["exposures"].values():
        assert exposure["owner"].get("email") and exposure["owner"].get("name"), exposure["unique_id"]


def test_partner_data_models_are_owned_as_tension_monitoring_and_no_others():
    """A model built on the partner extracts (dbt source `partner`), at any distance, answers to the
    tension_monitoring group; so does nothing else. A new partner model without `group:` fails here."""
    children = MANIFEST["child_map"]
    tainted, todo = set(), [uid for uid, s in MANIFEST["sources"].items() if s["source_name"] == "partner"]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in tainted:
                tainted.add(child)
                todo.append(child)
    for model in _models():
        expected = "tension_monitoring" if model["unique_id"] in tainted else "cohesion_tracking"
        assert model["group"] == expected, model["name"]


def test_the_outputs_are_exposures():
    expected = {"quarterly_monitoring_pack": "analysis", "crime_exception_report": "analysis",
                "cohesion_atlas": "dashboard", "annual_cohesion_profile": "analysis", "bi_exports": "application"}
    assert {e["name"]: e["type"] for e in MANIFEST["exposures"].values()} == expected
    for exposure in MANIFEST["exposures"].values():
        assert not exposure.get("url") or not re.match(r"https?://", exposure["url"]), exposure["name"]

    def reads(name):
        return {MANIFEST["nodes"][uid]["name"] for uid in _exposure(name)["depends_on"]["nodes"]}

    assert reads("cohesion_atlas") == {
        "mart_cohesion_profile", "mart_community_profile", "fct_indicator_value", "fct_indicator_benchmark",
        "fct_indicator_change", "fct_crime_exception", "dim_geography", "indicator_catalogue", "local_authority"}
    assert reads("annual_cohesion_profile") == {
        "mart_cohesion_profile", "mart_community_profile", "fct_indicator_value", "dim_geography",
        "indicator_catalogue"}
    # the BI exports copy every mart and every reference table: a new one must be added to the exposure
    assert reads("bi_exports") == {n["name"] for n in _models("marts") + _seeds()}


def test_dbt_docs_never_load_their_usage_tracker():
    # dbt docs' index.html loads a third-party tracking script only when the manifest says so
    assert MANIFEST["metadata"]["send_anonymous_usage_stats"] is False


# ------------------------------------------------------------------------------------------ GX Data Docs


def test_every_vendored_file_names_its_origin_version_and_licence():
    readme = (VENDOR_DIR / "README.md").read_text(encoding="utf-8")
    folders = sorted(p for p in VENDOR_DIR.iterdir() if p.is_dir())
    assert len(folders) == 10
    for folder in folders:
        assert f"`{folder.name}/`" in readme, f"{folder.name} is not in vendor/README.md"
        assert any(folder.glob("LICENSE*")), f"{folder.name} has no licence file"
        version = folder.name.rsplit("-", 1)[1]
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), folder.name
    for local in CDN.values():
        assert (VENDOR_DIR / local).is_file(), local
    assert (OWN_STATIC / "logo.svg").is_file() and (OWN_STATIC / "favicon.svg").is_file()


def test_no_gx_template_loads_anything_from_the_internet():
    """Every GX 1.x HTML template and stylesheet, as our views read them, asks only for relative addresses: a GX
    upgrade that adds a CDN file fails here (add it to data_docs.CDN and vendor/)."""
    from jinja2 import Environment, PackageLoader

    loader = OfflineTemplateLoader(PackageLoader("great_expectations", "render/view/templates"))
    styles = PackageLoader("great_expectations", "render/view/static/styles")
    env = Environment()
    sources = {name: loader.get_source(env, name)[0] for name in loader.list_templates()
               if not name.startswith("markdown_") and name.endswith((".j2", ".css"))}
    sources |= {name: offline_source(styles.get_source(env, name)[0]) for name in styles.list_templates()}
    external = re.compile(r"""(?:\b(?:src|href)\s*=\s*["']?|url\(\s*["']?|@import\s+["'])\s*(?:https?:)?//""", re.I)
    assert {name for name, text in sources.items() if external.search(text)} == set()
    assert "top_navbar.j2" in sources and "static/cohesion/logo.svg" in sources["top_navbar.j2"]


def test_a_vendored_stylesheet_is_put_in_the_page_by_its_script():
    """Chromium hides the rules of a stylesheet read from another file:// address from the page's scripts, and
    axe-core then fetches it by XMLHttpRequest, which file:// refuses (a console error per stylesheet): a vendored
    stylesheet's <link> becomes its script, with the link kept for a reader without JavaScript."""
    link = '<link rel="stylesheet" type="text/css" href="https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css">'
    page = offline_source(f"<!DOCTYPE html>\n<html>\n<head>{link}</head></html>")
    local = "{{ site_root }}static/vendor/fontawesome-free-6.6.0/css/all.min.css"
    assert page == (f'<!DOCTYPE html>\n<html lang="en">\n<head><script src="{local}.js"></script>'
                    f'<noscript><link rel="stylesheet" href="{local}"></noscript></head></html>')
    # other links (the favicon) and stylesheets that are not vendored are left as they are
    assert offline_source('<link rel="icon" href="x.svg"/><link rel="stylesheet" href="own.css">') == \
        '<link rel="icon" href="x.svg"/><link rel="stylesheet" href="own.css">'


def test_a_stylesheet_script_carries_the_rules_and_resolves_their_addresses_beside_itself():
    css = ('.a{content:"\\f00c"}@font-face{src:url(../webfonts/fa.woff2) format("woff2"),url( "x y.ttf" )}'
           ".b{background:url('data:image/svg+xml,%3csvg%3e')}.c{fill:url(#g)}.d{background:url(https://e.org/i.png)}"
           ".e{background:url(/root.png)}.f{background:url('img/it\\'s.png')}")
    script = stylesheet_script(css)
    rules = json.loads(re.search(r"style\.textContent = (.*)\n", script)[1])
    assert rules == (
        '.a{content:"\\f00c"}'  # the escape reaches the browser as written
        f'@font-face{{src:url({CSS_DIR}../webfonts/fa.woff2) format("woff2"),url("{CSS_DIR}x y.ttf")}}'
        ".b{background:url('data:image/svg+xml,%3csvg%3e')}.c{fill:url(#g)}.d{background:url(https://e.org/i.png)}"
        ".e{background:url(/root.png)}.f{background:url('img/it\\'s.png')}")
    # in the browser: the placeholder becomes the script's folder, and the style goes where the script is
    assert f'.split({json.dumps(CSS_DIR)}).join(new URL(".", script.src).href)' in script
    assert "document.currentScript" in script and "insertBefore(style, script.nextSibling)" in script
    fontawesome = (VENDOR_DIR / "fontawesome-free-6.6.0/css/all.min.css").read_text(encoding="utf-8")
    real = stylesheet_script(fontawesome)
    assert real.count(f"url({CSS_DIR}../webfonts/") == fontawesome.count("url(../webfonts/") > 0
    assert "url(../" not in real


def test_gx_templates_are_made_accessible_through_the_loader():
    from jinja2 import Environment, PackageLoader

    env = Environment(loader=OfflineTemplateLoader(PackageLoader("great_expectations", "render/view/templates")))
    # the index page's tabs are a tab list: no list item between the tablist and its tabs
    tabs = env.loader.get_source(env, "tabs.j2")[0]
    assert 'role="tablist"' in tabs and '<li class="nav-item" role="presentation">' in tabs
    assert '<li class="nav-item">' not in tabs
    # GX's scripts, then ours (accessible names for bootstrap-table's filters, keyboard access to its scroll box)
    imports = env.get_template("js_script_imports.j2").render(renderer_type="SiteIndexPageRenderer", site_root="./")
    assert imports.index("bootstrap-table-filter-control.min.js") < imports.index("./static/cohesion/data_docs.js")
    assert (OWN_STATIC / "data_docs.js").is_file()
    for page in ("page.j2", "index_page.j2", "page_minimal.j2"):
        source = env.loader.get_source(env, page)[0]
        assert '<html lang="en">' in source and '<link rel="stylesheet" href="{{ site_root }}static/vendor' not in \
            source.replace("<noscript><link", "")


def _assert_offline(site: Path) -> None:
    assert external_references(site) == []
    # and every relative address a page uses (scripts, styles, logo, links between pages) is in the site
    missing = []
    for page in site.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        for address in re.findall(r"""\b(?:src|href)\s*=\s*"([^"#]+)""", html):
            if "{{" in address or address.startswith(("data:", "javascript:", "mailto:")):
                continue
            path = unquote(urlsplit(address).path)
            if path and not (page.parent / path).resolve().exists():
                missing.append(f"{page.relative_to(site)}: {address}")
    assert missing == []
    for local in CDN.values():
        assert (site / "static" / "vendor" / local).is_file(), local


def test_a_data_docs_site_reads_offline(tmp_path):
    con = duckdb.connect()
    con.execute("create table t as select range as id, if(range % 7 = 0, 'bad', 'ok') as status from range(50)")
    suite = {"name": "docs_demo", "meta": {"query": "select * from t", "asset_key": ["marts", "t"]},
             "expectations": [
                 {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "status", "value_set": ["ok"]}},
                 {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}}]}
    gx_dir = tmp_path / "gx"
    outcome = run_suite(suite, con, gx_dir, run_id="docs-test")
    assert not outcome.success  # a failing expectation: its page shows the unexpected values
    assert build_docs(gx_dir) == docs_index(gx_dir)
    site = docs_index(gx_dir).parent
    assert len(list((site / "validations" / "docs_demo").rglob("*.html"))) == 1
    _assert_offline(site)
    index = docs_index(gx_dir).read_text(encoding="utf-8")
    assert "docs_demo" in index and "static/cohesion/logo.svg" in index
    assert '<html lang="en">' in index and "static/cohesion/data_docs.js" in index
    for local in CDN.values():
        if local.endswith(".css"):
            assert (site / "static" / "vendor" / f"{local}.js").is_file(), local


@pytest.mark.slow
def test_the_built_data_docs_read_offline(built):
    site = docs_index(built["settings"].gx_dir).parent
    assert len(list((site / "validations").rglob("*.html"))) >= 20
    _assert_offline(site)
