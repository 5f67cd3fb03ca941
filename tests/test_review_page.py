"""The review page and the batch report page in headless Chromium: filter, override, reload, export, keyboard, blind mode.

Screenshots go to ``$REVIEW_SCREENSHOTS`` (e.g. ``/tmp``) as ``review_*.png`` when it is set,
else to the test's temporary directory.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from llm_grader.report import results_html
from llm_grader.review import VerdictStore, start_review_server

from .test_review import EVIL_ID, Graded, grade_examples

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None and os.environ.get("CI"):
    pytest.fail("CI must install Debian's chromium for the page tests (.ci/run does)", pytrace=False)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine")

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Graded:
    return grade_examples(tmp_path_factory.mktemp("graded"))


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    return Path(os.environ.get("REVIEW_SCREENSHOTS") or tmp_path)


@dataclass
class Served:
    base: str
    store: VerdictStore


@pytest.fixture
def served(graded: Graded, tmp_path: Path) -> Iterator[Served]:
    with VerdictStore(tmp_path / "review.sqlite") as store:
        server = start_review_server(graded.batch, store, reviewer="张三")
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield Served(server.url, store)
        finally:
            server.shutdown()
            thread.join(timeout=30)


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def open_page(browser: Any, problems: list[str]) -> Any:
    """A page that records console errors, page errors, failed requests and any dialog (an XSS)."""
    page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    def dialog(d: Any) -> None:  # an alert() from a transcript would be an XSS
        problems.append(f"dialog: {d.message}")
        d.dismiss()

    page.on("dialog", dialog)
    return page


def rows(page: Any) -> list[str]:
    return [str(r) for r in page.eval_on_selector_all("#queue tbody tr[data-id]", "rs => rs.map(r => r.dataset.id)")]


def test_filter_override_reload_export(browser: Any, served: Served, shots: Path) -> None:
    problems: list[str] = []
    page = open_page(browser, problems)
    page.goto(served.base)
    assert page.title().startswith("复核队列")
    assert len(rows(page)) == 15
    total = page.locator('#queue tr[data-id="c005"] td.num').first.inner_text()
    assert total.startswith("部分 ") and total.endswith(" / 100")  # a partial card: its range, never a bare total
    page.locator('#queue tr[data-id="c005"]').scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "review_list_partial.png"))
    page.get_by_label("需复核", exact=True).check()
    page.get_by_role("button", name="应用").click()
    page.wait_for_url(lambda url: "/?needs_review=1&" in url)
    assert rows(page) == ["c004", "c005", EVIL_ID]
    page.screenshot(path=str(shots / "review_list.png"))

    page.get_by_role("link", name="c004", exact=True).click()
    item = page.locator("#item-efficiency")
    item.get_by_label("改判为").select_option("poor")
    item.get_by_label("理由").fill("处理拖沓,<b>不是</b>“好”")
    item.get_by_role("button", name="改判").click()
    page.wait_for_url(lambda url: "/c/c004?needs_review=1&" in url and url.endswith("&saved=efficiency#item-efficiency"))
    status = page.locator("#item-efficiency-status")
    assert status.inner_text().startswith("已改判 → 差 张三 · ")
    assert status.inner_text().endswith("处理拖沓,<b>不是</b>“好”")  # shown as text, not markup
    # Totals as everywhere else (views.total_text: two decimals; this page rounded to one before).
    assert page.locator("h1").inner_text() == "c004 — 94.44 / 100 → 复核后 77.78 / 100"  # politeness 差 by its rule
    assert page.evaluate("document.activeElement.id") == "item-efficiency"  # focus follows the saved item
    page.screenshot(path=str(shots / "review_override.png"), full_page=True)

    page.reload()
    assert page.locator("#item-efficiency-status").inner_text().startswith("已改判 → 差")
    stored = served.store.latest()[("c004", "efficiency")].verdict
    assert (stored.reviewer, stored.decision, stored.tier, stored.original_tier) == ("张三", "override", "poor", "good")

    page.get_by_role("link", name="← 返回队列").click()
    page.wait_for_url(lambda url: "/?needs_review=1&" in url)
    assert page.locator('#queue tr[data-id="c004"] td').last.inner_text() == "1 / 1 改判 1"
    with page.expect_download() as download:
        page.get_by_role("link", name="人工评分 CSV(用于校准)").click()
    assert download.value.suggested_filename == "human_scores.csv"
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert text.splitlines() == ["conversation_id,rater,item_id,value,blind", "c004,张三,efficiency,poor,0"]

    page.goto(served.base + "c/" + EVIL_ID.replace("/", "%2F"))  # hostile markup stays text
    assert "<script>alert(1)</script>你好" in page.locator("#turn-1").inner_text()
    page.screenshot(path=str(shots / "review_hostile.png"))
    assert problems == []


def _tab_to(page: Any, selector: str, limit: int = 400) -> int:
    """Press Tab until the element matching ``selector`` has focus; how many presses it took."""
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement === document.querySelector(s)", selector):
            return presses
    raise AssertionError(f"Tab never reached {selector}")


def test_keyboard_only(browser: Any, served: Served, shots: Path) -> None:
    problems: list[str] = []
    page = open_page(browser, problems)
    page.goto(served.base)
    _tab_to(page, 'input[name="low_agreement"]')
    page.keyboard.press("Space")
    _tab_to(page, "form.filters button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/?low_agreement=1" in url)
    assert rows(page) == ["c002", "c004"]
    _tab_to(page, '#queue a[href^="/c/c002"]')
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/c/c002?" in url)

    accept = '#item-expression button[value="accept"]'
    _tab_to(page, accept)
    page.screenshot(path=str(shots / "review_keyboard.png"))
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: url.endswith("saved=expression#item-expression"))
    stored = served.store.latest()[("c002", "expression")].verdict
    assert (stored.reviewer, stored.decision, stored.original_tier, stored.kind) == ("张三", "accept", "good", "review")

    # j / k move between items; they do nothing inside a field.
    page.keyboard.press("j")
    assert page.evaluate("document.activeElement.id") == "item-focus"
    for _ in range(4):
        page.keyboard.press("k")
    assert page.evaluate("document.activeElement.id") == "item-first_response_time"
    cited = page.eval_on_selector_all("#item-first_response_time .evidence a", "as => as.map(a => a.hash)")
    marked = page.eval_on_selector_all(".turn.current", "ts => ts.map(t => '#' + t.id)")
    assert cited and marked == sorted(set(cited))  # the focused item's evidence is marked in the transcript
    assert problems == []


def test_report_page_sorts_filters_and_exports(browser: Any, graded: Graded, tmp_path: Path, shots: Path) -> None:
    from llm_grader import load_conversations

    found = {c.id: c for c in load_conversations(graded.conversations)}
    report = tmp_path / "report.html"
    report.write_text(results_html(graded.cards, conversations=found), encoding="utf-8")
    problems: list[str] = []
    page = open_page(browser, problems)
    page.goto(report.as_uri())

    def visible() -> list[str]:
        script = "rs => rs.filter(r => !r.hidden).map(r => r.dataset.id)"
        return [str(i) for i in page.eval_on_selector_all("#conversations tbody tr", script)]

    ids = visible()
    assert ids[:3] == ["c001", "c002", "c003"] and ids[-1] == EVIL_ID and len(ids) == 15
    page.select_option("#sort-key", "total")
    assert visible()[:2] == ["c003", "c005"]
    page.check("#sort-desc")
    assert visible()[-1] == "c003"
    page.check("#filter-review")
    assert visible() == ["c004", EVIL_ID, "c005"]
    page.fill("#filter-text", "a4102")
    assert visible() == ["c004"]
    assert page.locator("#sections > section:not([hidden])").count() == 1
    assert page.inner_text("#shown") == "1 shown"
    page.screenshot(path=str(shots / "review_report.png"))
    with page.expect_download() as download:
        page.click("#export-review")
    assert download.value.suggested_filename == "needs_review.csv"
    text = Path(download.value.path()).read_bytes().decode("utf-8-sig")
    assert text.startswith("conversation_id,item_id,item,tier,points,reason\r\n")
    exported = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [(r["conversation_id"], r["item_id"], r["tier"]) for r in exported] == [
        ("c004", "efficiency", "good"), ("c005", "answer_rigor", ""), (EVIL_ID, "first_response_time", "")
    ]
    assert exported[0]["reason"].endswith("一致率 33% 低于 60%")  # a rationale over two lines, quoted
    assert problems == []


def test_blind_mode_hides_the_ai_tier_until_submitted(browser: Any, graded: Graded, tmp_path: Path, shots: Path) -> None:
    with VerdictStore(tmp_path / "blind.sqlite") as store:
        server = start_review_server(graded.batch, store, reviewer="李四", blind=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            problems: list[str] = []
            page = open_page(browser, problems)
            page.goto(server.url)
            assert "盲评模式" in page.locator("#blind-mode").inner_text()
            assert page.locator('#queue tr[data-id="c004"] td').last.inner_text() == "0 / 10"
            page.get_by_role("link", name="c004", exact=True).click()
            item = page.locator("#item-efficiency")
            assert item.locator("strong").count() == 0  # the AI tier is not in the DOM, nor its rationale
            assert "一致率" not in page.content() and page.locator("mark").count() == 0
            assert page.locator("h1").inner_text() == "c004"
            page.screenshot(path=str(shots / "review_blind_before.png"), full_page=True)
            item.get_by_label("你的评分").select_option("poor")
            item.get_by_role("button", name="提交我的评分").click()
            page.wait_for_url(lambda url: url.endswith("/c/c004?saved=efficiency#item-efficiency"))
            item = page.locator("#item-efficiency")
            assert item.locator("p.status strong").inner_text() == "好"  # revealed: the AI said 好
            assert "一致率 33%" in item.inner_text() and page.locator("#item-efficiency-status").inner_text().startswith("已改判 → 差 李四")
            assert page.locator("#item-norm_compliance strong").count() == 0  # the others stay hidden
            item.scroll_into_view_if_needed()
            page.screenshot(path=str(shots / "review_blind_after.png"))
            stored = store.latest()[("c004", "efficiency")].verdict
            assert (stored.reviewer, stored.tier, stored.original_tier, stored.blind) == ("李四", "poor", "good", True)
            assert problems == []
        finally:
            server.shutdown()
            thread.join(timeout=30)
