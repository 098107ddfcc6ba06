"""The FastAGI adapter against a fake channel: the AGI paths the simulator does not take."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.asterisk.agi_channel import GetDataResult
from engine.asterisk.errors import AgiCommandError, AgiHangup
from ivr_flows.agi_adapter import FlowServices, run_flow
from ivr_flows.loader import load_text
from tests.asr_helpers import asr_model  # noqa: F401  (fixture)


@dataclass
class Request:
    uniqueid: str = "1795881200.9"
    channel: str = "PJSIP/trunk-0001"
    callerid: str = "13912345678"
    language: str = "en"


@dataclass
class Reply:
    result: int | None = 0


@dataclass
class FakeChannel:
    """Keys pressed per prompt name or per WAIT FOR DIGIT; every command logged."""

    keys: dict[str, str] = field(default_factory=dict)
    waits: list[str] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    hang_up_on: str = ""
    request: Request = field(default_factory=Request)
    linkedid: str = "1795881200.1"  # CHANNEL(linkedid): the call's first channel (a Local pair's ;1)
    log: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)

    def _do(self, line: str) -> None:
        self.log.append(line)
        if self.hang_up_on and line.startswith(self.hang_up_on):
            raise AgiHangup("caller hung up")
        if any(line.startswith(r) for r in self.refuse):
            raise AgiCommandError(f"{line}: refused")

    async def answer(self) -> None:
        self._do("ANSWER")

    async def get_variable(self, name: str) -> str | None:
        self._do(f"GET VARIABLE {name}")
        return self.linkedid if name == "CHANNEL(linkedid)" else None

    async def set_variable(self, name: str, value: str) -> None:
        self._do(f"SET VARIABLE {name} {value}")
        self.variables[name] = value

    async def stream_file(self, name: str, escape: str = "") -> tuple[str | None, int]:
        self._do(f"STREAM FILE {name} {escape}")
        key = self.keys.get(name, "")
        return (key, 100) if key and key in escape else (None, 8000)

    async def get_data(self, prompt: str, timeout: float | None = None, max_digits: int | None = None):
        self._do(f"GET DATA {prompt} {timeout} {max_digits}")
        got = self.keys.get(prompt, "")
        return GetDataResult(got, not got)

    async def wait_for_digit(self, timeout: float | None) -> str | None:
        self._do(f"WAIT FOR DIGIT {timeout}")
        return self.waits.pop(0) if self.waits else None

    async def say_digits(self, digits: str, escape: str = "") -> str | None:
        self._do(f"SAY DIGITS {digits}")
        return None

    async def command(self, command: str, *args) -> Reply:
        self._do(" ".join([command, *map(str, args)]))
        return Reply(0)

    async def exec(self, app: str, args: str = "") -> int:
        self._do(f"EXEC {app} {args}")
        return 0

    async def audiosocket(self, uuid: str, target: str) -> int:
        return await self.exec("AudioSocket", f"{uuid},{target}")

    async def hangup(self) -> None:
        self._do("HANGUP")


FLOW = """
flow: t
start: menu
languages: [en]
nodes:
  menu:
    verb: menu
    prompt: [hotline/welcome, hotline/main_menu]
    choices: {"1": pin, "2": msg, "3": out}
    failed: bye
  pin:
    verb: collect
    prompt: hotline/enter_work_order
    var: PIN
    max_digits: 4
    terminator: "*"
    next: queue
    failed: bye
  queue: {verb: queue, queue: citizen, priority: 3, timeout: 60, announce: [position], prompt: hotline/transferring}
  msg: {verb: record, prompt: hotline/after_hours, next: bye, beep: false}
  out: {verb: transfer, to: PJSIP/operator}
  bye: {verb: hangup}
