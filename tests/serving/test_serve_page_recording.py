"""The web page's Recording tab in a real headless Chromium against a real uvicorn: a
recording made here (eSpeak NG speech) is uploaded, its timeline appears with times and
speakers, drawn along the recording under the audio player, and a turn seeks the player."""

from __future__ import annotations

import re

import pytest

LINES = [(0, "I cannot believe we finally won the final."), (1, "Honestly, I was sure we would lose it.")]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def speech_file(tmp_path_factory):
    pytest.importorskip("faster_whisper", reason="the recordings extra is not installed: pip install 'altsa[recordings]'")
    from altsa.recordings import synthetic

    if not synthetic.available():
        pytest.skip("no English speech synthesiser: pip install espeakng-loader (dev extra) or apt-get install espeak-ng")
    wave, truth = synthetic.assemble(LINES, pause_s=1.0)
    return synthetic.write(tmp_path_factory.mktemp("page") / "talk.wav", wave), truth


def test_recording_timeline_against_the_audio(browser, live_server, recognizer, speech_file):
    from playwright.sync_api import expect

    path, truth = speech_file
    page = browser.new_page()
    external: list[str] = []
    page.on("request", lambda req: None if req.url.startswith((live_server.url, "blob:")) else external.append(req.url))
    console_errors: list[str] = []
    page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
    page.goto(live_server.url + "/")
    expect(page.locator("#model-info")).to_contain_text("labels")

    page.click("#tab-rec")
    expect(page.locator("#rec-limit")).to_contain_text("min")
    page.click("#rec-submit")
    assert "Choose an audio or video file" in page.inner_text("#error")  # checked in the page
    page.set_input_files("#rec-file", str(path))
    page.fill("#rec-speakers", "2")
    page.click("#rec-submit")
    page.wait_for_selector("#timeline .turn:nth-child(2) .chip.emotion", timeout=60_000)

    turns = page.locator("#timeline .turn")
    expect(turns).to_have_count(len(LINES))
    assert page.locator("#timeline .turn .speaker").all_inner_texts() == ["Speaker 1", "Speaker 2"]
    assert all(c in recognizer.labels for c in page.locator("#timeline .turn .chip.emotion").all_inner_texts())
    times = page.locator("#timeline .turn .time").all_inner_texts()
    assert times[0].startswith("0:0") and "–" in times[0]
    starts = [float(turns.nth(i).get_attribute("data-start")) for i in range(len(LINES))]
    assert all(abs(s - line.start) < 0.3 for s, line in zip(starts, truth))

    # the player and the utterances drawn along the recording
    expect(page.locator("#player")).to_be_visible()
    audio = page.locator("#rec-audio")
    expect(audio).to_be_visible()
    assert audio.evaluate("a => a.src").startswith("blob:")
    segs = page.locator("#track .seg")
    expect(segs).to_have_count(len(LINES))
    left = [float(segs.nth(i).evaluate("e => e.style.left")[:-1]) for i in range(len(LINES))]
    duration = float(page.locator("#track").get_attribute("data-duration"))
    assert all(abs(pct * duration / 100 - s) < 0.05 for pct, s in zip(left, starts))
    assert "2 utterances" in page.inner_text("#rec-notes") and "2 speakers" in page.inner_text("#rec-notes")

    # clicking the second turn moves the player to its start, and the turn lights up
    audio.evaluate("a => new Promise(r => a.readyState >= 1 ? r() : a.addEventListener('loadedmetadata', r))")
    turns.nth(1).locator(".text").click()
    expect(turns.nth(1)).to_have_class(re.compile(r"\bcurrent\b"), timeout=10_000)
    assert abs(audio.evaluate("a => a.currentTime") - starts[1]) < 0.6

    assert not external, f"the page fetched from elsewhere: {external}"
    assert not console_errors, console_errors
    page.close()
