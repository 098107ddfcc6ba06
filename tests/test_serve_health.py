"""``/healthz`` reports each component of the engine; a bad ``[tap]`` section is refused at start."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import aiohttp
import pytest

from engine.app import Engine
from engine.config import load_config
from engine.errors import ConfigError
from tests.mosquitto_helpers import free_port
from tests.sim_engine import NoSpeech


def _cfg(tmp_path: Path, **over: object):
    (tmp_path / "hotline.toml").write_text("", encoding="utf-8")
    base = {"ami.port": free_port(), "ami.secret": "pw", "ami.reconnect_min": 0.05, "agi.port": 0,
            "audiosocket.port": 0, "web.port": 0, "web.token": "tok-123", "store.path": str(tmp_path / "h.sqlite")}
    return load_config(tmp_path / "hotline.toml", {**base, **over})


async def test_health_is_degraded_while_asterisk_is_away(tmp_path: Path) -> None:
    engine = Engine(_cfg(tmp_path), pipeline=NoSpeech())
    await engine.start()
    try:
        await asyncio.sleep(0.3)
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{engine.web_port}/healthz") as r:
            body = await r.json()
            assert r.status == 503
        assert body["status"] == "degraded"
        c = body["components"]
        assert c["ami"]["ok"] is False and c["ami"]["error"]
        assert c["agi"]["ok"] and c["audiosocket"]["ok"] and c["store"]["ok"] and c["bus"]["ok"]
        assert c["bus"]["enabled"] is False and c["taps"]["active_legs"] == 0
    finally:
        await engine.stop()


@pytest.mark.parametrize("key, value, message", [
    ("tap.legs", "caller,customer", "[tap] legs"),
    ("tap.sample", 1.5, "[tap] sample"),
    ("tap.max_legs", -1, "[tap] max_legs"),
    ("tap.codec", "ulaw", "[tap] codec: 'ulaw' is not a signed linear codec"),  # Asterisk would label mu-law as slin
])
async def test_bad_tap_config_is_refused(tmp_path: Path, key: str, value: object, message: str) -> None:
    engine = Engine(_cfg(tmp_path, **{key: value}), pipeline=NoSpeech())
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        await engine.start()
    await engine.stop()


async def test_a_stop_step_cancelled_from_inside_does_not_stop_the_shutdown(tmp_path: Path) -> None:
    """A part whose close ends in CancelledError (not the engine's own cancellation) is logged and
    the shutdown goes on to the next part; a cancellation of stop() itself still propagates."""
    (tmp_path / "hotline.toml").write_text("", encoding="utf-8")
    engine = Engine(load_config(tmp_path / "hotline.toml"), web=False, pipeline=NoSpeech())

    async def cancelled_inside() -> None:
        raise asyncio.CancelledError

    await engine._step("speech", cancelled_inside(), 1.0)  # returns: the next part can stop

    async def slow() -> None:
        await asyncio.sleep(10)

    outer = asyncio.ensure_future(engine._step("speech", slow(), 5.0))
    await asyncio.sleep(0.05)
    outer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await outer


@pytest.mark.parametrize("busy", ["agi", "web", "same"])
def test_serve_on_a_busy_port_is_one_line_naming_the_part_and_leaves_nothing_running(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, busy: str) -> None:
    """``hotline serve`` where another program holds a port: one line naming the part, host:port and
    config key (exit 2) instead of a 30-line traceback; what had started (AudioSocket) is closed."""
    import threading

    from engine.cli import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        audiosocket = free_port()
        ports = {"agi": port if busy == "agi" else (audiosocket if busy == "same" else 0),
                 "web": port if busy == "web" else 0}
        config = tmp_path / "hotline.toml"
        config.write_text(f'[ami]\nport = {free_port()}\n[agi]\nport = {ports["agi"]}\n'
                          f'[audiosocket]\nport = {audiosocket}\n[web]\nport = {ports["web"]}\n'
                          f'[store]\npath = "{tmp_path / "h.sqlite"}"\n', encoding="utf-8")
        monkeypatch.setenv("HOTLINE_AMI_SECRET", "pw")
        monkeypatch.setenv("HOTLINE_WEB_TOKEN", "tok-123")
        before = set(threading.enumerate())
        code = main(["--config", str(config), "serve", "--log-format", "text"])
        err = capsys.readouterr().err
    expected = {
        "agi": f"FastAGI cannot listen on 127.0.0.1:{port} ([agi] port or --agi-port): address already in use",
        "web": f"web page cannot listen on 127.0.0.1:{port} ([web] port or --web-port): address already in use",
        "same": f"FastAGI and AudioSocket are both set to listen on 127.0.0.1:{audiosocket} ([agi] port or "
                "--agi-port; [audiosocket] port or --audiosocket-port): give each its own port",
    }[busy]
    assert code == 2 and err.splitlines()[-1] == f"hotline serve: {expected}" and "Traceback" not in err, err
    with socket.socket() as again:  # the AudioSocket server had been listening: it is closed again
        again.bind(("127.0.0.1", audiosocket))
    assert [t for t in threading.enumerate() if t not in before and not t.daemon] == []
