"""The quarterly exception report: flags recomputed independently, and the page as a browser shows it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import date

import pytest
import scipy.stats

from tests.independent import CRIME_GROUPS, GWENT_LAS, counted_street_rows, lsoa21_codes, lsoa_to_la, one



def months(start: date, n: int) -> set[str]:
    out = set()
    y, m = start.year, start.month
    for _ in range(n):
        out.add(f"{y}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def test_latest_complete_quarter_is_reported(built, warehouse):
    quarters = warehouse.sql("select distinct quarter_start from reports.crime_exceptions").fetchall()
    assert quarters == [(date(2024, 4, 1),)]
    report = built["settings"].reports_dir / "crime_exception_report_2024-Q2.html"
    html = report.read_text(encoding="utf-8")
    assert "2024 Q2" in html and "Exact conditional Poisson test" in html and "Benjamini" in html
    assert "rest of the police force" in html and "Force-wide change this quarter" in html
    assert "per 1,000 person-years" in html and "exception_method" in html
    assert "data.police.uk" in html and "2022-01 to 2024-06" in html and "Census 2021" in html
    assert "Open Government Licence v3.0" in html
    assert not re.search(r"""(src|href)\s*=\s*["']https?:""", html)


def test_a_flagged_lsoa_statistic_recomputed_from_the_raw_files(warehouse):
    """The most significant flag, from the raw CSVs (a Crime ID once per month) and scipy: the LSOA's count
    against its previous four quarters scaled by the rest of Gwent."""
    lsoa, group, observed, baseline, expected, p_value = one(
        warehouse,
        "select lsoa21_code, crime_group, observed, baseline_count, expected, p_value from reports.crime_exceptions "
        "where is_flagged order by q_value, lsoa21_code limit 1",
    )
    current, base = months(date(2024, 4, 1), 3), months(date(2023, 4, 1), 12)
    # in these months police.uk already used 2021 codes, so the LSOA code can be matched directly
    assert all(r["LSOA code"] in lsoa21_codes() for r in counted_street_rows()
               if r["Month"] in current | base and r["LSOA code"].startswith("W01"))
    la = lsoa_to_la()
    force = [r for r in counted_street_rows() if la.get(r["LSOA code"]) in GWENT_LAS and CRIME_GROUPS[group](r["Crime type"])]
    k = sum(r["Month"] in current and r["LSOA code"] == lsoa for r in force)
    b = sum(r["Month"] in base and r["LSOA code"] == lsoa for r in force)
    f1 = sum(r["Month"] in current for r in force)
    f0 = sum(r["Month"] in base for r in force)
    assert (observed, baseline) == (k, b)
    assert expected == pytest.approx(b * (f1 - k) / (f0 - b), rel=1e-12)
    expected_p = scipy.stats.binomtest(k, k + b, (f1 - k) / ((f1 - k) + (f0 - b)), alternative="greater").pvalue
    assert p_value == pytest.approx(expected_p, rel=1e-9)


def test_flags_are_benjamini_hochberg_q_below_005_among_the_tested(warehouse):
    rows = warehouse.execute(
        "select crime_group, is_tested, p_value, q_value, is_flagged, observed + baseline_count "
        "from reports.crime_exceptions order by lsoa21_code, crime_group"
    ).fetchall()
    assert len(rows) == 374 * 4
    for group in CRIME_GROUPS:
        mine = [r for r in rows if r[0] == group]
        assert all(r[1] == (r[5] >= 10) for r in mine)
        assert all(r[2] is None and r[3] is None and not r[4] for r in mine if not r[1])
        tested = [r for r in mine if r[1]]
        q = scipy.stats.false_discovery_control([r[2] for r in tested], method="bh")
        assert [r[3] for r in tested] == pytest.approx(list(q), rel=1e-9, abs=1e-15)
        assert all(r[4] <= (qi < 0.05) for r, qi in zip(tested, q))  # a flag also needs the change threshold
    assert 0 < sum(r[4] for r in rows) < sum(r[1] for r in rows)


def test_the_report_renders_in_a_real_browser(built, warehouse, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (.ci/run installs it)")
        pytest.skip("chromium not installed (apt-get install chromium)")
    report = built["settings"].reports_dir / "crime_exception_report_latest.html"
    dom = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--no-first-run", "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
         "--dump-dom", report.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout
    (flags,) = one(warehouse, "select count(*) from reports.crime_exceptions where is_flagged")
    flagged_table = dom.split("LSOAs significantly above their baseline", 1)[1].split("</table>", 1)[0]
    body = flagged_table.split("<tbody>", 1)[1]
    assert body.count("<tr") == flags


def test_fdr_is_described_per_crime_group_family_with_each_familys_size(built, warehouse):
    """Benjamini-Hochberg runs within each crime group (fct_crime_exception: level × crime group × quarter), so the
    report names one family per crime group and its size, never one family across all tests."""
    html = (built["settings"].reports_dir / "crime_exception_report_latest.html").read_text(encoding="utf-8")
    flat = " ".join(re.sub(r"<[^>]+>", " ", html).split())
    sizes = dict(warehouse.execute(
        "select crime_group, count(*) filter (where is_tested) from reports.crime_exceptions group by 1").fetchall())
    labels = dict(warehouse.execute("select crime_group, crime_group_label from ref.crime_groups").fetchall())
    assert len(sizes) == 4 and sum(sizes.values()) > 1000
    assert "applied separately within each crime group" in flat
    for group, n in sizes.items():
        assert re.search(rf"{re.escape(labels[group])}: {n:,} tests", flat, re.I), (group, n)
    assert f"{sum(sizes.values()):,} tests in all" in flat
    assert not re.search(r"applied across [\d,]+ tests", flat)


def test_the_report_links_the_method_page_beside_it(built):
    """The method is linked, not restated: a relative link to exception_method.html, which the build wrote in the
    report's folder from the dbt docs block exception_method."""
    reports = built["settings"].reports_dir
    for name in ("crime_exception_report_latest.html", "crime_exception_report_2024-Q2.html"):
        html = (reports / name).read_text(encoding="utf-8")
        links = re.findall(r'<a href="([^"]+)"', html)
        assert "exception_method.html" in links
        for href in links:
            assert (reports / href).is_file(), href
    page = (reports / "exception_method.html").read_text(encoding="utf-8")
    assert "Benjamini" in page and "mart_cohesion_profile" in page and 'lang="cy"' in page
