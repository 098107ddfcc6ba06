"""Crash safety: a writer killed with SIGKILL mid-stream loses no segment it had reported final."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from engine.store import Store

WRITER = textwrap.dedent(
    """
    import sys
    from engine.store import Store

    store = Store.open(sys.argv[1])
    store.upsert_call("crash", started_at=1000.0, caller_number="13912345678")
    i = 0
    while True:
        seg = store.add_segment("crash", "caller" if i % 2 else "agent", i * 0.5, i * 0.5 + 0.4,
                                f"第{i}段 我要报修路灯 segment {i}", words=[{"word": "路灯", "start": i * 0.5}])
        store.add_event("crash", "tick", 1000.0 + i)
        print(seg, flush=True)  # only after the commit returned: this segment is final
        i += 1
    """
)


def test_sigkill_mid_write_loses_nothing_already_final(tmp_path):
    path = tmp_path / "crash.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True, cwd=os.getcwd()
    )
    reported: list[int] = []
    deadline = time.monotonic() + 30
    try:
        assert proc.stdout is not None
        while len(reported) < 40 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            reported.append(int(line))
        os.kill(proc.pid, signal.SIGKILL)  # while it is in the middle of its next writes
    finally:
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert len(reported) >= 40, "writer did not get going"
    with Store.open(path) as s:
        conn = s._conn
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.execute("INSERT INTO segments_fts (segments_fts) VALUES ('integrity-check')")
        stored = {seg.id for seg in s.segments("crash")}
        assert set(reported) <= stored  # every segment reported final survived
        assert len(stored) - len(reported) <= 1  # at most the one being committed when killed
        n_fts = conn.execute("SELECT count(*) FROM segments_fts").fetchone()[0]
        assert n_fts == len(stored)  # index and table committed together
        assert len(s.search("路灯")) == len(stored)
        assert s.get_call("crash").caller_number == "13912345678"
