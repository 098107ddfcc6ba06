"""The supervisor's new pages in headless Chromium at 1280x800 (Playwright, Debian chromium): the
call list's filters, lookup and CSV link, the statistics page's charts and table, the live
wallboard with an alert acknowledged, and a Korean transcript spaced as Korean is written. Each
page must fit 1280 px without sideways scrolling; times are the site's (Asia/Shanghai) although
the browser runs in another zone. Screenshots go to the test's tmp dir (printed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import WallboardConfig
from engine.events.ami import QueueCallerJoin, QueueMemberAdded
from engine.store import AsyncStore, Store
from engine.store.sample import MAIN_CALL, SAMPLE_START, seed_sample_calls
from engine.web import LiveHub, WebSettings, create_app, start_site
from engine.web.app import WALLBOARD
from queueing.monitor import QueueMonitor
from queueing.wallboard import Wallboard
from tests.test_web_browser import ARGS, CHROMIUM, wait_for_js

TOKEN = "browser-viewer-token"
PRIV = "browser-privileged-token"
KOREAN = ("우리", "집", "앞", "가로등이", "고장났어요")
CHINESE = ("我", "要", "报修", "路灯")


def words(ws: tuple[str, ...], start: float) -> list[dict]:
    return [{"word": w, "start": start + i * 0.5, "end": start + i * 0.5 + 0.4} for i, w in enumerate(ws)]


def seed(path: Path) -> None:
    with Store.open(path) as s:
        seed_sample_calls(s)
        t0 = SAMPLE_START + 600
        s.upsert_call("ko-1", started_at=t0, caller_number="01012345678", queue="citizen", queue_joined_at=t0 + 5,
                      queue_answered_at=t0 + 9, answered_at=t0 + 9, agent="8002 李娜", outcome="answered",
                      language="ko", ended_at=t0 + 40)
        s.add_segment("ko-1", "caller", 10.0, 12.5, " ".join(KOREAN), words=words(KOREAN, 10.0))
        s.add_segment("ko-1", "agent", 13.0, 15.0, "".join(CHINESE), words=words(CHINESE, 13.0))


async def fits(page) -> None:
    """Nothing sticks out sideways at 1280 px: not the page, not a card's content."""
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1280, f"page is {width} px wide"
    wide = await page.evaluate("[...document.querySelectorAll('main .card')]"
                               ".filter((c) => c.scrollWidth > c.clientWidth).map((c) => c.textContent.slice(0, 40))")
    assert wide == [], f"content wider than its card: {wide}"


