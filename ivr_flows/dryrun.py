"""A simulated channel for trying a flow without a phone (``hotline flow run``) and for tests.

The caller is a script: ``digits`` answers each key request in order (an empty entry is a
timeout, ``s:text`` is speech to a speech menu), ``says`` answers each intake step, and
``hangup_at`` hangs up when the run reaches that node. Time advances on a fake clock by the
length of each prompt (read from the WAV files when present), so opening hours and run timings
behave as on a real call.

What it prints is masked like a run record (``engine.privacy``): numbers read back or typed at a
``personal`` collect or a callback node, and phone or ID numbers in what the caller says.
"""

from __future__ import annotations

import datetime as dt
import wave
from dataclasses import dataclass, field
from pathlib import Path

from engine.privacy import mask_text
from engine.store.render import clock as call_clock
from ivr_flows import protocol as p
from ivr_flows.loader import prompt_path
from ivr_flows.record import RunRecord, mask_number
from ivr_flows.runner import CallInfo, RunState, record, start, step
from ivr_flows.schema import Callback, Collect, Flow
from ivr_flows.speech import match_phrase

SAY_SECONDS = 0.8  # a spoken number or digit
PRESS_SECONDS = 1.5  # a caller's reaction time to a prompt


@dataclass
class Script:
    digits: list[str] = field(default_factory=list)
    says: list[str] = field(default_factory=list)
    hangup_at: str = ""  # node id
    position: int = 3
    wait: float | None = 90.0
    callback_ref: str = "CB-1"


@dataclass
class DryRun:
    record: RunRecord
    lines: list[str]
    commands: list[p.Command]


def part_text(part: p.Part) -> str:
    if isinstance(part, p.Prompt):
        return part.name
    if isinstance(part, p.Number):
        return f"<number {part.value}>"
    return f"<digits {mask_number(str(part.value))}>"


class _Clock:
    def __init__(self, flow: Flow, now: float) -> None:
        self.flow = flow
        self.t0 = now
        self.now = now
        self._cache: dict[tuple[str, str], float] = {}

    def duration(self, parts: tuple[p.Part, ...], language: str) -> float:
        total = 0.0
        for part in parts:
            if isinstance(part, p.Prompt):
                key = (language, part.name)
                if key not in self._cache:
                    self._cache[key] = _wav_seconds(prompt_path(self.flow.prompt_root, language, part.name))
                total += self._cache[key]
            else:
                total += SAY_SECONDS * (len(str(part.value)) if isinstance(part, p.Digits) else 1)
        return total

    def stamp(self) -> str:
        return call_clock(self.now - self.t0, minute_digits=2)


def _wav_seconds(path: Path | None) -> float:
    if path is None or path.suffix.lower() != ".wav":
        return 1.0
    try:
        with wave.open(str(path)) as w:
            return w.getnframes() / float(w.getframerate())
    except (wave.Error, OSError, EOFError):
        return 1.0


def run_script(flow: Flow, script: Script, *, now: float | None = None, call: CallInfo | None = None) -> DryRun:
    """Run ``flow`` to its end against the scripted caller; every step goes to ``lines``."""
    if now is None:
        now = dt.datetime.now(dt.UTC).timestamp()
    clock = _Clock(flow, now)
    call = call or CallInfo(uniqueid="dryrun.1", channel="Local/dryrun", caller="13800000001")
    lines: list[str] = []
    all_cmds: list[p.Command] = []
    digits, says = list(script.digits), list(script.says)
    state, cmds = start(flow, call, clock.now)
    shown = 0
    for _ in range(10_000):
        shown = _show_visits(state, lines, shown, clock)
        all_cmds.extend(cmds)
        if state.done:
            break
        if script.hangup_at and state.node == script.hangup_at:
            lines.append(f"{clock.stamp()}  caller hangs up at '{state.node}'")
            state, cmds = step(state, p.HungUp(), clock.now)
            continue
        event = _answer(state, cmds, clock, digits, says, script, lines)
        state, cmds = step(state, event, clock.now)
    shown = _show_visits(state, lines, shown, clock)
    if script.hangup_at and state.path[-1].result != "hung up":
        lines.append(f"note: the run never waited at '{script.hangup_at}' (a node that takes no input), "
                     "so the caller did not hang up there")
    rec = record(state)
    lines.append(f"outcome: {rec.outcome} at '{rec.end_node}' after {rec.duration:.1f} s"
                 + (f" (queue {rec.queue}, priority {rec.priority})" if rec.outcome == "queued" else ""))
    lines.append("path: " + " > ".join(rec.node_path))
    return DryRun(rec, lines, all_cmds)


def _show_visits(state: RunState, lines: list[str], shown: int, clock: _Clock) -> int:
    for visit in state.path[shown:]:
        if visit.left is None:
            break
        lines.append(f"{clock.stamp()}  [{visit.node}] {visit.verb}: {visit.result}")
        shown += 1
    return shown


