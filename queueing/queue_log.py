"""Asterisk's ``queue_log``: lines in, queue visits out (no I/O; the caller reads the file).

Every Asterisk with app_queue writes ``/var/log/asterisk/queue_log``, one line per queue event
(``main/logger.c``: ``epoch|callid|queuename|agent|event|data...``; QueueMetrics reads the same
file). The events and data fields used here, as ``apps/app_queue.c`` writes them:

=================  =================================================  ==========================
event              data fields                                        becomes
=================  =================================================  ==========================
ENTERQUEUE         url|callerid number|original position[|cid name]   the visit starts
CONNECT            holdtime|bridged channel uniqueid|ringtime         answered after holdtime
COMPLETECALLER     holdtime|calltime|original position                talk = calltime
COMPLETEAGENT      holdtime|calltime|original position                talk = calltime
BLINDTRANSFER      extension|context|holdtime|calltime|position       talk = calltime
TRANSFER           extension|context|holdtime|calltime[|position]     (older Asterisk) talk
ATTENDEDTRANSFER   method|target...|holdtime|calltime|position        talk = second-to-last
ABANDON            position|original position|waittime                abandoned after waittime
EXITWITHTIMEOUT    position[|original position|waittime]              timeout (censored)
EXITEMPTY          position|original position|waittime                left (censored)
EXITWITHKEY        key|position|original position|waittime            left (censored)
WITHDRAW           position|original position|waittime|info           left (censored)
=================  =================================================  ==========================

Other events (RINGNOANSWER, RINGCANCELED, ADDMEMBER, REMOVEMEMBER, PAUSE, UNPAUSE, AGENTLOGIN,
QUEUESTART, CONFIGRELOAD, DID, INFO, ...) do not change a visit and are counted only. Lines of
agent or system events carry ``NONE``/``MANAGER``/``CLI``/``REALTIME`` as callid.

A visit is keyed by (callid, queue); a call that overflows to a second queue is a visit in each.
A visit whose ENTERQUEUE is in an earlier, rotated file is rebuilt from its hold and call times.
The caller number in ENTERQUEUE is never kept: a bad line is reported by its number, not its text.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from queueing.history import QueueVisit

_CLOSING = {"ABANDON": "abandoned", "EXITWITHTIMEOUT": "timeout", "EXITEMPTY": "left", "EXITWITHKEY": "left",
            "WITHDRAW": "left"}
_WAIT_FIELD = {"ABANDON": 2, "EXITWITHTIMEOUT": 2, "EXITEMPTY": 2, "EXITWITHKEY": 3, "WITHDRAW": 2}
_COMPLETE = ("COMPLETECALLER", "COMPLETEAGENT", "BLINDTRANSFER", "TRANSFER", "ATTENDEDTRANSFER")
_NOT_CALLS = {"NONE", "MANAGER", "CLI", "REALTIME", ""}


@dataclass(frozen=True)
class QueueLogEntry:
    """One line: ``time|callid|queue|agent|event|data...``."""

    time: float
    callid: str
    queue: str
    agent: str
    event: str
    data: tuple[str, ...]


class QueueLogError(ValueError):
    """A line that is not ``epoch|callid|queue|agent|EVENT|...`` or whose numbers do not read."""


def parse_line(line: str) -> QueueLogEntry:
    parts = line.rstrip("\r\n").split("|")
    if len(parts) < 5:
        raise QueueLogError(f"{len(parts)} fields; expected epoch|callid|queue|agent|EVENT[|data...]")
    try:
        t = float(parts[0])
    except ValueError:
        raise QueueLogError("the first field is not an epoch time") from None
    if not parts[4]:
        raise QueueLogError("no event name in the fifth field")
    return QueueLogEntry(t, parts[1], parts[2], parts[3], parts[4].upper(), tuple(parts[5:]))


def _seconds(data: tuple[str, ...], i: int, event: str) -> float:
    try:
        value = float(data[i])
    except (IndexError, ValueError):
        raise QueueLogError(f"{event}: data field {i + 1} is not a number of seconds") from None
    if not value >= 0:
        raise QueueLogError(f"{event}: data field {i + 1} is negative")
    return value


@dataclass
class _Open:
    joined: float
    wait: float | None = None  # set at CONNECT


@dataclass
class QueueLogReader:
    """Feed lines in file order; take the finished visits from ``visits``. ``finish()`` closes
    what is still open (answered calls without their COMPLETE line keep an unknown talk time;
    callers still waiting when the file ends are dropped, as not yet offered in full). Only
    visits that joined in ``[since, until)`` (epoch seconds) are kept, so a year of log read for
    a four-week forecast does not hold a year of visits."""

    since: float = -math.inf
    until: float = math.inf
    visits: list[QueueVisit] = field(default_factory=list)
    events: Counter[str] = field(default_factory=Counter)
    lines: int = 0
    bad_lines: list[tuple[int, str]] = field(default_factory=list)  # (line number, what was wrong)
    _open: dict[tuple[str, str], _Open] = field(default_factory=dict)

    def feed(self, line: str) -> None:
        self.lines += 1
        if not line.strip():
            return
        try:
            self._entry(parse_line(line))
        except QueueLogError as exc:
            self.bad_lines.append((self.lines, str(exc)))

    def _entry(self, e: QueueLogEntry) -> None:
        self.events[e.event] += 1
        if e.callid in _NOT_CALLS:
            return
        key = (e.callid, e.queue)
        if e.event == "ENTERQUEUE":
            self._open[key] = _Open(e.time)
        elif e.event == "CONNECT":
            hold = _seconds(e.data, 0, e.event)
            visit = self._open.setdefault(key, _Open(e.time - hold))
            visit.wait = hold
        elif e.event in _COMPLETE:
            if e.event == "ATTENDEDTRANSFER":
                hold, talk = _seconds(e.data, len(e.data) - 3, e.event), _seconds(e.data, len(e.data) - 2, e.event)
            elif e.event in ("BLINDTRANSFER", "TRANSFER"):
                hold, talk = _seconds(e.data, 2, e.event), _seconds(e.data, 3, e.event)
            else:
                hold, talk = _seconds(e.data, 0, e.event), _seconds(e.data, 1, e.event)
            visit = self._open.pop(key, None) or _Open(e.time - talk - hold, hold)
            self._keep(QueueVisit(e.queue, visit.joined, "answered", visit.wait if visit.wait is not None else hold,
                                  talk))
        elif e.event in _CLOSING:
            visit = self._open.pop(key, None)
            i = _WAIT_FIELD[e.event]
            if len(e.data) > i and e.data[i] != "":
                wait = _seconds(e.data, i, e.event)
            elif visit is not None:
                wait = e.time - visit.joined  # EXITWITHTIMEOUT of older Asterisk: position only
            else:
                raise QueueLogError(f"{e.event}: no wait time and no ENTERQUEUE before it")
            self._keep(QueueVisit(e.queue, visit.joined if visit else e.time - wait, _CLOSING[e.event], wait))

    def _keep(self, visit: QueueVisit) -> None:
        if self.since <= visit.joined < self.until:
            self.visits.append(visit)

    def finish(self) -> list[QueueVisit]:
        """Close the answered visits whose COMPLETE line never came; return every visit."""
        for (_, queue), visit in list(self._open.items()):
            if visit.wait is not None:
                self._keep(QueueVisit(queue, visit.joined, "answered", visit.wait, None))
        self._open.clear()
        return self.visits


def read_queue_log(lines: Iterable[str], since: float | None = None, until: float | None = None) -> QueueLogReader:
    """Parse every line; the reader holds the visits (joined in ``[since, until)`` when given),
    event counts and bad lines."""
    reader = QueueLogReader(-math.inf if since is None else since, math.inf if until is None else until)
    for line in lines:
        reader.feed(line)
    reader.finish()
    return reader
