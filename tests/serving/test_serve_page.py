"""The web page in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright),
against a real uvicorn: it loads, a conversation and a live turn are submitted, and the
emotions appear in the timeline. ``.ci/install-chromium.sh`` installs Chromium."""

from __future__ import annotations

import pytest


def test_page_shows_emotions(browser, live_server, recognizer):
    from playwright.sync_api import expect

    page = browser.new_page()
    external: list[str] = []
    page.on("request", lambda req: None if req.url.startswith(live_server.url) else external.append(req.url))
    console_errors: list[str] = []
    page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)

    page.goto(live_server.url + "/")
    # (locator assertions, not wait_for_function: the page's CSP forbids eval, which that uses)
    expect(page.locator("#model-info")).to_contain_text("labels")
    assert "text" in page.inner_text("#model-info")

    # whole conversation
    page.fill("#conv-text", "Monica: There's nothing to tell!\nJoey: You're going out with the guy!\nno speaker line")
    page.click("#conv-submit")
    page.wait_for_selector("#timeline .turn:nth-child(3)")
    chips = page.locator("#timeline .turn .chip.emotion").all_inner_texts()
    assert len(chips) == 3 and all(c in recognizer.labels for c in chips)
    assert page.locator("#timeline .turn .speaker").all_inner_texts()[:2] == ["Monica", "Joey"]
    assert page.locator("#strip span").count() == 3  # the at-a-glance colour strip
    width = page.locator("#timeline .turn .side .bar .fill").first.evaluate("e => e.style.width")
    assert width.endswith("%") and float(width[:-1]) > 0  # the confidence bar is drawn

    # turn by turn: a live session
    page.click("#tab-live")
    page.fill("#live-speaker", "Rachel")
    page.fill("#live-text", "Oh my God, I can't believe it!")
    page.click("#live-submit")
    page.wait_for_selector("#timeline .turn:nth-child(1) .chip.emotion")
    expect(page.locator("#timeline .turn")).to_have_count(1)
    turn = page.locator("#timeline .turn").first
    assert turn.locator(".speaker").inner_text() == "Rachel"
    assert turn.locator(".chip.emotion").inner_text() in recognizer.labels
    assert turn.get_attribute("data-label") in recognizer.labels
    page.fill("#live-text", "")
    page.click("#live-submit")
    assert "Type what" in page.inner_text("#error")  # checked in the page, no request sent

    assert not external, f"the page fetched from elsewhere: {external}"
    assert not console_errors, console_errors
    page.close()


def test_page_shows_server_errors(browser, live_server):
    page = browser.new_page()
    page.goto(live_server.url + "/")
    page.fill("#conv-text", "A: " + "x" * 2100)  # over max_text_chars
    page.click("#conv-submit")
    page.wait_for_selector("#error:not([hidden])")
    assert "max_text_chars" in page.inner_text("#error")
    page.close()
