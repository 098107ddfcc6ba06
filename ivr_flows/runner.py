"""The flow runner: a pure state machine, ``step(state, event, now) -> (state, commands)``.

No I/O and no clock: ``now`` (epoch seconds) comes in with every event, so the same runner
drives a live call over FastAGI, the ``hotline flow run`` dry run and tests on a fake clock.
``start`` enters the flow's first node; every later move is a ``step``. Nodes that take no
time (set, goto, hours, language with ``set``) are passed through within one step; a node that
plays or listens ends the command list with one awaiting command and waits for its answer.
A ``HungUp`` event is accepted in any state and ends the run where it is. ``record(state)``
gives the run's record (path, inputs, timings, outcome) at any point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from ivr_flows import protocol as p
from ivr_flows import schema as s
from ivr_flows.checksums import VALIDATORS
from ivr_flows.errors import FlowRuntimeError
from ivr_flows.record import Input, RunRecord, Visit, mask_number

MAX_INSTANT_HOPS = 1000


@dataclass(frozen=True)
class CallInfo:
    """Who is calling, from the FastAGI ``agi_*`` header (and CHANNEL(linkedid))."""

    uniqueid: str = ""
    linkedid: str = ""
    channel: str = ""
    caller: str = ""  # caller number; used to offer a callback, masked in the record
    language: str = ""  # agi_language; the flow's default is used when it is not one of its own


@dataclass(frozen=True)
class RunState:
    flow: s.Flow
    call: CallInfo
    node: str
    phase: str  # what the current node waits for; "" while passing through, "ended" at the end
    language: str
    started: float
    attempt: int = 0
    typeahead: str = ""  # a key that stopped a barge-in prompt, offered to the next menu
    number: str = ""  # callback number being confirmed
    last_queue: tuple[str, int] = ("", 0)  # (queue, priority) of the last queue node seen
    vars: dict[str, str] = field(default_factory=dict)
    path: tuple[Visit, ...] = ()
    inputs: tuple[Input, ...] = ()
    transcript: str = ""
    callback_ref: str = ""
    outcome: str = ""
    outcome_hint: str = ""  # callback_booked / message_left, kept when the caller then hangs up
    end_node: str = ""
    ended: float | None = None

    @property
    def done(self) -> bool:
        return self.phase == "ended"

    @property
    def current(self) -> s.Node:
        return self.flow.nodes[self.node]


Result = tuple[RunState, list[p.Command]]


def start(flow: s.Flow, call: CallInfo, now: float) -> Result:
    language = call.language if call.language in flow.languages else flow.default_language
    state = RunState(flow=flow, call=call, node=flow.start, phase="", language=language, started=now)
    cmds: list[p.Command] = [p.SetLanguage(language)]
    state = _enter(state, flow.start, now, cmds)
    return state, cmds


def step(state: RunState, event: p.Event, now: float) -> Result:
    if state.done:
        if isinstance(event, p.HungUp):
            return state, []
        raise FlowRuntimeError(f"run of flow '{state.flow.name}' has ended; got {type(event).__name__}")
    if isinstance(event, p.HungUp):
        outcome = state.outcome_hint or "abandoned_in_ivr"
        return _end(state, now, outcome, result="hung up"), []
    handler = _HANDLERS.get(state.phase)
    if handler is None:
        raise FlowRuntimeError(f"node '{state.node}' is not waiting for anything (phase {state.phase!r})")
    cmds: list[p.Command] = []
    state = handler(state, event, now, cmds)
    return state, cmds


def record(state: RunState, now: float | None = None) -> RunRecord:
    """The run's record; for a run still going, the current visit is left open."""
    qname, prio = state.last_queue
    return RunRecord(
        flow=state.flow.name, uniqueid=state.call.uniqueid, linkedid=state.call.linkedid or state.call.uniqueid,
        channel=state.call.channel, caller=mask_number(state.call.caller), started=state.started,
        ended=state.ended if state.ended is not None else (now if now is not None else state.started),
        outcome=state.outcome, end_node=state.end_node, language=state.language, path=state.path,
        inputs=state.inputs, transcript=state.transcript, queue=qname, priority=prio,
        callback_ref=state.callback_ref, vars=dict(state.vars))


