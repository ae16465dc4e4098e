"""report.html in a real browser: headless Chromium (Debian's `chromium`, driven by Playwright) opens the report of a
tiny real run and checks that every figure loads, the tables are readable, nothing asks the network for anything
and the page logs no error.

Skips with the reason where Playwright (``pip install 'mlml[browser]'``) or a Chromium executable (``apt-get
install chromium``; or set ``MLML_CHROMIUM`` to one) is absent. Playwright only drives the installed browser: it
downloads none.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from mlml.cli import main


def _chromium() -> str:
    for candidate in (os.environ.get("MLML_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        path = candidate and shutil.which(candidate)
        if path:
            return path
    pytest.skip("no Chromium executable (apt-get install chromium, or set MLML_CHROMIUM)")


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """The report of a tiny real grid: yeast, two methods, r = 0.5, two folds, two epochs, both thresholds."""
    pytest.importorskip("matplotlib", reason="the report's figures need matplotlib (pip install 'mlml[plot]')")
    run_dir = tmp_path_factory.mktemp("browser") / "run"
    argv = ["reproduce", "yeast", "--methods", "bce,cb-wce", "--ratios", "0.5", "--folds", "2", "--epochs", "2",
            "--thresholds", "both", "--out", str(run_dir), "--no-progress"]
    assert main(argv) == 0
    return run_dir / "report.html"


@pytest.fixture(scope="module")
def page_state(report: Path) -> dict:
    """Open the report in headless Chromium; every request is routed: anything but a local file is refused and
    recorded."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed "
                                                                  "(pip install 'mlml[browser]')")
    executable = _chromium()
    state: dict = {"requests": [], "refused": [], "console": [], "page_errors": [], "failed": []}
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda message: state["console"].append((message.type, message.text)))
            page.on("pageerror", lambda error: state["page_errors"].append(str(error)))
            page.on("requestfailed", lambda request: state["failed"].append(request.url))

            def route(route):
                url = route.request.url
                state["requests"].append(url)
                if url.startswith(("file:", "data:")):
                    route.continue_()
                else:
                    state["refused"].append(url)
                    route.abort()

            page.route("**/*", route)
            page.goto(report.as_uri(), wait_until="load")
            page.wait_for_load_state("networkidle")
            state["images"] = page.evaluate(
                """() => [...document.images].map(img => ({alt: img.alt, complete: img.complete,
                       width: img.naturalWidth, height: img.naturalHeight, shown: img.getBoundingClientRect().width,
                       inline: img.src.startsWith('data:image/png;base64,')}))""")
            state["tables"] = page.evaluate(
                """() => [...document.querySelectorAll('table')].map(table => ({
                       rows: [...table.rows].map(row => [...row.cells].map(cell => ({text: cell.innerText.trim(),
                           header: cell.tagName === 'TH', width: cell.getBoundingClientRect().width,
                           font: parseFloat(getComputedStyle(cell).fontSize)}))),
                       right: table.getBoundingClientRect().right}))""")
            state["page_width"] = page.evaluate("() => document.documentElement.clientWidth")
            state["first"] = page.evaluate(
                """() => [...document.body.children].slice(0, 3).map(el => ({tag: el.tagName, id: el.id,
                       text: el.innerText.trim(), top: el.getBoundingClientRect().top,
                       bottom: el.getBoundingClientRect().bottom}))""")
            state["headline_rows"] = page.evaluate(
                """() => [...document.querySelectorAll('#headline tr')].map(row =>
                       [...row.cells].map(cell => cell.innerText.trim()))""")
            state["title"] = page.title()
        finally:
            browser.close()
    return state


def test_every_figure_loads(page_state, report):
    images = page_state["images"]
    expected = len(re.findall(r"^!\[", (report.parent / "report.md").read_text(encoding="utf-8"), flags=re.M))
    assert expected >= 3 and len(images) == expected
    for image in images:
        assert image["complete"] and image["width"] > 0 and image["height"] > 0, image["alt"]
        assert image["shown"] > 100, f"{image['alt']!r} is drawn {image['shown']} px wide"
        assert image["inline"], f"{image['alt']!r} is not embedded in the page"
        assert image["alt"], "a figure without a caption"


def test_tables_are_readable(page_state):
    tables = page_state["tables"]
    assert len(tables) >= 2
    results = [t for t in tables if [c["text"] for c in t["rows"][0]][:3] == ["dataset", "method", "ratio"]
               and "micro F1" in [c["text"] for c in t["rows"][0]]]
    assert len(results) == 2, "a results table (dataset, method, ratio, ...) per threshold choice"
    ranking = [t for t in tables if "P@1" in [c["text"] for c in t["rows"][0]]]
    assert len(ranking) == 1, "one ranking-metrics table (thresholds do not change a ranking)"
    for table in tables:
        header, *body = table["rows"]
        if header and header[0]["text"] == "dataset" and header[2]["text"].startswith("best method"):
            continue  # the headline's table (test_the_headline_comes_first)
        assert body and all(cell["header"] and cell["text"] for cell in header)
        for row in body:
            assert len(row) == len(header) and all(not cell["header"] for cell in row)
        for cell in (c for row in table["rows"] for c in row):
            assert cell["font"] >= 10 and (cell["width"] > 0 or not cell["text"])
        assert table["right"] <= page_state["page_width"], "a table runs off the page"
    for table in results:
        header = [c["text"] for c in table["rows"][0]]
        assert {"mAP", "micro F1", "micro ROC-AUC"} <= set(header)
        assert {row[1]["text"] for row in table["rows"][1:]} == {"bce", "cb-wce"}
        value = table["rows"][1][header.index("mAP")]["text"]
        assert re.fullmatch(r"0\.\d{3} ± 0\.\d{3}", value), value


def test_nothing_requests_the_network(page_state, report):
    assert page_state["refused"] == []
    assert page_state["failed"] == []
    assert page_state["requests"] == [report.as_uri()]  # the page itself; the figures are inline


def test_no_console_errors(page_state):
    assert [m for m in page_state["console"] if m[0] in ("error", "warning")] == []
    assert page_state["page_errors"] == []
    assert page_state["title"].startswith("mlml report")


def test_the_headline_comes_first(page_state):
    """The answer before anything else: right under the title, in the first screen, the best method with its own
    policy and its margin over BCE with an interval."""
    first = page_state["first"]
    assert first[0]["tag"] == "H1" and first[1]["tag"] == "SECTION" and first[1]["id"] == "headline"
    assert first[1]["bottom"] <= 900, "the headline runs past the first screen"
    header, *rows = page_state["headline_rows"]
    assert header[:5] == ["dataset", "ratio", "best method (own policy)", "micro F1", "over BCE"]
    assert len(rows) == 1 and rows[0][:2] == ["yeast", "0.5"]
    assert re.fullmatch(r"(bce|cb-wce) \(\w+\)", rows[0][2])
    assert rows[0][4] == "(is BCE)" or re.search(r"95% CI [+-]\d\.\d{3} to [+-]\d\.\d{3}, p [=<] ", rows[0][4])
    assert "Headline" in first[1]["text"] and "paired" in first[1]["text"]
