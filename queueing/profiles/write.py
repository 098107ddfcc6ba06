"""Writing a profile back out (from history or a forecast), in the formats ``load_profile`` reads.

CSV for Excel (``start,calls_per_hour,agents,aht,patience``: the day's caller behaviour beyond
the per-interval means is lost) or TOML (everything, including the service-time distribution's
shape); ``tests/test_queue_log.py`` reads both back.
"""

from __future__ import annotations

import json
from pathlib import Path

from queueing.profiles import Profile
from queueing.report import csv_text


def profile_rows(profile: Profile) -> list[dict[str, object]]:
    pat = profile.mean_patience()
    rows = []
    for i, lab in enumerate(profile.labels()):
        row: dict[str, object] = {"start": lab, "calls_per_hour": profile.calls_per_hour[i],
                                  "agents": profile.agents[i], "aht": profile.aht()[i]}
        if pat[i] is not None:
            row["patience"] = pat[i]
        rows.append(row)
    return rows


def to_csv(profile: Profile, comment: str = "") -> str:
    head = "".join(f"# {ln}\n" for ln in comment.splitlines())
    return head + csv_text(profile_rows(profile))


def to_toml(profile: Profile, comment: str = "") -> str:
    def q(text: str) -> str:
        return json.dumps(text, ensure_ascii=False)  # a JSON string is a valid TOML basic string

    rows = profile_rows(profile)
    lines = [f"# {ln}" for ln in comment.splitlines()]
    lines += [f"name = {q(profile.name)}", f"interval_minutes = {profile.interval_minutes:g}",
              f"start = {q(profile.labels()[0])}", f"sl_seconds = {profile.sl_seconds:g}",
              f"shape = {q(profile.shape)}", f"service = {q(profile.service.spec())}",
              f"patience = {q(profile.patience.spec()) if profile.patience else q('none')}"]
    if profile.redial_prob:
        lines += [f"redial_prob = {profile.redial_prob:g}", f"redial_delay = {q(profile.redial_delay.spec())}"]
    lines.append("aht_by_interval = [" + ", ".join(f"{r['aht']:g}" for r in rows) + "]")
    if profile.patience is not None:
        lines.append("patience_by_interval = [" + ", ".join(f"{r['patience']:g}" for r in rows) + "]")
    lines.append("# start, calls per hour, agents on duty")
    lines.append("intervals = [")
    lines += [f"  [{q(str(r['start']))}, {r['calls_per_hour']:g}, {r['agents']}]," for r in rows]
    lines.append("]")
    return "\n".join(lines) + "\n"


def write_profile(profile: Profile, path: str | Path, comment: str = "") -> Path:
    """``.toml`` writes TOML, anything else CSV."""
    out = Path(path)
    text = to_toml(profile, comment) if out.suffix.lower() == ".toml" else to_csv(profile, comment)
    out.write_text(text, encoding="utf-8")
    return out