"""
flow = load_text(FLOW, "t.yaml")[0]


class Info:
    def query(self, queue, priority, now, **ids):
        from ivr_flows.protocol import QueueInfo

        return QueueInfo(position=12, wait=600.0)

    def left_queue_node(self, uniqueid, now, *, queued):
        pass


async def test_key_during_lead_in_then_wait_for_digit_and_own_terminator() -> None:
    ch = FakeChannel(keys={"hotline/welcome": "1"}, waits=["4", "2", "*"])
    rec = await run_flow(ch, flow, FlowServices(queue_info=Info(), clock=lambda: 0.0))
    assert rec.outcome == "queued" and ch.variables["PIN"] == "42"
    assert "GET DATA hotline/main_menu 5.0 1" not in ch.log  # the key during the welcome chose
    assert "STREAM FILE hotline/enter_work_order 0123456789*#" in ch.log  # no GET DATA: '*' ends input
    assert ch.log.count("WAIT FOR DIGIT 8.0") == 3
    assert "STREAM FILE hotline/numbers/12 " in ch.log  # position 12 from the number prompts
    assert not any(line.startswith("SAY ") for line in ch.log)
    assert ch.variables["HOTLINE_ACTION"] == "queue" and ch.variables["QUEUE_PRIO"] == "3"
    assert ch.variables["HOTLINE_QUEUE_TIMEOUT"] == "60"
    assert rec.linkedid == "1795881200.1" and rec.uniqueid == "1795881200.9" and rec.language == "en"


async def test_record_falls_back_to_asterisk_record_and_refused_variables_do_not_stop_the_call() -> None:
    ch = FakeChannel(keys={"hotline/main_menu": "2"}, refuse={"SET VARIABLE CHANNEL(language)"})
    services = FlowServices(clock=lambda: 0.0)
    rec = await run_flow(ch, flow, services)
    assert "EXEC Record hotline-messages/1795881200.9.wav,5,120,k" in ch.log
    assert "STREAM FILE beep " not in ch.log  # beep: false
    assert rec.outcome == "message_left" and ch.log[-1] == "HANGUP"
    assert services.stats["command_errors"] >= 1


async def test_transfer_and_hangup_mid_prompt() -> None:
    ch = FakeChannel(keys={"hotline/main_menu": "3"})
    rec = await run_flow(ch, flow, FlowServices(clock=lambda: 0.0))
    assert rec.outcome == "transferred" and ch.variables["HOTLINE_TRANSFER"] == "PJSIP/operator"
    ch = FakeChannel(hang_up_on="STREAM FILE hotline/welcome")
    rec = await run_flow(ch, flow, FlowServices(clock=lambda: 0.0))
    assert rec.outcome == "abandoned_in_ivr" and rec.end_node == "menu"


async def test_speech_step_without_speech_path_fails_soft() -> None:
    text = "flow: s\nstart: i\nlanguages: [en]\nnodes:\n  i: {verb: intake, next: bye}\n  bye: {verb: hangup}\n"
    ch = FakeChannel()
    rec = await run_flow(ch, load_text(text, "s.yaml")[0], FlowServices(clock=lambda: 0.0))
    assert rec.outcome == "self_served" and [i.kind for i in rec.inputs] == ["error"]
    assert not any(line.startswith("EXEC AudioSocket") for line in ch.log)


async def test_speech_menu_takes_a_key_over_audiosocket(asr_model) -> None:  # noqa: F811
    """In a speech menu the caller's key arrives as AudioSocket DTMF (kind 0x03) and stops the prompt."""
    from asr.pipeline import SpeechPipeline
    from engine.asterisk.audiosocket_server import AudioSocketServer
    from engine.pbxsim.audiosocket_client import AudioSocketClient

    text = """flow: sm
start: menu
languages: [zh]
nodes:
  menu:
    verb: menu
    prompt: hotline/main_menu
    choices: {"1": a, "2": b}
    speech: {"1": [민원 접수], "2": [요금 문의]}
    failed: bye
  a: {verb: set, vars: {PICK: a}, next: bye}
  b: {verb: set, vars: {PICK: b}, next: bye}
  bye: {verb: hangup}
"""
    calls: list = []

    class SocketChannel(FakeChannel):
        async def audiosocket(self, uuid: str, target: str) -> int:
            self._do(f"EXEC AudioSocket {uuid},{target}")
            host, _, port = target.rpartition(":")
            client = AudioSocketClient(host, int(port), uuid, pace=1.0, dtmf={0.4: "2"}, linger=5.0)
            calls.append(await client.stream(bytes(16000)))  # one second of silence from the caller
            return 0

    pipeline = SpeechPipeline(asr_model, workers=1)
    try:
        async with AudioSocketServer(port=0) as server:
            ch = SocketChannel()
            services = FlowServices(audiosocket=server, pipeline=pipeline, speech_menus=True, clock=lambda: 0.0)
            rec = await run_flow(ch, load_text(text, "sm.yaml")[0], services)
    finally:
        await pipeline.aclose()
    assert ch.variables["PICK"] == "b" and [i.kind for i in rec.inputs] == ["digits"]
    assert not any(line.startswith("GET DATA") for line in ch.log)
    (call,) = calls
    assert call.hangup_received  # the engine ended the turn at the key
    # the 11 s prompt stopped at the key: far less than its length came back
    assert sum(len(m.payload) for m in call.received if m.kind == 0x10) < 3 * 16000


ZH_QUEUE = """
flow: zq
start: queue
languages: [zh, en]
nodes:
  queue:
    verb: queue
    queue: citizen
    prompt: hotline/transferring
    announce: [position, wait]
    callback_above: 60
    offer_prompt: hotline/offer_callback
    callback: callback
  callback:
    verb: callback
    confirm_prompt: hotline/callback_at
    confirm_menu_prompt: hotline/callback_confirm
    enter_prompt: hotline/callback_enter
    booked_prompt: hotline/callback_booked
    next: bye
    failed: bye
  bye: {verb: hangup}
"""


class Booking(Info):
    def query(self, queue, priority, now, **ids):
        from ivr_flows.protocol import QueueInfo

        return QueueInfo(position=3, wait=71.0)

    def book(self, queue, number, priority, now, linkedid="", uniqueid=""):
        return "CB-00001"