# -- moving between nodes ----------------------------------------------------------------------


def _leave(state: RunState, now: float, result: str) -> RunState:
    if not state.path or state.path[-1].left is not None:
        return state
    last = replace(state.path[-1], left=now, result=result)
    return replace(state, path=state.path[:-1] + (last,))


def _go(state: RunState, target: str, now: float, cmds: list[p.Command], result: str) -> RunState:
    return _enter(_leave(state, now, result), target, now, cmds)


def _input(state: RunState, kind: str, value: str, now: float) -> RunState:
    return replace(state, inputs=state.inputs + (Input(state.node, kind, value, now),))


def _end(state: RunState, now: float, outcome: str, result: str = "") -> RunState:
    state = _leave(state, now, result or outcome)
    return replace(state, phase="ended", outcome=outcome, end_node=state.node, ended=now)


def _enter(state: RunState, node_id: str, now: float, cmds: list[p.Command]) -> RunState:
    for _ in range(MAX_INSTANT_HOPS):
        node = state.flow.nodes[node_id]
        state = replace(state, node=node_id, phase="", attempt=0,
                        path=state.path + (Visit(node_id, node.verb, now),))
        state, target = _ENTER[type(node)](state, node, now, cmds)
        if target is None:  # the node now waits for an answer, or the run ended
            return state
        if state.path[-1].left is None:
            state = _leave(state, now, _instant_result(node, target))
        node_id = target
    raise FlowRuntimeError(f"flow '{state.flow.name}': more than {MAX_INSTANT_HOPS} nodes without input")


def _instant_result(node: s.Node, target: str) -> str:
    if isinstance(node, s.Hours):
        return "open" if target == node.open else "closed"
    return f"-> {target}"


def _parts(*groups: tuple[str, ...] | tuple[p.Part, ...]) -> tuple[p.Part, ...]:
    out: list[p.Part] = []
    for g in groups:
        out.extend(p.Prompt(x) if isinstance(x, str) else x for x in g)
    return tuple(out)


Entered = tuple[RunState, str | None]  # (state, node to pass on to, or None when waiting/ended)


# -- entering each verb ------------------------------------------------------------------------


def _enter_play(state: RunState, node: s.Play, now: float, cmds: list[p.Command]) -> Entered:
    cmds.append(p.Play(_parts(node.prompt), barge_in=node.barge_in))
    return replace(state, phase="play", typeahead=""), None


def _ask_menu(node: s.Menu, before: tuple[str, ...] = ()) -> p.GetDigits:
    phrases = tuple((k, v) for k, v in node.speech.items())
    return p.GetDigits(_parts(before, node.prompt), max_digits=1, timeout=node.timeout, phrases=phrases)


def _enter_menu(state: RunState, node: s.Menu, now: float, cmds: list[p.Command]) -> Entered:
    key, state = state.typeahead, replace(state, typeahead="")
    if key in node.choices:
        state = _input(state, "digits", key, now)
        return _leave(state, now, f"choice {key} (type-ahead)"), node.choices[key]
    cmds.append(_ask_menu(node))
    return replace(state, phase="menu"), None


def _enter_collect(state: RunState, node: s.Collect, now: float, cmds: list[p.Command]) -> Entered:
    cmds.append(p.GetDigits(_parts(node.prompt), node.max_digits, node.timeout, node.terminator))
    return replace(state, phase="collect", typeahead=""), None


def _enter_intake(state: RunState, node: s.Intake, now: float, cmds: list[p.Command]) -> Entered:
    cmds.append(p.StartIntake(_parts(node.prompt), node.max_seconds, node.silence_ms, state.language))
    return replace(state, phase="intake", typeahead=""), None


def _enter_hours(state: RunState, node: s.Hours, now: float, cmds: list[p.Command]) -> Entered:
    is_open = node.calendar(state.flow.timezone).is_open(now)
    return state, node.open if is_open else node.closed


def _enter_language(state: RunState, node: s.Language, now: float, cmds: list[p.Command]) -> Entered:
    if node.set:
        cmds.append(p.SetLanguage(node.set))
        return replace(state, language=node.set), node.next
    cmds.append(p.GetDigits(_parts(node.prompt), max_digits=1, timeout=node.timeout))
    return replace(state, phase="language", typeahead=""), None


