"""The HTML pages render in headless Chromium without console errors (a screenshot is taken)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from llm_grader import Grader, load_conversations, load_rubric
from llm_grader.calibration import calibrate
from llm_grader.report import write_report

from .conftest import EXAMPLES
from .test_calibration import CARD, simulate

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None and os.environ.get("CI"):
    pytest.fail("CI must install Debian's chromium for the page tests (.ci/run does)", pytrace=False)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine")


def render(page_path: Path, screenshot: Path) -> list[str]:
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
        page.goto(page_path.as_uri())
        page.wait_for_load_state("load")
        assert page.title()
        page.screenshot(path=str(screenshot), full_page=False)
        browser.close()
    return problems


def test_calibration_report_page(tmp_path: Path) -> None:
    cards, humans, _ = simulate(40, 0.2, seed=2)
    files = write_report(calibrate(CARD, cards, humans, n_boot=50), tmp_path / "report")
    shot = tmp_path / "calibration.png"
    assert render(files["html"], shot) == []
    assert shot.stat().st_size > 10_000


def test_results_page_from_the_cli(tmp_path: Path) -> None:
    results = tmp_path / "cards.jsonl"
    Grader(load_rubric("phone_answering")).grade_many(load_conversations(EXAMPLES), output=results)
    page = tmp_path / "results.html"
    done = subprocess.run(
        [sys.executable, "-m", "llm_grader", "report", str(results), "-o", str(page),
         "--conversations", str(EXAMPLES / "conversations.jsonl")],
        capture_output=True, text=True, encoding="utf-8", timeout=120,
    )
    assert done.returncode == 0, done.stderr
    html = page.read_text(encoding="utf-8")
    assert "<mark>您好</mark>" in html  # a greeting phrase highlighted in its turn
    shot = tmp_path / "results.png"
    assert render(page, shot) == []
    assert shot.stat().st_size > 10_000


def test_results_page_sorts_a_partial_total_by_its_lower_bound(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    from llm_grader.report import results_html

    from .test_report_numbers import CARDS

    page_path = tmp_path / "numbers.html"
    page_path.write_text(results_html(CARDS), encoding="utf-8")
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.goto(page_path.as_uri())
        page.select_option("#sort-key", "total")
        order = page.eval_on_selector_all("#conversations tbody tr", "rs => rs.map(r => r.dataset.id)")
        assert order == ["c2", "c10", "c1", "c3"]  # c2 is partial 45–95: sorted at 45
        page.check("#filter-fatal")
        shown = page.eval_on_selector_all("#conversations tbody tr:not([hidden])", "rs => rs.map(r => r.dataset.id)")
        assert shown == ["c2"]  # an undetermined fatal is not filtered out as "not fatal"
        browser.close()
    assert problems == []


def test_dashboard_page_sorts_and_links_to_the_results_page(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    from .test_qa_lead import GEN

    _, scorecards = GEN.generate(tmp_path / "qa", 200, seed=3)
    page_path = tmp_path / "dashboard.html"
    done = subprocess.run(
        [sys.executable, "-m", "llm_grader", "report", str(scorecards), "-o", str(page_path),
         "--by", "metadata.agent_id,metadata.team", "--period", "week"],
        capture_output=True, text=True, encoding="utf-8", timeout=120,
    )
    assert done.returncode == 0, done.stderr
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
        page.goto(page_path.as_uri())
        assert page.title() and page.locator("html").get_attribute("lang") == "zh-CN"
        page.screenshot(path=str(tmp_path / "dashboard.png"))
        page.click("#groups-1 thead th:nth-child(5)")  # 均分, ascending: the weak agent first
        first = page.eval_on_selector("#groups-1 tbody tr", "r => r.dataset.key")
        assert first == f"{GEN.WEAK_AGENT}/T1"
        page.click("#groups-1 thead th:nth-child(5)")  # descending: the weak agent last
        assert page.eval_on_selector("#groups-1 tbody tr:last-child", "r => r.dataset.key") == first
        assert page.locator("svg polyline").count() == 3  # a trend per team
        href = page.get_attribute("#groups-1 tbody tr:last-child a", "href")
        assert href is not None and href.startswith("dashboard.results.html#ids=")
        page.goto((tmp_path / href.split("#")[0]).as_uri() + "#" + href.split("#")[1])
        shown = page.eval_on_selector_all("#conversations tbody tr:not([hidden])", "rs => rs.length")
        assert shown == 10  # the agent's 10 conversations only
        browser.close()
    assert problems == []
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000
