"""The chat app in a real Chromium (Playwright): citations select their highlighted source; uploads index.

Every request the page makes must go to the app on 127.0.0.1 (no fonts, CDNs or analytics).
Screenshots go to the test's tmp_path and to test-output/ in the repository (git-ignored).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from rag.settings import Settings
from tests.conftest import REPO
from tests.integration.test_app import ZORB, Server, copy_seed_index, start_app, stop_app

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CHROMIUM = shutil.which("chromium")
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
OUTPUT = REPO / "test-output"
TIMEOUT_MS = 45_000


@pytest.fixture(scope="module")
def app_server(seed_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("browser-app")
    running = start_app(copy_seed_index(seed_settings, base), base)
    yield running
    stop_app(running.process)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium); Playwright's own download needs internet")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture()
def page(browser: Any, app_server: Server) -> Iterator[Any]:
    """A fresh page; afterwards, every request it made must have gone to the app on 127.0.0.1."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(app_server.url, wait_until="load")
    page.locator("#question textarea").wait_for(state="visible")
    yield page
    context.close()
    app_port = urlparse(app_server.url).port
    outside = [
        url for url in requests
        if urlparse(url).scheme not in ("data", "blob")
        and (urlparse(url).hostname != "127.0.0.1" or urlparse(url).port != app_port)
    ]
    assert requests and not outside, f"requests left the app: {outside}"


def screenshot(page: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    OUTPUT.mkdir(exist_ok=True)
    shutil.copy(path, OUTPUT / name)
    return path


def ask(page: Any, question: str) -> Any:
    """Type a question, send it, and return the locator of the final assistant message."""
    before = page.locator("#chat .rag-answer, #chat .rag-refusal, #chat .rag-error").count()
    page.locator("#question textarea").fill(question)
    page.locator("#ask-btn").click()
    final = page.locator("#chat .rag-answer, #chat .rag-refusal, #chat .rag-error").nth(before)
    final.wait_for(state="visible")
    return final


def test_citation_click_highlights_its_passage_in_the_sources_panel(page: Any, app_server: Server,
                                                                     tmp_path: Path) -> None:
    from gradio_client import Client
    from playwright.sync_api import expect

    expected = Client(app_server.url, verbose=False).predict("Why won't Starmer leave the ECHR?", api_name="/ask")
    quote = expected["citations"][0]["quote"]
    # A quote may span a paragraph break, which the page renders as a line break.
    quote_text = re.compile(r"\s*".join(re.escape(word) for word in quote.split()))

    answer = ask(page, "Why won't Starmer leave the ECHR?")
    expect(answer).to_contain_text("ECHR")
    links = answer.locator("a.cite")
    expect(links.first).to_be_visible()
    assert links.count() >= 1
    expect(page.locator("#sources-panel")).to_contain_text("Found 5 passages from 3 articles")

    # Scroll the panel away from the card first, so the click has to bring it back.
    page.locator("#sources-panel .rag-rest summary").first.click()
    page.locator("#sources-panel .rag-rest .rag-card").last.scroll_into_view_if_needed()
    links.first.click()

    selected = page.locator("#sources-panel .rag-card.rag-selected")
    expect(selected).to_have_count(1)
    expect(selected).to_have_attribute("id", "src-0-1")
    mark = selected.locator("blockquote mark")
    expect(mark).to_be_visible()
    expect(mark).to_be_in_viewport()
    expect(mark).to_have_text(quote_text)
    expect(selected).to_contain_text(expected["citations"][0]["source"])
    assert page.url.rstrip("/") == app_server.url.rstrip("/")  # no navigation, no new tab
    page.wait_for_timeout(1300)  # let the highlight flash settle for the screenshot
    screenshot(page, tmp_path, "chat-citation.png")

    # The whole article, with the passage marked in it.
    selected.locator("summary", has_text="Show full article").click()
    full_mark = selected.locator(".rag-article-text mark")
    expect(full_mark).to_be_visible()
    expect(full_mark).to_have_text(quote_text)
    screenshot(page, tmp_path, "chat-full-article.png")

    # A second turn; its quote lies deep in its article: opening the article scrolls to the mark.
    ask(page, "What did Amnesty International UK say?")
    expect(page.locator("#sources-panel section.rag-turn:not([hidden])")).to_have_attribute("id", "turn-1")
    page.locator('#chat a.cite[href="#src-1-1"]').click()
    card = page.locator("#src-1-1")
    expect(card).to_have_class("rag-card rag-selected")
    card.locator("summary", has_text="Show full article").click()
    expect(card.locator(".rag-article-text mark")).to_contain_text("Amnesty International UK")
    expect(card.locator(".rag-article-text mark")).to_be_in_viewport()

    # A click on the first turn's citation brings its sources back.
    page.locator('#chat a.cite[href="#src-0-1"]').click()
    expect(page.locator("#sources-panel section.rag-turn:not([hidden])")).to_have_attribute("id", "turn-0")
    expect(page.locator("#sources-panel .rag-card.rag-selected")).to_have_attribute("id", "src-0-1")

    # Off-topic: a refusal block, not an answer.
    refusal = ask(page, "What is the boiling point of tungsten?")
    expect(refusal).to_have_class("rag-refusal")
    expect(refusal).to_contain_text("The articles don't cover this.")
    expect(refusal).to_contain_text("Nearest passages")
    screenshot(page, tmp_path, "chat-refusal.png")

    page.locator("#new-chat").click()
    expect(page.locator("#chat .rag-answer")).to_have_count(0)
    expect(page.locator("#sources-panel")).to_contain_text("Click a citation")


def test_uploaded_article_is_indexed_and_cited(page: Any, app_server: Server, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    article = tmp_path / "zorbian-lighthouse-act.txt"
    article.write_text(ZORB)
    page.get_by_role("tab", name="Articles").click()
    page.locator("#upload input[type=file]").set_input_files(str(article))
    report = page.locator("#index-report")
    expect(report).to_contain_text("zorbian-lighthouse-act.txt saved", timeout=60_000)
    expect(report).to_contain_text("1 added")
    expect(page.locator("#articles-table")).to_contain_text("Zorbian Lighthouse Act 2031")
    expect(page.locator("#index-status")).to_contain_text("4 articles")
    screenshot(page, tmp_path, "articles-upload.png")
    assert (Path(app_server.settings.corpus_dir) / "zorbian-lighthouse-act.txt").read_text() == ZORB

    page.get_by_role("tab", name="Chat").click()
    answer = ask(page, "What does the Zorbian Lighthouse Act 2031 require?")
    expect(answer).to_contain_text("lighthouse")
    zorb_link = None
    for i in range(answer.locator("a.cite").count()):
        link = answer.locator("a.cite").nth(i)
        if "Zorbian" in (link.get_attribute("title") or ""):
            zorb_link = link
            break
    assert zorb_link is not None, answer.inner_html()
    zorb_link.click()
    selected = page.locator("#sources-panel .rag-card.rag-selected")
    expect(selected).to_contain_text("zorbian-lighthouse-act.txt")
    expect(selected.locator("blockquote mark")).to_be_visible()
    expect(selected.locator("blockquote mark")).to_contain_text("Zorbian")
    page.wait_for_timeout(1300)
    screenshot(page, tmp_path, "chat-uploaded.png")
