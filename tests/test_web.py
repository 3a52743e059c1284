"""The web page in a real headless Chromium (Debian's, driven by Playwright's Python package): type a
question, see hits with the best sentence marked, open one, see its related passages, switch to all
articles, all with the keyboard. Skipped cleanly where chromium or playwright is absent.

Set SEMSEARCH_WEB_SCREENSHOT=/path.png to keep a screenshot of the opened passage."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.servekit import build_corpus_index, running_server

CHROMIUM = os.environ.get("SEMSEARCH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason=f"no chromium at {CHROMIUM} (apt-get install chromium)")
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")


@pytest.fixture(scope="module")
def site(tmp_path_factory, tiny_bert_dir):
    root = tmp_path_factory.mktemp("web")
    with running_server(build_corpus_index(root, tiny_bert_dir)) as (url, _):
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, site):
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    opened = context.new_page()
    outside: list[str] = []
    opened.on("request", lambda request: None if request.url.startswith(site) else outside.append(request.url))
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.goto(site + "/")
    yield opened
    context.close()
    assert outside == [], "the page asked for something that is not served locally"
    assert errors == []


def test_type_a_question_see_hits_open_related(page):
    expect = sync_api.expect
    expect(page.locator("#index-info")).to_contain_text("4 documents")
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("/")  # the shortcut focuses the box (and types nothing into it)
    page.keyboard.type("wild yeast starter for bread")
    sync_api.expect(page.locator("#q")).to_have_value("wild yeast starter for bread")
    page.keyboard.press("Enter")
    hits = page.locator("#hits .hit")
    expect(hits.first).to_be_visible()
    assert hits.count() >= 3
    assert "Baking Sourdough at Home" in hits.locator(".title").all_inner_texts()
    first_title, first_source = hits.first.locator(".title").inner_text(), hits.first.locator(".source").inner_text()
    # one sentence of each hit is marked (which one, in hybrid mode, is the tiny random model's choice)
    mark, text = hits.first.locator("mark").inner_text(), hits.first.locator(".text").inner_text()
    assert mark and mark in text and len(mark) < len(text)
    assert float(hits.first.locator(".score").inner_text()) > 0

    page.keyboard.press("ArrowDown")  # keyboard only: move to the first hit and open it
    page.keyboard.press("Enter")
    expect(page.locator("#passage")).to_be_visible()
    expect(page.locator("#passage-title")).to_have_text(first_title)
    related = page.locator("#related .hit")
    expect(related.first).to_be_visible()
    document = first_source.split("#")[0]
    sources = related.locator(".source").all_inner_texts()
    assert sources and not any(source.startswith(document + "#") for source in sources)  # other articles only

    page.locator("#other-articles").uncheck()  # all articles: the switch reloads the list
    expect(page.locator("#related .hit").first).to_be_visible()

    related.first.click()  # a related passage opens in turn
    expect(page.locator("#passage-title")).not_to_have_text(first_title)
    shot = os.environ.get("SEMSEARCH_WEB_SCREENSHOT")
    if shot:
        page.locator("#other-articles").check()
        page.wait_for_timeout(300)
        page.screenshot(path=shot, full_page=True)
    page.keyboard.press("Escape")
    expect(page.locator("#passage")).to_be_hidden()


def test_modes_and_errors_show_on_the_page(page):
    expect = sync_api.expect
    page.locator("#q").fill("rocket fuel")
    page.locator("input[name=mode][value=lexical]").check()
    page.locator("#q").press("Enter")
    expect(page.locator("#status")).to_contain_text("lexical")
    expect(page.locator("#hits .hit").first.locator("mark")).to_contain_text("rocket")  # by shared words
    page.evaluate("document.getElementById('q').value = 'x'.repeat(1001)")  # past maxlength, as a script could
    page.locator("#q").press("Enter")
    expect(page.locator("#status")).to_have_class("muted error")
    expect(page.locator("#status")).to_contain_text("at most 1000")


def test_a_question_in_the_address_runs_on_load(page, site):
    page.goto(site + "/?q=lentil+soup&mode=dense")
    sync_api.expect(page.locator("#hits .hit").first).to_be_visible()
    assert page.locator("input[name=mode][value=dense]").is_checked()


def test_api_docs_render_offline(page, site):
    """/docs draws the API's operations from local files only (the page fixture fails on any outside request)."""
    pytest.importorskip("swagger_ui_bundle")
    page.goto(site + "/docs")
    sync_api.expect(page.locator(".opblock").first).to_be_visible()
    assert "/api/ask" in page.locator("#swagger-ui").inner_text()