async def test_numbers_are_stream_file_of_the_number_prompts_in_mandarin() -> None:
    """Stock Asterisk has no Mandarin digits: position 3, "两 minutes" and the number read back
    are STREAM FILE of hotline/numbers/*, uninterruptible, and never SAY NUMBER / SAY DIGITS."""
    from ivr_flows.numbers import digit_prompts, number_prompts

    ch = FakeChannel(keys={"hotline/offer_callback": "1", "hotline/callback_confirm": "1"},
                     request=Request(callerid="13912345678", language="zh"))
    ch.keys["hotline/numbers/8"] = "1"  # a key during a spoken number does not stop it
    rec = await run_flow(ch, load_text(ZH_QUEUE, "zq.yaml")[0], FlowServices(queue_info=Booking(), clock=lambda: 0.0))
    assert rec.outcome == "callback_booked" and rec.language == "zh"
    streamed = [line.removeprefix("STREAM FILE ").rsplit(" ", 1) for line in ch.log if line.startswith("STREAM FILE")]
    names = [line.split()[2] for line in ch.log if line.startswith(("STREAM FILE", "GET DATA"))]
    announce = names[names.index("hotline/transferring"):names.index("hotline/offer_callback") + 1]
    assert announce == ["hotline/transferring", "hotline/position", *number_prompts(3, "zh"), "hotline/wait",
                        *number_prompts(2, "zh", measure=True), "hotline/minutes", "hotline/offer_callback"]
    assert number_prompts(2, "zh", measure=True) == ("hotline/numbers/liang",)  # 两分钟
    readback = names[names.index("hotline/callback_at") + 1:names.index("hotline/callback_confirm")]
    assert readback == list(digit_prompts("13912345678", "zh"))  # 幺三九幺二三四五六七八
    numbers = [(name, escape) for name, escape in streamed if name.startswith("hotline/numbers/")]
    assert [name for name, _ in numbers] == [*number_prompts(3, "zh"), *number_prompts(2, "zh", measure=True),
                                             *digit_prompts("13912345678", "zh")]
    assert all(escape == "" for _, escape in numbers)
    assert not any(line.startswith("SAY ") for line in ch.log)


async def test_a_language_without_number_prompts_falls_back_to_say_number(tmp_path) -> None:
    (tmp_path / "fr" / "hotline").mkdir(parents=True)
    (tmp_path / "fr" / "hotline" / "position.wav").write_bytes(b"RIFF")
    text = "flow: f\nstart: q\nlanguages: [fr]\nnodes:\n  q: {verb: queue, queue: citizen, announce: [position]}\n"
    ch = FakeChannel(request=Request(language="fr"))
    await run_flow(ch, load_text(text, "f.yaml", prompt_root=tmp_path)[0], FlowServices(queue_info=Info(), clock=lambda: 0.0))
    assert "SAY NUMBER 12 " in ch.log and not any("hotline/numbers/" in line for line in ch.log)


async def test_callers_in_the_queue_node_count_until_they_join_or_leave() -> None:
    """The adapter tells LiveQueueInfo who is in the queue node (FastAGI Uniqueid + the call's
    Linkedid) and when the flow leaves it: three callers a few seconds apart hear 1, 2, 3."""
    from engine.events.ami import Hangup, QueueCallerJoin
    from ivr_flows.callback import LiveQueueInfo, QueueState

    text = "flow: q\nstart: q\nlanguages: [en]\nnodes:\n  q: {verb: queue, queue: citizen, announce: [position]}\n"
    queue_flow = load_text(text, "q.yaml")[0]
    info = LiveQueueInfo()
    info.agents["citizen"] = QueueState(staffed=1, available=0)
    heard = []
    for i, t in enumerate((0.0, 3.0, 6.0)):
        ch = FakeChannel(request=Request(uniqueid=f"1796448581.{2 * i + 3}"), linkedid=f"1796448581.{2 * i + 2}")
        rec = await run_flow(ch, queue_flow, FlowServices(queue_info=info, clock=lambda t=t: t))
        heard.append(int(rec.inputs[0].value.split()[1].rstrip(",")))
    assert heard == [1, 2, 3]
    assert info.callbacks.announced("citizen", 7.0) == 3  # handed to Queue(), not yet joined per AMI
    # the first joins (QueueCallerJoin on the ;2 channel, the call's Linkedid); the second hangs up
    info.feed(QueueCallerJoin(uniqueid="1796448581.3", linkedid="1796448581.2", queue="citizen"), 8.0)
    info.feed(Hangup(uniqueid="1796448581.4", linkedid="1796448581.4"), 8.5)  # its ;1: the call's first channel
    assert info.callbacks.announced("citizen", 9.0) == 1
    assert info.query("citizen", 0, 9.0).position == 3  # one waiting + one announced + me
    # the third is never heard of again: forgotten join_grace after the flow handed it over
    assert info.callbacks.announced("citizen", 6.0 + info.callbacks.join_grace + 0.1) == 0
