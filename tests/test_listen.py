"""FastAGI and AudioSocket have no authentication: loopback by default, a warning anywhere else;
``bind_problem`` says why an address cannot be listened on (used by ``hotline check-config``)."""

from __future__ import annotations

import logging
import socket

import pytest

from engine.asterisk.agi_server import AgiServer
from engine.asterisk.audiosocket_server import AudioSocketServer
from engine.config import Config
from engine.listen import bind_problem, is_loopback


def test_defaults_listen_on_loopback_only() -> None:
    cfg = Config()
    assert is_loopback(cfg.agi.host) and is_loopback(cfg.audiosocket.host) and is_loopback(cfg.web.host)


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("0.0.0.0", False), ("", False), ("::", False), ("10.0.0.5", False), ("pbx.example", False),
])
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize("make", [
    lambda host: AgiServer(host, 0),
    lambda host: AudioSocketServer(None, host, 0),
], ids=["FastAGI", "AudioSocket"])
async def test_a_server_beyond_loopback_is_logged_as_a_warning(make, caplog: pytest.LogCaptureFixture) -> None:
    for host, warned in (("127.0.0.1", False), ("0.0.0.0", True)):
        caplog.clear()
        server = make(host)
        with caplog.at_level(logging.WARNING):
            await server.start()
        await server.stop()
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert bool(warnings) is warned, (host, warnings)
        if warned:
            assert "no authentication" in warnings[0] and "firewall" in warnings[0]


def test_bind_problem_names_a_taken_port_and_a_foreign_address() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert "is taken" in bind_problem("127.0.0.1", port)
    assert bind_problem("127.0.0.1", port) is None  # free again
    assert "not an address of this machine" in bind_problem("192.0.2.1", 4573)  # TEST-NET-1
    assert bind_problem("no-such-host.invalid", 4573).startswith("cannot resolve")