def _enter_queue(state: RunState, node: s.Queue, now: float, cmds: list[p.Command]) -> Entered:
    state = replace(state, last_queue=(node.queue, node.priority), typeahead="")
    if node.announce or node.callback_above:
        cmds.append(p.QueryQueue(node.queue, node.priority))
        return replace(state, phase="queue_info"), None
    if node.prompt:
        cmds.append(p.Play(_parts(node.prompt)))
        return replace(state, phase="queue_prompt"), None
    return _queue_now(state, node, now, cmds), None


def _queue_now(state: RunState, node: s.Queue, now: float, cmds: list[p.Command]) -> RunState:
    qvars = {"HOTLINE_QUEUE": node.queue, "HOTLINE_PRIORITY": str(node.priority)}
    cmds.extend(p.SetVar(k, v) for k, v in qvars.items())
    cmds.append(p.EnterQueue(node.queue, node.priority, node.timeout))
    return _end(replace(state, vars={**state.vars, **qvars}), now, "queued")


def _enter_callback(state: RunState, node: s.Callback, now: float, cmds: list[p.Command]) -> Entered:
    caller = state.call.caller
    state = replace(state, typeahead="", number="")
    if caller.isdigit() and node.min_digits <= len(caller) <= node.max_digits:
        cmds.append(_confirm_cmd(node, caller))
        return replace(state, number=caller, phase="cb_confirm"), None
    cmds.append(p.GetDigits(_parts(node.enter_prompt), node.max_digits, node.timeout))
    return replace(state, phase="cb_enter"), None


def _confirm_cmd(node: s.Callback, number: str, before: tuple[str, ...] = ()) -> p.GetDigits:
    parts = _parts(before, node.confirm_prompt, (p.Digits(number),), node.confirm_menu_prompt)
    return p.GetDigits(parts, max_digits=1, timeout=node.timeout)


def _enter_record(state: RunState, node: s.Record, now: float, cmds: list[p.Command]) -> Entered:
    cmds.append(p.RecordMessage(_parts(node.prompt), node.folder, node.max_seconds, node.silence_seconds, node.beep))
    return replace(state, phase="record", typeahead=""), None


def _enter_set(state: RunState, node: s.Set, now: float, cmds: list[p.Command]) -> Entered:
    cmds.extend(p.SetVar(k, v) for k, v in node.vars.items())
    return replace(state, vars={**state.vars, **node.vars}), node.next


def _enter_goto(state: RunState, node: s.Goto, now: float, cmds: list[p.Command]) -> Entered:
    return state, node.target


def _enter_transfer(state: RunState, node: s.Transfer, now: float, cmds: list[p.Command]) -> Entered:
    if node.prompt:
        cmds.append(p.Play(_parts(node.prompt)))
        return replace(state, phase="transfer_prompt"), None
    cmds.append(p.Transfer(node.to))
    return _end(state, now, "transferred"), None


def _enter_hangup(state: RunState, node: s.Hangup, now: float, cmds: list[p.Command]) -> Entered:
    if node.prompt:
        cmds.append(p.Play(_parts(node.prompt)))
        return replace(state, phase="hangup_prompt"), None
    cmds.append(p.Hangup())
    return _end(state, now, state.outcome_hint or "self_served"), None


_ENTER = {
    s.Play: _enter_play, s.Menu: _enter_menu, s.Collect: _enter_collect, s.Intake: _enter_intake,
    s.Hours: _enter_hours, s.Language: _enter_language, s.Queue: _enter_queue, s.Callback: _enter_callback,
    s.Record: _enter_record, s.Set: _enter_set, s.Goto: _enter_goto, s.Transfer: _enter_transfer,
    s.Hangup: _enter_hangup,
}


# -- answers to what a node waits for ----------------------------------------------------------


def _expect(event: p.Event, *types: type) -> None:
    if not isinstance(event, types):
        names = ", ".join(t.__name__ for t in types)
        raise FlowRuntimeError(f"expected {names}, got {type(event).__name__}")