def _answer(state: RunState, cmds: list[p.Command], clock: _Clock, digits: list[str], says: list[str],
            script: Script, lines: list[str]) -> p.Event:
    lang = state.language
    for cmd in cmds:
        if isinstance(cmd, p.SetVar):
            lines.append(f"{clock.stamp()}  set {cmd.name}={_shown_var(state.flow, cmd.name, cmd.value)}")
        elif isinstance(cmd, p.SetLanguage):
            lang = cmd.language
            lines.append(f"{clock.stamp()}  language {cmd.language}")
    last = cmds[-1] if cmds else None
    where = f"[{state.node}]"
    if isinstance(last, p.Play):
        lines.append(f"{clock.stamp()}  {where} play " + ", ".join(part_text(x) for x in last.parts))
        clock.now += clock.duration(last.parts, lang)
        return p.PlaybackDone()
    if isinstance(last, p.GetDigits):
        lines.append(f"{clock.stamp()}  {where} play " + ", ".join(part_text(x) for x in last.parts)
                     + f"; wait for up to {last.max_digits} key(s), {last.timeout:g} s")
        clock.now += clock.duration(last.parts, lang)
        entry = digits.pop(0) if digits else ""
        if entry.startswith("s:") and last.phrases:
            clock.now += PRESS_SECONDS
            choice = match_phrase(entry[2:], last.phrases)
            lines.append(f"{clock.stamp()}  caller says {mask_text(entry[2:])!r}"
                         + (f" (choice {choice})" if choice else ""))
            return p.SpeechRecognized(entry[2:], choice)
        if not entry:
            clock.now += last.timeout
            lines.append(f"{clock.stamp()}  no key pressed (timeout)")
            return p.Timeout()
        clock.now += PRESS_SECONDS + 0.2 * len(entry)
        node = state.flow.nodes.get(state.node)
        personal = isinstance(node, Callback) or getattr(node, "personal", False)
        lines.append(f"{clock.stamp()}  caller presses {mask_number(entry) if personal else entry}")
        return p.DigitsReceived(entry)
    if isinstance(last, p.StartIntake):
        lines.append(f"{clock.stamp()}  {where} play " + ", ".join(part_text(x) for x in last.parts)
                     + "; listening")
        clock.now += clock.duration(last.parts, lang)
        text = says.pop(0) if says else ""
        clock.now += 2.0 + 0.3 * len(text.split()) + last.silence_ms / 1000
        lines.append(f"{clock.stamp()}  caller says {mask_text(text)!r}" if text
                     else f"{clock.stamp()}  caller says nothing")
        return p.TranscriptReady(text, intake_id="dryrun-intake")
    if isinstance(last, p.RecordMessage):
        lines.append(f"{clock.stamp()}  {where} play " + ", ".join(part_text(x) for x in last.parts)
                     + "; recording")
        clock.now += clock.duration(last.parts, lang) + 10.0
        return p.RecordingDone(f"{last.folder}/{state.call.uniqueid}.wav", 10.0)
    if isinstance(last, p.QueryQueue):
        wait = "unknown" if script.wait is None else f"{script.wait:.0f} s"
        lines.append(f"{clock.stamp()}  queue {last.queue}: position {script.position}, estimated wait {wait}")
        return p.QueueInfo(script.position, script.wait)
    if isinstance(last, p.BookCallback):
        lines.append(f"{clock.stamp()}  callback booked in {last.queue} as {script.callback_ref}")
        return p.CallbackBooked(script.callback_ref)
    raise AssertionError(f"nothing to answer: {last!r}")


def _shown_var(flow: Flow, name: str, value: str) -> str:
    """A channel variable as printed: typed digits as the record keeps them, free text masked."""
    for node in flow.nodes.values():
        if isinstance(node, Collect) and node.var == name:
            return mask_number(value) if node.personal else value
    return mask_text(value)


def shown_record(flow: Flow, rec: RunRecord) -> dict[str, object]:
    """``rec.to_dict()`` for printing: what the caller said masked, variables as in the lines."""
    out = rec.to_dict()
    out["transcript"] = mask_text(rec.transcript)
    out["vars"] = {k: _shown_var(flow, k, v) for k, v in rec.vars.items()}
    out["inputs"] = [{**i, "value": mask_text(i["value"])} if i["kind"] in ("transcript", "speech") else i
                     for i in out["inputs"]]
    return out


def lead_in_prompts(flow: Flow) -> set[str]:
    """Prompts a caller can interrupt that are not themselves a key request.

    The PBX simulator's scripted caller (``CallerScript``) uses up one scripted key for every
    interruptible prompt; mapping these to "no key" (``dtmf_by_prompt``) leaves the script
    with exactly one entry per question the flow asks.
    """
    from ivr_flows import schema as s

    out: set[str] = set()
    for node in flow.nodes.values():
        if isinstance(node, s.Play) and node.barge_in:
            out.update(node.prompt)
        elif isinstance(node, s.Menu):
            out.update(node.prompt[:-1] + node.timeout_prompt + node.invalid_prompt)
        elif isinstance(node, s.Collect):
            out.update(node.prompt[:-1] + node.timeout_prompt + node.invalid_prompt)
        elif isinstance(node, s.Language):
            out.update(node.prompt[:-1])
        elif isinstance(node, s.Queue) and node.callback_above:
            out.update(node.prompt + node.position_prompt + node.wait_prompt + node.minutes_prompt
                       + node.offer_prompt[:-1])
        elif isinstance(node, s.Callback):
            out.update(node.confirm_prompt + node.invalid_prompt + node.enter_prompt[:-1]
                       + node.confirm_menu_prompt[:-1])
    return out
