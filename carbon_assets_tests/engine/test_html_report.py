"""The self-contained HTML report: deterministic bytes, no external URL, and a real load in headless
Chromium (Debian's package, driven by Selenium) that shows the input totals, renders every chart and
makes no network request."""

import hashlib
import json
import os
import re
import subprocess
import sys

import numpy as np
import polars as pl
import pytest

from carbon_assets.engine import html_report, reports
from carbon_assets.engine.exports import ExportError
from carbon_assets.engine.sensitivity import tornado
from carbon_assets_tests.browser import need_binary
from carbon_assets_tests.engine import report_inputs as ri

PROVENANCE = {"fe_snapshot_id": "fs-0123456789abcdef", "code_version": "0.1.0+git-abcd1234",
              "github_repo_url": "https://github.com/incubateur-ademe/nosgestesclimat"}
RENDER = """
import hashlib
from carbon_assets_tests.engine import report_inputs as ri, test_html_report as t
print(hashlib.sha256(t._render(ri.inputs("acme-fr", "2024")).encode()).hexdigest())
"""


@pytest.fixture(scope="module")
def acme():
    return ri.inputs("acme-fr", "2024")


def _render(i, **kw) -> str:
    problem = reports.problem_for(i.emissions)
    swings = tornado(problem, problem.groups.index((reports.TOTAL, reports.TOTAL)))
    return html_report.render(i.tenant, i.year, i.views, i.total_samples, i.sensitivity, i.esrs,
                              signature=ri.SIGNATURE, provenance=PROVENANCE, tornado=swings, **kw)


def _total(i, basis: str) -> dict:
    return i.views.filter((pl.col("view") == "total") & (pl.col("basis") == basis)).row(0, named=True)


def test_same_inputs_same_bytes(acme):
    doc = _render(acme).encode()
    assert _render(acme).encode() == doc
    # and in a fresh process (no matplotlib state, font cache or hash seed shared)
    out = subprocess.run([sys.executable, "-c", RENDER], capture_output=True, text=True, timeout=120, check=True,
                         env={**os.environ, "PYTHONHASHSEED": "123"})
    assert out.stdout.strip() == hashlib.sha256(doc).hexdigest()


def test_self_contained_and_shows_the_totals(acme):
    doc = _render(acme)
    # nothing to fetch: images inline, no link, no script, no CSS url(); the repository URL is text only
    srcs = re.findall(r'\b(?:src|href)\s*=\s*"([^"]*)"', doc)
    assert len(srcs) == 4 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "<script" not in doc and "<link" not in doc and "url(" not in doc and "@import" not in doc
    assert re.findall(r"https?://[^\s<\"]*", doc) == ["https://github.com/incubateur-ademe/nosgestesclimat"]
    assert "default-src 'none'" in doc  # and the browser is told to fetch nothing
    assert '<span id="total-location">42.57</span> tCO2e' in doc  # the demo's published total
    market = _total(acme, "market")["deterministic_kgco2e"]
    assert f'<span id="total-market">{market / 1000:.2f}</span>' in doc
    # every ESRS datapoint and every poste row is in its table
    assert doc.count("<td class=\"text\">esrs:") == acme.esrs.height
    assert "Déplacements professionnels" in doc


def test_binned_distribution_and_incomplete_views(acme):
    counts, edges = np.histogram(acme.total_samples, bins=40)
    doc = html_report.render(acme.tenant, acme.year, acme.views, (counts, edges), acme.sensitivity, acme.esrs)
    assert doc.count('src="data:image/png;base64,') == 3  # scopes, histogram, Sobol (no tornado given)
    no_market = acme.views.filter(~((pl.col("view") == "total") & (pl.col("basis") == "market")))
    with pytest.raises(ExportError, match="one total row with basis 'market'.*found 0"):
        html_report.render(acme.tenant, acme.year, no_market, acme.total_samples, acme.sensitivity, acme.esrs)
    with pytest.raises(ExportError, match="non-empty 1-D array"):
        html_report.render(acme.tenant, acme.year, acme.views, np.zeros(0), acme.sensitivity, acme.esrs)


def _need(binary: str) -> str:
    return need_binary(binary, "browser test")


@pytest.fixture
def chromium():
    binary, driver_path = _need("chromium"), _need("chromedriver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=opts)
    try:
        yield driver
    finally:
        driver.quit()


def _load(driver, path, html: str):
    path.write_text(html, encoding="utf-8")
    driver.get(path.as_uri())
    requested = [json.loads(e["message"])["message"] for e in driver.get_log("performance")]
    urls = [m["params"]["request"]["url"] for m in requested if m["method"] == "Network.requestWillBeSent"]
    return urls, [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_the_browser_checks_see_an_external_fetch(acme, chromium, tmp_path):
    """The two checks below would catch a report that fetched something: the request is logged, and the
    page's Content-Security-Policy refuses it with a console error."""
    html = _render(acme).replace("</body>", '<img src="http://127.0.0.1:9/pixel.png" alt="x"></body>')
    urls, severe = _load(chromium, tmp_path / "leaky.html", html)
    assert "http://127.0.0.1:9/pixel.png" in urls
    assert [e["source"] for e in severe] == ["security"] and "Content Security Policy" in severe[0]["message"]


def test_report_in_headless_chromium(acme, chromium, tmp_path):
    from selenium.webdriver.common.by import By

    page = tmp_path / "report.html"
    urls, severe = _load(chromium, page, _render(acme))
    assert chromium.title == "GHG inventory acme-fr 2024"
    # the totals shown are the input totals (tCO2e, 2 decimals)
    for basis in ("location", "market"):
        t = _total(acme, basis)
        for suffix, col in (("", "deterministic_kgco2e"), ("-mean", "mean_kgco2e"), ("-p5", "p5_kgco2e"),
                            ("-p95", "p95_kgco2e")):
            shown = chromium.find_element(By.ID, f"total-{basis}{suffix}").text
            assert float(shown) == round(t[col] / 1000, 2), (basis, suffix)
    assert chromium.find_element(By.ID, "total-location").text == "42.57"
    # every chart decoded and laid out
    images = chromium.find_elements(By.TAG_NAME, "img")
    assert [i.get_attribute("id") for i in images] == ["chart-scopes", "chart-histogram", "chart-sobol",
                                                       "chart-tornado"]
    for img in images:
        assert chromium.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img) > 100
        assert img.size["width"] > 100 and img.size["height"] > 100
    rows = chromium.find_elements(By.CSS_SELECTOR, "#table-esrs tbody tr")
    assert len(rows) == acme.esrs.height
    assert severe == []
    # the only requests are the page itself and its data: URIs
    assert page.as_uri() in urls
    assert [u for u in urls if not u.startswith(("file://", "data:"))] == []