def _on_play(state: RunState, event: p.Event, now: float, cmds: list[p.Command]) -> RunState:
    _expect(event, p.PlaybackDone, p.CommandFailed)
    node = state.current
    assert isinstance(node, s.Play)
    digit = event.digit if isinstance(event, p.PlaybackDone) and node.barge_in else ""
    if digit:
        state = _input(state, "digits", digit, now)
    state = replace(_leave(state, now, f"barge-in {digit}" if digit else "played"), typeahead=digit)
    return _enter(state, node.next, now, cmds)


def _retry_or_fail(state: RunState, node: s.Menu | s.Collect | s.Callback, now: float, cmds: list[p.Command],
                   why: str, ask: p.Command) -> RunState:
    """Count a failed try; ask again (``ask``) or go to the node's ``failed`` target."""
    if state.attempt >= node.retries:
        return _go(state, node.failed, now, cmds, f"{why}, no tries left")
    cmds.append(ask)
    return replace(state, attempt=state.attempt + 1)


def _on_menu(state: RunState, event: p.Event, now: float, cmds: list[p.Command]) -> RunState:
    _expect(event, p.DigitsReceived, p.Timeout, p.SpeechRecognized, p.CommandFailed)
    node = state.current
    assert isinstance(node, s.Menu)
    if isinstance(event, p.SpeechRecognized):
        state = _input(state, "speech", event.text, now)
        if event.choice in node.choices:
            return _go(state, node.choices[event.choice], now, cmds, f"said {event.choice}")
        return _retry_or_fail(state, node, now, cmds, "not understood", _ask_menu(node, node.invalid_prompt))
    if isinstance(event, p.DigitsReceived) and event.digits:
        key = event.digits[0]
        state = _input(state, "digits", key, now)
        if key in node.choices:
            return _go(state, node.choices[key], now, cmds, f"choice {key}")
        return _retry_or_fail(state, node, now, cmds, "invalid", _ask_menu(node, node.invalid_prompt))
    state = _input(state, "timeout" if not isinstance(event, p.CommandFailed) else "error",
                   getattr(event, "reason", ""), now)
    return _retry_or_fail(state, node, now, cmds, "timeout", _ask_menu(node, node.timeout_prompt))


def _on_collect(state: RunState, event: p.Event, now: float, cmds: list[p.Command]) -> RunState:
    _expect(event, p.DigitsReceived, p.Timeout, p.CommandFailed)
    node = state.current
    assert isinstance(node, s.Collect)
    digits = event.digits.rstrip(node.terminator) if isinstance(event, p.DigitsReceived) else ""
    if not digits:
        state = _input(state, "timeout", "", now)
        ask = p.GetDigits(_parts(node.timeout_prompt, node.prompt), node.max_digits, node.timeout, node.terminator)
        return _retry_or_fail(state, node, now, cmds, "timeout", ask)
    state = _input(state, "digits", mask_number(digits) if node.personal else digits, now)
    ok = digits.isdigit() and node.min_digits <= len(digits) <= node.max_digits
    if ok and node.validate in VALIDATORS:
        ok = VALIDATORS[node.validate](digits)
    if not ok:
        ask = p.GetDigits(_parts(node.invalid_prompt, node.prompt), node.max_digits, node.timeout, node.terminator)
        return _retry_or_fail(state, node, now, cmds, "invalid", ask)
    cmds.append(p.SetVar(node.var, digits))
    state = replace(state, vars={**state.vars, node.var: digits})
    return _go(state, node.next, now, cmds, "valid")


def _on_intake(state: RunState, event: p.Event, now: float, cmds: list[p.Command]) -> RunState:
    _expect(event, p.TranscriptReady, p.CommandFailed)
    node = state.current
    assert isinstance(node, s.Intake)
    if isinstance(event, p.CommandFailed):
        state = _input(state, "error", event.reason, now)
        return _go(state, node.no_speech or node.next, now, cmds, "intake failed")
    text = event.text.strip()
    state = _input(state, "transcript", text, now)
    if event.intake_id:
        cmds.append(p.SetVar("HOTLINE_INTAKE_ID", event.intake_id))
    if not text:
        return _go(state, node.no_speech or node.next, now, cmds, "no speech")
    cmds.append(p.SetVar(node.var, text[:200]))
    state = replace(state, transcript=(state.transcript + "\n" + text).strip(),
                    vars={**state.vars, node.var: text[:200]})
    if node.done_prompt:
        cmds.append(p.Play(_parts(node.done_prompt)))
        return replace(state, phase="intake_done")
    return _go(state, node.next, now, cmds, "heard")


