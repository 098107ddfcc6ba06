"""``hotline check-config``: one line per check, exit 1 when something would stop ``hotline serve``
(a broken flow, a missing model, a taken port, a refused AMI login), 0 when it would start."""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path

import pytest

from engine.cli import main
from engine.pbxsim.ami_server import AmiServer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config(tmp_path: Path, extra: str = "", *, ami_port: int | None = None, agi_port: int | None = None,
            audiosocket_host: str = "127.0.0.1") -> Path:
    file = tmp_path / "hotline.toml"
    file.write_text(f"""
[ami]
port = {ami_port or _free_port()}
connect_timeout = 2.0
[agi]
port = {agi_port or _free_port()}
[audiosocket]
host = "{audiosocket_host}"
port = {_free_port()}
[web]
port = {_free_port()}
[store]
path = "{tmp_path / 'var' / 'h.sqlite'}"
{extra}""", encoding="utf-8")
    return file


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOTLINE_CONFIG", raising=False)
    monkeypatch.setenv("HOTLINE_AMI_SECRET", "hotlinepw")
    monkeypatch.setenv("HOTLINE_WEB_TOKEN", "viewer-token-1")


def _lines(out: str) -> dict[str, list[str]]:
    """check name -> "status detail" of each of its lines (columns: status 5, name 12, detail)."""
    got: dict[str, list[str]] = {}
    for line in out.splitlines():
        status, what, detail = line[:5].strip(), line[6:18].strip(), line[19:]
        if status in ("ok", "warn", "FAIL", "-") and what:
            got.setdefault(what, []).append(f"{status} {detail}")
    return got


def test_a_good_config_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--config", str(_config(tmp_path))]) == 0
    out = capsys.readouterr().out
    got = _lines(out)
    assert got["config"] == [f"ok {tmp_path / 'hotline.toml'}"]
    assert got["flows"][0].startswith("ok hotline from the shipped flows")
    for what in ("fastagi", "audiosocket", "web", "asr model", "store", "ami secret", "web token"):
        assert got[what][0].startswith("ok"), (what, got[what])
    assert got["ami"][0].startswith("- ") and "--connect" in got["ami"][0]
    assert out.rstrip().endswith("no problems found")
    assert "hotlinepw" not in out and "viewer-token-1" not in out  # secrets are never printed


def test_a_taken_port_a_missing_model_and_a_broken_flow_each_fail(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "bad.yaml").write_text("flow: bad\nstart: nowhere\nnodes:\n  a:\n    verb: hangup\n", encoding="utf-8")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        cfg = _config(tmp_path, f'[flows]\npaths = ["{flows}"]\n[asr]\nmodel = "{tmp_path / "no-model"}"\n',
                      agi_port=taken)
        assert main(["check-config", "--config", str(cfg)]) == 1
    out = capsys.readouterr().out
    got = _lines(out)
    assert got["fastagi"] == [f"FAIL 127.0.0.1:{taken}: port {taken} is taken on 127.0.0.1 (another process listens there)"]
    assert got["asr model"][0].startswith("FAIL config asr.model") and "no such directory" in got["asr model"][0]
    assert got["flows"][0].startswith(f"FAIL {flows / 'bad.yaml'}")  # file (and line) of the defect
    assert "3 problem(s)" in out


def test_missing_secrets_and_an_unsafe_bind_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOTLINE_AMI_SECRET")
    monkeypatch.delenv("HOTLINE_WEB_TOKEN")
    cfg = _config(tmp_path, audiosocket_host="0.0.0.0")
    assert main(["check-config", "--config", str(cfg)]) == 1
    got = _lines(capsys.readouterr().out)
    assert got["ami secret"] == ["FAIL empty: set $HOTLINE_AMI_SECRET (or [ami] secret_env names another)"]
    assert got["web token"][0].startswith("FAIL") and "--no-web" in got["web token"][0]
    warn = " ".join(got["audiosocket"])
    assert "no authentication" in warn and "advertise" in warn and warn.startswith("warn")
    # serve --no-web needs no token: the same check without the page's lines
    assert main(["check-config", "--config", str(cfg), "--no-web"]) == 1
    got = _lines(capsys.readouterr().out)
    assert "web" not in got and "web token" not in got and got["ami secret"][0].startswith("FAIL")


def test_a_bad_config_file_is_one_line_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "hotline.toml"
    bad.write_text("[agi]\nprot = 4573\n", encoding="utf-8")
    assert main(["check-config", "--config", str(bad)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAIL  config") and "unknown key 'prot'" in out and len(out.splitlines()) == 1


def test_a_built_config_with_an_unknown_time_zone_fails_its_line() -> None:
    """Loading refuses such a config (``[site] timezone`` has a check); one built in code is judged the same way."""
    from engine.commands.check_config import _config_checks
    from engine.config import Config

    cfg = Config()
    cfg.site.timezone = "Mars/Olympus"
    (tz,) = [c for c in _config_checks(cfg, web=False) if c.what == "timezone"]
    assert (tz.status, tz.detail) == ("FAIL", "[site] timezone: expected a time zone name such as Asia/Shanghai, "
                                              "got 'Mars/Olympus'")
    cfg.site.timezone = "Europe/Paris"
    assert [c.status for c in _config_checks(cfg, web=False) if c.what == "timezone"] == ["ok"]


def test_a_postgresql_store_is_named_without_its_password_not_checked_as_a_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql://hotline:s3cret@db.example:5432/hotline"
    assert main(["check-config", "--config", str(_config(tmp_path)), "--set", f"store.url={url}",
                 "--set", "store.node=pbx-2"]) == 0
    out = capsys.readouterr().out
    assert _lines(out)["store"] == ["- postgresql://hotline@db.example:5432/hotline not contacted "
                                    "(PostgreSQL: serve reaches it when it starts); this engine is node 'pbx-2' "
                                    "there (its callbacks)"]
    assert "s3cret" not in out and "h.sqlite" not in out


async def _pbx() -> AmiServer:
    server = AmiServer()
    await server.start()
    return server


def test_connect_logs_in_and_lists_the_queues(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """``main`` runs its own event loop: the simulator answers from a loop in another thread."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: dict[str, AmiServer] = {}

    def serve() -> None:
        asyncio.set_event_loop(loop)
        box["pbx"] = loop.run_until_complete(_pbx())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        port = box["pbx"].port
        assert main(["check-config", "--config", str(_config(tmp_path, ami_port=port)), "--connect"]) == 0
        got = _lines(capsys.readouterr().out)
        assert got["ami"] == [f"ok logged in to 127.0.0.1:{port} as 'hotline'; 2 queue(s): citizen, evening"]

        monkeypatch.setenv("HOTLINE_AMI_SECRET", "wrong")
        assert main(["check-config", "--config", str(_config(tmp_path, ami_port=port)), "--connect"]) == 1
        got = _lines(capsys.readouterr().out)
        assert got["ami"][0].startswith(f"FAIL 127.0.0.1:{port} refused the login of 'hotline'")
    finally:
        asyncio.run_coroutine_threadsafe(box["pbx"].stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)

    # nobody listening
    assert main(["check-config", "--config", str(_config(tmp_path)), "--connect"]) == 1
    got = _lines(capsys.readouterr().out)
    assert got["ami"][0].startswith("FAIL") and "cannot connect" in got["ami"][0]
