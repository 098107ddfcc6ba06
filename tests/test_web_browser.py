"""The supervisor page in a real browser: headless Chromium (Debian package) driven by Playwright.

Opens the page with a token, sees masked numbers and a live call, searches in Mandarin, opens
the call, clicks a transcript line and checks the audio position moved and the line is
highlighted as the audio plays. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.events.speech import FinalTranscript, PartialTranscript
from engine.store import AsyncStore, Store
from engine.store.sample import AUDIO_OFFSET, MAIN_CALL, make_sample_audio, seed_sample_calls
from engine.web import LiveHub, WebSettings, create_app, start_site

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
TOKEN = "browser-test-token"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"]


async def wait_for_js(page, expression: str, timeout: float = 15.0) -> None:
    """Poll a JS expression from Python: page.wait_for_function would need eval, which the page's
    Content-Security-Policy (rightly) forbids."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await page.evaluate(f"() => Boolean({expression})"):
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for: {expression}")
        await asyncio.sleep(0.05)


@pytest.mark.timeout(120)
async def test_search_open_call_click_line_moves_audio(tmp_path, asterisk_fixtures):
    assert CHROMIUM.exists(), "Debian package chromium is required (make test installs it)"
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    audio_dir = tmp_path / "audio"
    wav = make_sample_audio(asterisk_fixtures, audio_dir / "main.wav")
    with Store.open(tmp_path / "h.sqlite") as s:
        seed_sample_calls(s, wav)
    store = await AsyncStore.open(tmp_path / "h.sqlite")
    hub = LiveHub()
    runner, port = await start_site(create_app(store, WebSettings(token=TOKEN, audio_dir=audio_dir), hub), port=0)
    base = f"http://127.0.0.1:{port}"
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(15000)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))

            # without the token: the sign-in page
            resp = await page.goto(base + "/")
            assert resp is not None and resp.status == 401
            assert await page.locator("input[name=token]").count() == 1

            await page.fill("input[name=token]", "wrong")
            await page.click("button[type=submit]")
            assert "not valid" in await page.inner_text("body")
            await page.fill("input[name=token]", TOKEN)
            await page.click("button[type=submit]")

            # signed in: the calls list, numbers masked
            await page.wait_for_selector("#calls tbody tr a")
            assert page.url == base + "/"
            assert await page.locator("#calls tbody tr").count() == 3
            body = await page.inner_text("body")
            assert "139****5678" in body and "13912345678" not in body

            # a live call appears with its partial transcript as it is heard
            await wait_for_js(page, "document.getElementById('live-state').textContent === 'connected'")
            hub.publish({"type": "call.start", "call_id": "live-9", "caller_number": "13712345678", "queue": "citizen"})
            hub.publish(PartialTranscript("live-9", "caller", 2.0, "我想投诉楼下噪音"))
            card = page.locator(".live-card", has_text="我想投诉楼下噪音")
            await card.wait_for()
            assert "137****5678" in await card.inner_text()
            await page.screenshot(path=str(ARTIFACTS / "web_calls.png"), full_page=True)

            # search in Mandarin
            await page.fill("#q", "路灯")
            await page.click("#search-form button[type=submit]")
            await page.wait_for_selector(".hit")
            assert await page.locator(".hit").count() == 2
            assert set(await page.locator(".hit mark").all_inner_texts()) == {"路灯"}
            await page.screenshot(path=str(ARTIFACTS / "web_search.png"), full_page=True)

            # open the call from a hit
            await page.locator(".hit a", has_text="请问路灯").click()
            await page.wait_for_url(f"**/calls/{MAIN_CALL}#t=*")
            await page.wait_for_selector("#timeline li.speech")
            assert await page.locator("#timeline li.speech").count() == 6
            assert await page.locator("#timeline li.event").count() == 11
            assert await page.locator("#live-badge").is_hidden()  # a finished call is not live
            assert await page.locator("#ivr .chip").all_inner_texts() == ["welcome", "main_menu", "intake", "queue_citizen"]
            assert "null" not in await page.inner_text("#summary")
            await wait_for_js(page, "document.getElementById('player').readyState >= 1")
            before = await page.evaluate("document.getElementById('player').currentTime")

            # click the caller's English line: the player jumps to it (call time 45.5 s, audio starts at 44 s)
            line = page.locator("#timeline li.speech", has_text="broken street light")
            await line.locator(".stamp").click()  # the line itself (its words seek to each word)
            await wait_for_js(page,
                "Math.abs(document.getElementById('player').currentTime - 1.5) < 0.35"
            )
            after = await page.evaluate("document.getElementById('player').currentTime")
            assert abs(after - before) > 1.0
            assert "current" in (await line.get_attribute("class") or "")
            # word timings: the word being spoken is highlighted too, and a word can be clicked
            await wait_for_js(page, "document.querySelector('#timeline li.current .word.current') !== null")
            word = line.locator(".word", has_text="Main")
            await word.click()
            t_main = float(await word.get_attribute("data-t"))
            await wait_for_js(page,
                f"Math.abs(document.getElementById('player').currentTime - {t_main - AUDIO_OFFSET}) < 0.35"
            )

            # as the audio plays on, the highlight follows it (seek to inside the agent's next line)
            await page.evaluate(f"(() => {{ const p = document.getElementById('player'); p.pause(); p.currentTime = {51.0 - AUDIO_OFFSET}; }})()")
            agent_line = page.locator("#timeline li.speech", has_text="请问路灯具体")
            await wait_for_js(page,
                "document.querySelector('#timeline li.current') && document.querySelector('#timeline li.current').textContent.includes('请问路灯具体')"
            )
            assert "current" in (await agent_line.get_attribute("class") or "")
            assert "current" not in (await line.get_attribute("class") or "")
            await page.evaluate("window.scrollTo(0, 0)")
            await page.screenshot(path=str(ARTIFACTS / "web_call.png"), full_page=True)
            assert "13912345678" not in await page.inner_text("body")

            # a booking's page links to its call back, and the call back's page links back
            store.submit_relate("1795881390.271", "1795881700.300", "callback", 1795881700.0)
            await store.flush()
            await page.goto(f"{base}/calls/1795881390.271")
            link = page.locator("#facts a.related")
            await link.wait_for()
            assert await link.inner_text() == "1795881700.300" and "called back in" in (await page.inner_text("#facts")).lower()
            await link.click()
            await page.wait_for_url("**/calls/1795881700.300")
            await page.locator("#facts a.related", has_text="1795881390.271").wait_for()
            assert "call back of" in (await page.inner_text("#facts")).lower()  # dt is shown upper-case

            # a live call's page: partials update in place, finals are appended (a link with ?token= works too)
            await page.goto(f"{base}/calls/live-9?token={TOKEN}")
            assert "token=" not in page.url
            await page.locator("#live-badge").wait_for(state="visible")
            summary = await page.inner_text("#summary")
            assert "137****5678" in summary and "citizen" in summary
            hub.publish(PartialTranscript("live-9", "caller", 2.0, "我想投诉楼下噪音，电话13712345678"))
            partial = page.locator("#timeline li.partial.caller")
            await partial.wait_for()
            assert "137****5678" in await partial.inner_text()
            hub.publish(FinalTranscript("live-9", "caller", 2.0, 4.5, "我想投诉楼下工地噪音"))
            await page.locator("#timeline li.speech:not(.partial)", has_text="工地噪音").wait_for()
            assert await page.locator("#timeline li.partial").count() == 0
            await page.screenshot(path=str(ARTIFACTS / "web_live_call.png"), full_page=True)
            assert errors == []
            await browser.close()
    finally:
        await runner.cleanup()
        await store.close()