def _on_intake_done(state: RunState, event: p.Event, now: float, cmds: list[p.Command]) -> RunState:
    _expect(event, p.PlaybackDone, p.CommandFailed)
    node = state.current
    assert isinstance(node, s.Intake)
    return _go(state, node.next, now, cmds, "heard")


def _on_language(state: RunState, event: p.Event, now: float, cmds: list[p.Command]) -> RunState:
    _expect(event, p.DigitsReceived, p.Timeout, p.CommandFailed)
    node = state.current
    assert isinstance(node, s.Language)
    key = event.digits[:1] if isinstance(event, p.DigitsReceived) else ""
    state = _input(state, "digits" if key else "timeout", key, now)
    lang = node.choices.get(key) or node.default or state.language
    cmds.append(p.SetLanguage(lang))
    state = replace(state, language=lang)
    return _go(state, node.next, now, cmds, f"{lang}" + ("" if key in node.choices else " (default)"))


def _on_queue_info(state: RunState, event: p.Event, now: float, cmds: list[p.Command]) -> RunState:
    _expect(event, p.QueueInfo, p.CommandFailed)
    node = state.current
    assert isinstance(node, s.Queue)
    info = event if isinstance(event, p.QueueInfo) else p.QueueInfo(position=0, wait=None)
    wait = "unknown" if info.wait is None else f"{info.wait:.0f}s"
    state = _input(state, "queue", f"position {info.position}, wait {wait}", now)
    parts = list(_parts(node.prompt))
    if "position" in node.announce and info.position > 0:
        parts += [*_parts(node.position_prompt), p.Number(info.position)]
    if "wait" in node.announce and info.wait is not None:
        minutes = max(1, math.ceil(info.wait / 60))
        parts += [*_parts(node.wait_prompt), p.Number(minutes, measure=True), *_parts(node.minutes_prompt)]
    offer = node.callback_above > 0 and (info.wait is None or info.wait > node.callback_above)
    if offer:
        cmds.append(p.GetDigits(tuple(parts) + _parts(node.offer_prompt), max_digits=1, timeout=node.offer_timeout))
        return replace(state, phase="queue_offer")
    if parts:
        cmds.append(p.Play(tuple(parts)))
        return replace(state, phase="queue_prompt")
    return _queue_now(state, node, now, cmds)


def _on_queue_prompt(state: RunState, event: p.Event, now: float, cmds: list[p.Command]) -> RunState:
    _expect(event, p.PlaybackDone, p.CommandFailed)
    node = state.current
    assert isinstance(node, s.Queue)
    return _queue_now(state, node, now, cmds)


def _on_queue_offer(state: RunState, event: p.Event, now: float, cmds: list[p.Command]) -> RunState:
    _expect(event, p.DigitsReceived, p.Timeout, p.CommandFailed)
    node = state.current
    assert isinstance(node, s.Queue)
    key = event.digits[:1] if isinstance(event, p.DigitsReceived) else ""
    state = _input(state, "digits" if key else "timeout", key, now)
    if key == node.offer_key:
        return _go(state, node.callback, now, cmds, "callback accepted")
    state = _leave(state, now, "callback declined")
    return _queue_now(state, node, now, cmds)


def _on_cb_confirm(state: RunState, event: p.Event, now: float, cmds: list[p.Command]) -> RunState:
    _expect(event, p.DigitsReceived, p.Timeout, p.CommandFailed)
    node = state.current
    assert isinstance(node, s.Callback)
    key = event.digits[:1] if isinstance(event, p.DigitsReceived) else ""
    state = _input(state, "digits" if key else "timeout", key, now)
    if key == "1":
        queue, prio = node.queue or state.last_queue[0], node.priority or state.last_queue[1]
        cmds.append(p.BookCallback(queue, state.number, prio))
        return replace(state, phase="cb_book", last_queue=(queue, prio))
    if key == "2":
        cmds.append(p.GetDigits(_parts(node.enter_prompt), node.max_digits, node.timeout))
        return replace(state, phase="cb_enter")
    why = "timeout" if not key else "invalid"
    before = node.invalid_prompt if key else ()
    return _retry_or_fail(state, node, now, cmds, why, _confirm_cmd(node, state.number, before))


