"""A synthetic Asterisk queue_log, generated from known rates, so the profile it implies is known.

Each caller joins at a Poisson time (rate per half hour given), would be taken by an agent after
an offered wait V ~ Exp(mean ``wait``) and hangs up after its patience P ~ Exp(mean
``patience``): P < V abandons after P, otherwise CONNECT after V and a talk S ~ Exp(mean
``aht``), ended by the caller or the agent. Times are whole epoch seconds and the waits are
differences of them, as Asterisk writes (``(long)(time(NULL) - qe->start)``). Lines are in time
order, with agent events and one malformed line in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

ZONE = "Asia/Shanghai"


@dataclass(frozen=True)
class Truth:
    rates_per_hour: tuple[float, ...]  # per half hour of the day
    aht: float
    patience: float
    wait: float
    days: tuple[date, ...]


def day_start(d: date) -> float:
    return datetime.combine(d, time(), ZoneInfo(ZONE)).timestamp()


def queue_log_lines(first: date, days: int, rates_per_hour: list[float], *, aht: float = 240.0,
                    patience: float = 120.0, wait: float = 40.0, seed: int = 1, queue: str = "citizen",
                    day_factor=lambda d: 1.0) -> tuple[list[str], Truth]:
    """``rates_per_hour[i]``: calls per hour in the i-th half hour; ``day_factor(d)`` scales a day."""
    rng = np.random.default_rng(seed)
    events: list[tuple[int, int, str]] = []  # (time, order, line)
    n = 0
    dates = tuple(first + timedelta(days=k) for k in range(days))
    for d in dates:
        t0 = day_start(d)
        events.append((int(t0) + 1, 0, f"{int(t0) + 1}|NONE|NONE|NONE|QUEUESTART|"))
        for i, r in enumerate(rates_per_hour):
            count = rng.poisson(r * day_factor(d) / 2)
            joins = np.sort(t0 + i * 1800 + rng.uniform(0, 1800, count))
            for j in joins:
                n += 1
                cid = f"{int(j)}.{n}"
                tj = int(j)
                v, p = rng.exponential(wait), rng.exponential(patience)
                events.append((tj, 1, f"{tj}|{cid}|{queue}|NONE|ENTERQUEUE||1391234{n % 10000:04d}|1"))
                if p < v:
                    ta = int(j + p)
                    events.append((ta, 2, f"{ta}|{cid}|{queue}|NONE|ABANDON|1|1|{ta - tj}"))
                    continue
                tc = int(j + v)
                agent = f"Agent/{1000 + n % 7}"
                events.append((tc, 2, f"{tc}|{cid}|{queue}|{agent}|CONNECT|{tc - tj}|{cid}9|3"))
                s = rng.exponential(aht)
                te = int(j + v + s)
                end = "COMPLETECALLER" if n % 2 else "COMPLETEAGENT"
                events.append((te, 3, f"{te}|{cid}|{queue}|{agent}|{end}|{tc - tj}|{te - tc}|1"))
            events.append((int(t0) + i * 1800 + 5, 0, f"{int(t0) + i * 1800 + 5}|NONE|{queue}|Agent/1001|PAUSE|lunch"))
        events.append((int(t0) + 7, 0, "this line is not a queue_log line"))
    events.sort(key=lambda e: (e[0], e[1]))
    return [e[2] for e in events], Truth(tuple(rates_per_hour), aht, patience, wait, dates)