@pytest.mark.timeout(150)
async def test_supervisor_pages_at_1280(tmp_path):
    assert CHROMIUM.exists(), "Debian package chromium is required"
    from playwright.async_api import async_playwright

    seed(tmp_path / "h.sqlite")
    store = await AsyncStore.open(tmp_path / "h.sqlite")
    monitor = QueueMonitor(timezone="Asia/Shanghai")
    now = 1796000000.0
    monitor.feed(QueueMemberAdded(queue="citizen", interface="PJSIP/8001", member_name="8001", status=1, received=now))
    for i in range(4):
        monitor.feed(QueueCallerJoin(queue="citizen", uniqueid=f"w{i}", caller_id_num="13912345678", received=now + i))
    monitor.feed(QueueCallerJoin(queue="noise", uniqueid="n1", caller_id_num="13912345678", received=now + 100))
    board = Wallboard(monitor, WallboardConfig(waiting_warn=2, waiting_alarm=3), clock=lambda: now + 130)
    app = create_app(store, WebSettings(token=TOKEN, privileged_token=PRIV, timezone="Asia/Shanghai"), LiveHub())
    app[WALLBOARD] = board
    runner, port = await start_site(app, port=0)
    base = f"http://127.0.0.1:{port}"
    shots = tmp_path / "screenshots"
    shots.mkdir()
    print(f"screenshots in {shots}")
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            # the supervisor's browser is in another zone: the page still shows the site's times
            context = await browser.new_context(viewport={"width": 1280, "height": 800}, timezone_id="Europe/London")
            page = await context.new_page()
            page.set_default_timeout(15000)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))

            # calls list: site times, filters, lookup by number (privileged), CSV link with the filters
            await page.goto(f"{base}/?token={PRIV}")
            await page.wait_for_selector("#calls tbody tr a")
            assert await page.locator("#calls tbody tr").count() == 4
            assert "2026-11-28 19:42:05" in await page.inner_text("#calls")  # +08:00, not London's 11:42
            assert "Asia/Shanghai" in await page.inner_text("#who")
            await wait_for_js(page, "document.querySelector('#filters select[name=language]').options.length === 4")
            await page.select_option("#filters select[name=language]", "en")
            await page.fill("#filters input[name=from]", "2026-11-28")
            await page.click("#filters button[type=submit]")
            await wait_for_js(page, "document.querySelectorAll('#calls tbody tr').length === 1")
            assert "0755-****3456" in await page.inner_text("#calls tbody")
            assert await page.get_attribute("#csv", "href") == "/api/calls.csv?from=2026-11-28&language=en"
            assert "language=en" in page.url
            await page.click("#clear-filters")
            await wait_for_js(page, "document.querySelectorAll('#calls tbody tr').length === 4")
            await page.fill("#lookup-q", "139 1234 5678")
            await page.click("#lookup button[type=submit]")
            await wait_for_js(page, "document.querySelectorAll('#calls tbody tr').length === 1")
            assert "139****5678" in await page.inner_text("#calls tbody")
            await fits(page)
            await page.screenshot(path=str(shots / "calls.png"), full_page=True)

            # lookup by a call id (here an alias of the call) opens the call
            await page.fill("#lookup-q", "1795881255.253")
            await page.click("#lookup button[type=submit]")
            await page.wait_for_url(f"**/calls/{MAIN_CALL}")

            # a Korean transcript keeps its spaces; Chinese words stay joined
            await page.goto(f"{base}/calls/ko-1")
            await page.wait_for_selector("#timeline li.speech .word")
            texts = await page.locator("#timeline li.speech .text").all_inner_texts()
            assert texts == ["우리 집 앞 가로등이 고장났어요", "我要报修路灯"]
            await fits(page)
            await page.screenshot(path=str(shots / "call_korean.png"), full_page=True)

            # statistics of the sample day: charts and the per-interval table
            await page.goto(f"{base}/stats?day=2026-11-28")
            await page.wait_for_selector("#kpis tbody tr td.num")
            assert await page.locator("#chart-calls svg rect.bar").count() == 3  # answered, abandoned, callback
            assert await page.locator("#chart-sl svg circle.sl-dot").count() == 1
            row = await page.locator("#kpis tbody tr").first.inner_text()
            assert row.split("\t")[:7] == ["19:30", "4", "2", "1", "0", "1", "0"]  # the sample calls and ko-1
            assert "Asia/Shanghai" in await page.inner_text("#st-note")
            await fits(page)
            await page.screenshot(path=str(shots / "stats.png"), full_page=True)
            await page.click("#prev")
            await wait_for_js(page, "document.querySelector('#st-note').textContent.startsWith('2026-11-27')")

            # the live wallboard: lights, call-takers by state, an alert acknowledged from the page
            await page.goto(f"{base}/wallboard")
            card = page.locator(".wb-queue[data-queue=citizen]")
            await card.wait_for()
            assert await card.locator(".tile[data-kpi=waiting]").get_attribute("class") == "tile alarm"
            assert "4" in await card.locator(".tile[data-kpi=waiting] .v").inner_text()
            assert "1 available" in await card.locator(".states").inner_text()
            alert = page.locator("#alerts tr.alert.raised", has_text="callers waiting 4 is above 3")
            await alert.wait_for()
            await fits(page)
            await page.screenshot(path=str(shots / "wallboard.png"), full_page=True)
            await alert.locator("button").click()
            await page.locator("#alerts tr.alert.acknowledged", has_text="callers waiting").wait_for()
            assert board.board.alerts()[0].state == "acknowledged"
            # durations are rounded before they are split into minutes and seconds
            shown = await page.evaluate("[59.6, 119.6, 130].map((s) => [H.short(s), H.dur(s)])"
                                        ".concat([[H.clock(59.96), H.clock(125.04)]])")
            assert shown == [["1m 00s", "1 min 0 s"], ["2m 00s", "2 min 0 s"], ["2m 10s", "2 min 10 s"],
                             ["1:00.0", "2:05.0"]]
            await page.screenshot(path=str(shots / "wallboard_acknowledged.png"), full_page=True)
            assert errors == []
            await browser.close()
    finally:
        await runner.cleanup()
        await store.close()
