"""A realistic sample of stored calls, for tests, docs and trying the supervisor page.

One answered call with the full story (IVR with a DTMF choice and a spoken intake, a wait in
queue ``citizen``, both legs transcribed in Mandarin and English, a mixed recording built from the
Asterisk fixture WAVs), one caller who abandoned, and one who took a callback.
"""

from __future__ import annotations

import wave
from datetime import datetime, timedelta, timezone
from pathlib import Path

from engine.store.sql_store import SqlStore

CST = timezone(timedelta(hours=8))
SAMPLE_START = datetime(2026, 11, 28, 19, 42, 5, tzinfo=CST).timestamp()
MAIN_CALL = "1795881255.252"
AUDIO_OFFSET = 44.0  # the recording starts when the call-taker connects

# (leg, start, end, text); times are seconds from the call's start
MAIN_SEGMENTS = (
    ("caller", 10.1, 13.4, "我要报修路灯坏了，在人民路和解放路路口"),
    ("agent", 44.1, 45.4, "您好，12345市民服务热线，请讲。"),
    ("caller", 45.5, 49.4, "Hello, I would like to report a broken street light on Main Street."),
    ("agent", 50.0, 53.9, "好的，请问路灯具体在哪个位置？"),
    ("caller", 54.2, 56.0, "人民路和解放路路口，我的电话是13912345678。"),
    ("agent", 56.2, 57.6, "好的，已为您登记工单，三个工作日内回复。"),
)


def _words(text: str, start: float, end: float) -> list[dict[str, float | str]]:
    """Word timings spread over the segment by length (what a recogniser's word list looks like)."""
    words = text.split()
    total = sum(len(w) + 1 for w in words)
    out, t = [], start
    for w in words:
        d = (end - start) * (len(w) + 1) / total
        out.append({"word": w, "start": round(t, 2), "end": round(t + d, 2), "conf": 0.9})
        t += d
    return out


def make_sample_audio(fixtures: Path, out: Path) -> Path:
    """A mixed recording: silence, the caller's fixture WAV, silence, the spy fixture WAV, silence."""
    parts: list[bytes] = []
    rate = 8000

    def silence(seconds: float) -> bytes:
        return b"\x00\x00" * int(rate * seconds)

    for name, before in (("audiosocket_received.wav", 1.5), ("spy_received.wav", 0.6)):
        with wave.open(str(fixtures / name), "rb") as w:
            if (w.getnchannels(), w.getsampwidth(), w.getframerate()) != (1, 2, rate):
                raise ValueError(f"{name}: expected 8 kHz 16-bit mono")
            parts += [silence(before), w.readframes(w.getnframes())]
    parts.append(silence(4.2))
    out.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(parts))
    return out


def seed_sample_calls(store: SqlStore, audio: Path | None = None, *, start: float = SAMPLE_START) -> list[str]:
    """Store the sample calls (idempotent); ``audio`` is the main call's recording, if any."""
    t0 = start
    cid = MAIN_CALL
    store.upsert_call(cid, started_at=t0, caller_number="13912345678", caller_name="张三丰 市民")
    store.link(cid, "1795881255.253", "uniqueid", "Local/s@hotline-0000007d;2")
    store.link(cid, "4f0a8c3e-5b1d-4c55-9d1e-2b8f0c6a7e11", "audiosocket")
    for dt, kind, data in (
        (0.0, "call.start", {}),
        (0.4, "ivr.node", {"node": "welcome", "verb": "play"}),
        (5.8, "ivr.node", {"node": "main_menu", "verb": "menu"}),
        (8.9, "ivr.input", {"node": "main_menu", "digits": "2"}),
        (9.2, "ivr.node", {"node": "intake", "verb": "listen"}),
        (14.0, "ivr.end", {"outcome": "queued"}),
        (14.2, "queue.join", {"queue": "citizen", "position": 1}),
        (42.6, "agent.ring", {"agent": "8001 王芳"}),
        (44.0, "agent.connect", {"queue": "citizen", "agent": "8001 王芳", "wait": 29.8}),
        (58.5, "agent.complete", {"agent": "8001 王芳", "reason": "caller"}),
        (59.0, "call.hangup", {}),
    ):
        store.add_event(cid, kind, t0 + dt, data, dedupe=f"{cid}/{kind}/{dt}")
    store.upsert_call(
        cid,
        ivr_flow="hotline_main",
        ivr_path=["welcome", "main_menu", "intake", "queue_citizen"],
        ivr_inputs={"main_menu": "2", "intake": "我要报修路灯坏了"},
        ivr_outcome="queued",
        language="zh",
        queue="citizen",
        queue_joined_at=t0 + 14.2,
        queue_answered_at=t0 + 44.0,
        answered_at=t0 + 44.0,
        agent="8001 王芳",
        outcome="answered",
        ended_at=t0 + 59.0,
    )
    for leg, s, e, text in MAIN_SEGMENTS:
        store.add_segment(cid, leg, s, e, text, words=_words(text, s, e) if text.isascii() else ())
    if audio is not None:
        store.add_audio(cid, "mixed", audio, offset=AUDIO_OFFSET)

    ab = "1795881301.260"
    store.upsert_call(ab, started_at=t0 + 46, caller_number="0755-86123456", ivr_flow="hotline_main",
                      ivr_path=["welcome", "main_menu", "queue_citizen"], ivr_inputs={"main_menu": "1"},
                      ivr_outcome="queued", language="en", queue="citizen", queue_joined_at=t0 + 58,
                      queue_abandoned_at=t0 + 105, outcome="abandoned", ended_at=t0 + 105)
    store.add_event(ab, "queue.join", t0 + 58, {"queue": "citizen", "position": 2}, dedupe=f"{ab}/join")
    store.add_event(ab, "queue.abandon", t0 + 105, {"queue": "citizen", "wait": 47}, dedupe=f"{ab}/abandon")

    cb = "1795881390.271"
    store.upsert_call(cb, started_at=t0 + 135, caller_number="13800138000", ivr_flow="hotline_main",
                      ivr_path=["welcome", "main_menu", "queue_noise", "callback_offer"],
                      ivr_inputs={"main_menu": "3", "callback_offer": "1"}, ivr_outcome="callback",
                      language="zh", queue="noise", queue_joined_at=t0 + 149, queue_abandoned_at=t0 + 209,
                      outcome="callback", ended_at=t0 + 221)
    store.add_segment(cb, "caller", 9.0, 12.5, "楼下工地晚上十一点还在施工，噪音太大了")
    store.add_event(cb, "callback.offer", t0 + 209, {"queue": "noise"}, dedupe=f"{cb}/offer")
    store.add_event(cb, "callback.accept", t0 + 214, {"digits": "1"}, dedupe=f"{cb}/accept")
    return [cid, ab, cb]
