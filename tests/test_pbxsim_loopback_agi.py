"""Loopback: the simulator's FastAGI caller + AudioSocket client against the engine's servers.

A small scripted dialog runs the way the recording ``fastagi_exec_audiosocket.txt`` shows:
prompts and digits over FastAGI, then ``EXEC AudioSocket "<uuid>,host:port"`` hands the
caller's voice (``audiosocket_received.wav``, streamed in real time) to the AudioSocket
server, which plays a paced prompt back and hangs up; ``EXEC`` returns ``200 result=0`` and
the flow goes on.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import struct
import uuid as uuid_mod

import pytest

from engine.asterisk.agi_channel import AgiChannel
from engine.asterisk.agi_server import AgiServer
from engine.asterisk.audiosocket_server import AudioSocketServer
from engine.asterisk.errors import AgiHangup
from engine.pbxsim.agi_client import AgiClient, CallerScript
from engine.pbxsim.audiosocket_client import read_wav

PROMPT = struct.pack("<8000h", *(int(6000 * math.sin(2 * math.pi * 330 * i / 8000)) for i in range(8000)))


async def test_scripted_dialog_with_exec_audiosocket(asterisk_fixtures):
    wav, rate = read_wav(asterisk_fixtures / "audiosocket_received.wav")
    outcome: dict[str, object] = {}

    async with AudioSocketServer(port=0) as audio_server, AgiServer(port=0) as agi_server:

        async def intake(ch: AgiChannel) -> None:
            await ch.answer()
            digit, endpos = await ch.stream_file("hotline/hello", "0123456789")
            entered = await ch.get_data("hotline/enter-number", timeout=3, max_digits=4)
            await ch.set_variable("IVR_CHOICE", digit or "")
            uid = str(uuid_mod.uuid4())
            exec_task = asyncio.ensure_future(ch.audiosocket(uid, f"127.0.0.1:{audio_server.port}"))
            session = await audio_server.wait_session(uid, 5)
            session.play(PROMPT)
            heard = bytearray()
            async for frame in session.audio():
                heard += frame.pcm
                if len(heard) >= len(wav):
                    break
            await session.drain()
            await session.hangup()
            exec_result = await exec_task
            await ch.set_variable("INTAKE", "heard")
            status = await ch.get_variable("AUDIOSOCKET_STATUS")
            await ch.verbose("intake done")
            outcome.update(
                digit=digit, endpos=endpos, entered=entered, heard=bytes(heard), exec_result=exec_result,
                status=status, session=session, uid=uid, request=ch.request,
            )

        agi_server.route("intake", intake)
        caller = CallerScript(dtmf=["2", "1234#"], audio=wav, audio_pace=1.0)
        client = AgiClient(
            "127.0.0.1", agi_server.port, "intake", caller=caller, query="lang=zh",
            calleridname="张三丰 市民", callerid="13912345678",
        )
        result = await client.run()

    assert not result.timed_out and result.engine_closed and not result.caller_hung_up
    assert outcome["digit"] == "2" and outcome["endpos"] == 4000
    assert outcome["entered"].digits == "1234" and not outcome["entered"].timed_out
    assert outcome["heard"] == wav  # the engine got the caller's audio byte for byte
    assert outcome["exec_result"] == 0 and outcome["status"] is None
    assert outcome["request"].calleridname == "张三丰 市民" and outcome["request"].params == {"lang": "zh"}
    uid = outcome["uid"]
    assert result.transcript == [
        ("ANSWER", "200 result=0"),
        ('STREAM FILE hotline/hello "0123456789"', "200 result=50 endpos=4000"),
        ("GET DATA hotline/enter-number 3000 4", "200 result=1234"),
        ('SET VARIABLE IVR_CHOICE "2"', "200 result=1"),
        (f'EXEC AudioSocket "{uid},127.0.0.1:{audio_server.port}"', "200 result=0"),
        ('SET VARIABLE INTAKE "heard"', "200 result=1"),
        ("GET VARIABLE AUDIOSOCKET_STATUS", "200 result=0"),
        ('VERBOSE "intake done" 1', "200 result=1"),
    ]
    assert result.variables["INTAKE"] == "heard" and result.variables["IVR_CHOICE"] == "2"
    # the AudioSocket leg: all of the WAV went out, the prompt came back paced, then a hangup
    (call,) = result.audiosocket
    assert call.hangup_received and call.frames_sent == 194
    assert PROMPT in call.received_audio()
    times = call.audio_times()
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert statistics.median(gaps) == pytest.approx(0.020, abs=0.004)
    assert len(times) >= 0.8 * (times[-1] - times[0]) / 0.020  # steady, not bursty
    assert times[0] < 0.5  # audio (silence) from the first moment
    session = outcome["session"]
    assert session.stats.frames_out == len(PROMPT) // 320 and session.stats.dropped_in == 0


@pytest.mark.parametrize("style", ["asterisk", "eof", "hangup_line"])
@pytest.mark.parametrize("step", [2, 3, 4])
async def test_caller_hangs_up_at_step_n(style, step):
    seen: list[object] = []

    async def menu(ch: AgiChannel) -> None:
        try:
            await ch.answer()
            await ch.stream_file("hotline/hello", "12")
            await ch.set_variable("X", "1")
            await ch.get_data("hotline/number", 2, 3)
            await ch.verbose("done")
            seen.append("completed")
        except AgiHangup as exc:
            seen.append(exc)
            raise

    async with AgiServer(port=0, hangup_grace=1.0) as server:
        server.route("main_menu", menu)
        caller = CallerScript(dtmf=["", "12#"], hangup_at=step, hangup_style=style)
        result = await asyncio.wait_for(AgiClient("127.0.0.1", server.port, caller=caller, timeout=10).run(), 15)
    assert len(seen) == 1 and isinstance(seen[0], AgiHangup)
    assert result.caller_hung_up and not result.timed_out
    assert len(result.commands) == step  # nothing was sent after the hangup was seen
    assert server.stats["hangups"] == 1


async def test_flow_hangs_up_then_caller_side_reports_hangup():
    async def bye(ch: AgiChannel) -> None:
        await ch.say_digits("12345")
        await ch.hangup()

    async with AgiServer(port=0) as server:
        server.route("bye", bye)
        result = await AgiClient("127.0.0.1", server.port, "bye").run()
    assert result.transcript == [
        ('SAY DIGITS 12345 ""', "200 result=0"),
        ("HANGUP", "200 result=1"),
        ("", "HANGUP"),
    ]
    assert server.stats["completed"] == 1


async def test_audio_file_and_failed_audiosocket_connect(asterisk_fixtures, unused_tcp_port):
    """EXEC AudioSocket to a port where nobody listens gives -1 (a command error in the flow)."""
    from engine.asterisk.errors import AgiCommandError

    seen: list[object] = []

    async def flow(ch: AgiChannel) -> None:
        try:
            await ch.audiosocket(str(uuid_mod.uuid4()), f"127.0.0.1:{unused_tcp_port}")
        except AgiCommandError as exc:
            seen.append(exc)
        await ch.verbose("went on")

    async with AgiServer(port=0, hangup_grace=0.1) as server:
        server.route("intake", flow)
        caller = CallerScript(audio_file=str(asterisk_fixtures / "audiosocket_received.wav"))
        result = await AgiClient("127.0.0.1", server.port, "intake", caller=caller).run()
    assert len(seen) == 1 and "result=-1" in str(seen[0])
    assert result.transcript[-1] == ('VERBOSE "went on" 1', "200 result=1")


async def test_hangup_caught_by_the_flow_still_counts_as_a_hangup():
    """A flow that keeps its record catches AgiHangup and returns (as run_flow does): not "completed"."""

    async def keeps_record(ch: AgiChannel) -> None:
        try:
            await ch.answer()
            await ch.stream_file("hotline/hello", "12")
            await ch.verbose("done")
        except AgiHangup:
            pass

    async with AgiServer(port=0, hangup_grace=1.0) as server:
        server.route("main_menu", keeps_record)
        caller = CallerScript(hangup_at=2, hangup_style="eof")
        await asyncio.wait_for(AgiClient("127.0.0.1", server.port, caller=caller, timeout=10).run(), 15)
    assert (server.stats["hangups"], server.stats["completed"]) == (1, 0)


async def test_run_flow_hangup_counts_as_a_hangup():
    """The IVR adapter's run_flow, caller gone in the middle of the default flow."""
    from ivr_flows.agi_adapter import FlowServices, run_flow
    from ivr_flows.loader import load_flows

    flow = load_flows()["hotline"]
    services = FlowServices(clock=lambda: 1796000000.0)
    records: list = []
    services.on_record = records.append

    async def handler(ch: AgiChannel) -> None:
        await run_flow(ch, flow, services)

    async with AgiServer(port=0, hangup_grace=0.2) as server:
        server.route("hotline", handler)
        caller = CallerScript(hangup_at=4)
        await asyncio.wait_for(AgiClient("127.0.0.1", server.port, "hotline", caller=caller, timeout=10).run(), 15)
        for _ in range(100):
            if records:
                break
            await asyncio.sleep(0.01)
    assert records[0].outcome == "abandoned_in_ivr" and services.stats["hangups"] == 1
    assert (server.stats["hangups"], server.stats["completed"]) == (1, 0)