def _on_cb_enter(state: RunState, event: p.Event, now: float, cmds: list[p.Command]) -> RunState:
    _expect(event, p.DigitsReceived, p.Timeout, p.CommandFailed)
    node = state.current
    assert isinstance(node, s.Callback)
    digits = event.digits.rstrip("#") if isinstance(event, p.DigitsReceived) else ""
    state = _input(state, "digits" if digits else "timeout", mask_number(digits), now)
    if digits.isdigit() and node.min_digits <= len(digits) <= node.max_digits:
        cmds.append(_confirm_cmd(node, digits))
        return replace(state, number=digits, phase="cb_confirm")
    ask = p.GetDigits(_parts(node.invalid_prompt if digits else (), node.enter_prompt), node.max_digits, node.timeout)
    return _retry_or_fail(state, node, now, cmds, "invalid" if digits else "timeout", ask)


def _on_cb_book(state: RunState, event: p.Event, now: float, cmds: list[p.Command]) -> RunState:
    _expect(event, p.CallbackBooked, p.CommandFailed)
    node = state.current
    assert isinstance(node, s.Callback)
    if isinstance(event, p.CommandFailed):
        state = _input(state, "error", event.reason, now)
        return _go(state, node.failed, now, cmds, "booking failed")
    state = _input(state, "callback", f"{event.ref} {mask_number(state.number)}", now)
    cmds.append(p.SetVar("HOTLINE_CALLBACK", event.ref))
    state = replace(state, callback_ref=event.ref, outcome_hint="callback_booked",
                    vars={**state.vars, "HOTLINE_CALLBACK": event.ref})
    cmds.append(p.Play(_parts(node.booked_prompt)))
    return replace(state, phase="cb_booked")


def _on_cb_booked(state: RunState, event: p.Event, now: float, cmds: list[p.Command]) -> RunState:
    _expect(event, p.PlaybackDone, p.CommandFailed)
    node = state.current
    assert isinstance(node, s.Callback)
    return _go(state, node.next, now, cmds, "booked")


def _on_record(state: RunState, event: p.Event, now: float, cmds: list[p.Command]) -> RunState:
    _expect(event, p.RecordingDone, p.CommandFailed)
    node = state.current
    assert isinstance(node, s.Record)
    if isinstance(event, p.CommandFailed):
        state = _input(state, "error", event.reason, now)
        return _go(state, node.next, now, cmds, "recording failed")
    state = _input(state, "recording", event.path, now)
    state = replace(state, outcome_hint="message_left")
    return _go(state, node.next, now, cmds, f"recorded {event.seconds:.0f}s")


def _on_transfer_prompt(state: RunState, event: p.Event, now: float, cmds: list[p.Command]) -> RunState:
    _expect(event, p.PlaybackDone, p.CommandFailed)
    node = state.current
    assert isinstance(node, s.Transfer)
    cmds.append(p.Transfer(node.to))
    return _end(state, now, "transferred")


def _on_hangup_prompt(state: RunState, event: p.Event, now: float, cmds: list[p.Command]) -> RunState:
    _expect(event, p.PlaybackDone, p.CommandFailed)
    cmds.append(p.Hangup())
    return _end(state, now, state.outcome_hint or "self_served")


_HANDLERS = {
    "play": _on_play, "menu": _on_menu, "collect": _on_collect, "intake": _on_intake,
    "intake_done": _on_intake_done, "language": _on_language, "queue_info": _on_queue_info,
    "queue_prompt": _on_queue_prompt, "queue_offer": _on_queue_offer, "cb_confirm": _on_cb_confirm,
    "cb_enter": _on_cb_enter, "cb_book": _on_cb_book, "cb_booked": _on_cb_booked, "record": _on_record,
    "transfer_prompt": _on_transfer_prompt, "hangup_prompt": _on_hangup_prompt,
}

__all__ = ["CallInfo", "RunState", "start", "step", "record"]
