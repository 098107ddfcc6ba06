"""Read-only commands (``calls``, ``replay``, ``web``): they never create, switch or migrate a store,
leave its file byte for byte as it was, and ``web`` announces its address only once the port is bound."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from engine.cli import main
from engine.store import Store, migrations
from engine.store.sample import MAIN_CALL, seed_sample_calls

READ_ONLY = (["calls"], ["calls", "--json"], ["calls", "--search", "电话"], ["calls", "--live"],
             ["replay", MAIN_CALL], ["replay", MAIN_CALL, "--json"])


def _fingerprint(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return hashlib.sha256(path.read_bytes()).hexdigest(), st.st_mtime_ns, st.st_size


def _version(path: Path) -> int:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "h.sqlite"
    with Store.open(path) as s:
        seed_sample_calls(s)
    return path


@pytest.fixture
def old_db(db: Path) -> Path:
    """The sample store as schema version 1 wrote it (before the filter indexes of version 2)."""
    conn = sqlite3.connect(db, isolation_level=None)
    for index in ("calls_queue", "calls_agent", "calls_caller"):
        conn.execute(f"DROP INDEX {index}")
    conn.execute("PRAGMA user_version = 1")
    conn.execute("PRAGMA journal_mode = DELETE")  # as an older program may have left it
    conn.close()
    return db


@pytest.mark.parametrize("argv", [["calls"], ["replay", MAIN_CALL], ["web"]])
def test_a_missing_store_is_an_error_and_nothing_is_created(argv, tmp_path, capsys):
    missing = tmp_path / "var" / "none.sqlite"
    assert main(["--config", "/dev/null", *argv, "--db", str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"no store at {missing}" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "var").exists()
    assert main(["--config", "/dev/null", *argv, "--db", str(tmp_path)]) == 2  # a directory
    assert "is not a store file" in capsys.readouterr().err


@pytest.mark.parametrize("argv", READ_ONLY)
def test_reading_leaves_the_store_file_as_it_was(argv, db, capsys):
    before = _fingerprint(db)
    assert main(["--config", "/dev/null", *argv, "--db", str(db)]) == 0
    assert capsys.readouterr().out
    assert _fingerprint(db) == before


@pytest.mark.parametrize("argv", READ_ONLY)
def test_an_older_schema_is_read_as_it_is_never_migrated(argv, old_db, capsys):
    before = _fingerprint(old_db)
    assert main(["--config", "/dev/null", *argv, "--db", str(old_db)]) == 0
    assert "139****5678" in capsys.readouterr().out or argv == ["calls", "--live"]
    assert _fingerprint(old_db) == before and _version(old_db) == 1
    assert not Path(f"{old_db}-wal").exists()  # not switched to WAL either


def test_an_older_schema_readers_cannot_read_is_refused_with_what_to_run(old_db, capsys, monkeypatch):
    needed = tuple(dataclasses.replace(m, readers_need_it=True) for m in migrations.MIGRATIONS)
    monkeypatch.setattr(migrations, "MIGRATIONS", needed)
    before = _fingerprint(old_db)
    for argv in (["calls"], ["replay", MAIN_CALL]):
        assert main(["--config", "/dev/null", *argv, "--db", str(old_db)]) == 1
        err = capsys.readouterr().err
        assert "schema version 1 is older" in err and "hotline serve" in err and "Traceback" not in err
    assert _fingerprint(old_db) == before and _version(old_db) == 1


def test_a_read_only_store_refuses_writes(db):
    with Store.open(db, readonly=True) as s:
        assert s.readonly and s.healthy() and len(s.list_calls()) == 3
        with pytest.raises(Exception, match="read-only"):
            s.upsert_call("x", started_at=1.0)


@pytest.mark.parametrize(("argv", "message"), [
    (["calls", "--limit", "100000000000000000000"], "--limit must be between 1 and 1000000"),
    (["calls", "--limit", "0"], "--limit must be between 1 and 1000000"),
    (["calls", "--limit", "1e20"], "invalid int value: '1e20'"),
    (["web", "--port", "70000"], "--port must be between 0 and 65535"),
    (["web", "--port", "-1"], "--port must be between 0 and 65535"),
    (["web", "--port", "1e400"], "invalid int value: '1e400'"),
])
def test_out_of_range_numbers_are_one_line_errors(argv, message, db, capsys):
    assert main(["--config", "/dev/null", *argv, "--db", str(db)]) == 2  # argparse's own errors too
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_web_on_a_taken_port_says_so_without_printing_a_token(db, capsys, monkeypatch):
    monkeypatch.delenv("HOTLINE_WEB_TOKEN", raising=False)
    before = _fingerprint(db)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["--config", "/dev/null", "web", "--db", str(db), "--port", str(port)]) == 2
    out, err = capsys.readouterr()
    assert out == ""  # no address, no token for a page that never came up
    assert err.strip() == f"hotline web: cannot listen on 127.0.0.1:{port}: Address already in use"
    assert _fingerprint(db) == before


def test_web_announces_the_bound_port_and_serves_an_old_store_read_only(old_db, tmp_path):
    """``--port 0``: the address printed is the port actually bound; the page reads a version-1
    store without migrating it, and says it is healthy."""
    before = _fingerprint(old_db)
    env = {**os.environ, "HOTLINE_WEB_TOKEN": "tok-123"}
    proc = subprocess.Popen([sys.executable, "-c", "from engine.cli import entry; entry()", "--config", "/dev/null",
                             "web", "--db", str(old_db), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        line = proc.stdout.readline()
        assert line.startswith(f"supervisor page for {old_db}: http://127.0.0.1:"), line + proc.stderr.read()
        port = int(line.split("127.0.0.1:")[1].split("/")[0])
        assert port > 0 and "<your token>" in line and "tok-123" not in line

        def get(path: str) -> tuple[int, dict]:
            req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": "Bearer tok-123"})
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read())

        status, health = get("/healthz")
        assert status == 200 and health["status"] == "ok"
        status, body = get("/api/calls")
        assert {c["id"]: c for c in body["calls"]}[MAIN_CALL]["caller_number"] == "139****5678"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    assert proc.returncode == 0, proc.stderr.read()
    assert _fingerprint(old_db) == before and _version(old_db) == 1
