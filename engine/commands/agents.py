"""``hotline agents``: call-takers' states, log in/out, pause/resume over AMI.

    hotline agents status [--json] [--queue Q]           --ami HOST:PORT --user U --secret-env VAR
    hotline agents login  --interface PJSIP/1001 --queue citizen[:PENALTY] [--name N] [--skill Q=LEVEL]
    hotline agents logout --interface PJSIP/1001 [--queue Q]
    hotline agents pause  --interface PJSIP/1001 --reason break [--queue Q]
    hotline agents resume --interface PJSIP/1001 [--queue Q]
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

HELP = "call-takers: status table, log in (skills as penalties), log out, pause with a reason, resume"


def _ami_options() -> argparse.ArgumentParser:
    from engine.commands._common import add_ami_options

    common = argparse.ArgumentParser(add_help=False)
    g = common.add_argument_group("AMI connection (defaults from the config file)")
    add_ami_options(g)
    g.add_argument("--json", action="store_true", help="print JSON")
    return common


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common = _ami_options()
    sub = parser.add_subparsers(dest="agents_command", metavar="ACTION")
    p = sub.add_parser("status", parents=[common], help="one line per call-taker: state, reason, queues")
    p.add_argument("--queue", action="append", help="only members of these queues")
    p = sub.add_parser("login", parents=[common], help="add a call-taker to queues (penalty = skill)")
    p.add_argument("--interface", required=True, help="e.g. PJSIP/1001 or Local/1001@agents/n")
    p.add_argument("--queue", action="append", default=[], metavar="NAME[:PENALTY]",
                   help="queue to join, lower penalty = offered calls first (repeatable)")
    p.add_argument("--skill", action="append", default=[], metavar="QUEUE=LEVEL",
                   help="skill level 1-5 in a queue, turned into a penalty (5 -> 0)")
    p.add_argument("--name", default="", help="member name shown by Asterisk")
    p.add_argument("--paused", metavar="REASON", help="log in paused with this reason")
    p = sub.add_parser("logout", parents=[common], help="remove a call-taker from queues (default: all)")
    p.add_argument("--interface", required=True)
    p.add_argument("--queue", action="append", help="only these queues")
    p = sub.add_parser("pause", parents=[common], help="pause a call-taker with a reason")
    p.add_argument("--interface", required=True)
    p.add_argument("--reason", required=True, help="break, training, after-call work (acw), ...")
    p.add_argument("--queue", help="only in this queue (default: all its queues)")
    p = sub.add_parser("resume", parents=[common], help="end a pause")
    p.add_argument("--interface", required=True)
    p.add_argument("--queue", help="only in this queue (default: all its queues)")


def render_status(agents: list[dict[str, Any]]) -> str:
    head = f"{'agent':<28}{'name':<16}{'state':<13}{'reason':<18}queues (penalty)"
    lines = [head, "-" * (len(head) + 10)]
    for a in agents:
        queues = ", ".join(f"{q}({v['penalty']}{', paused' if v['paused'] else ''})" for q, v in a["queues"].items())
        lines.append(f"{a['interface'][:27]:<28}{a['name'][:15]:<16}{a['state']:<13}{a['reason'][:17]:<18}{queues}")
    if not agents:
        lines.append("(no call-takers logged in)")
    return "\n".join(lines)


def check_queues(wanted: list[str] | None, snapshot: Any) -> None:
    """A ``--queue`` Asterisk does not know is a typo, not an empty queue: say so (exit 2)."""
    known = sorted({p.queue for p in snapshot.params} | {m.queue for m in snapshot.members})
    unknown = [q for q in dict.fromkeys(wanted or ()) if q not in known]
    if unknown:
        from engine.errors import UsageError

        names = ", ".join(repr(q) for q in unknown)
        raise UsageError(f"--queue {names}: no such queue on this Asterisk "
                         f"(known queues: {', '.join(known) or 'none'})")


async def _run(args: argparse.Namespace, cfg: Any) -> int:
    import time

    from agents_adapter import actions
    from agents_adapter.model import AgentBoard
    from engine.asterisk.ami_client import AmiClient
    from engine.commands._common import ami_target

    host, port, user, secret = ami_target(args, cfg)
    client = AmiClient(host, port, user, secret, connect_timeout=cfg.ami.connect_timeout,
                       reread_queues=False, ping_interval=3600)
    await client.connect()
    try:
        cmd = args.agents_command
        done: list[Any] = []
        if cmd == "status":
            snap = await client.queue_status()
            check_queues(args.queue, snap)
            board = AgentBoard()
            board.apply_snapshot(snap, time.time())
            views = [a.view(time.time()) for a in sorted(board.agents.values(), key=lambda a: a.interface)
                     if a.memberships and (not args.queue or set(args.queue) & set(a.memberships))]
            for v in views:
                v["calls_taken"] = sum(m.calls_taken for m in snap.members if m.interface == v["interface"])
            if args.json:
                json.dump(views, sys.stdout, ensure_ascii=False, indent=2)
                sys.stdout.write("\n")
            else:
                print(render_status(views))
            return 0
        if cmd == "login":
            queues = actions.parse_queue_specs(args.queue)
            skills = {}
            for spec in args.skill:
                q, sep, level = spec.partition("=")
                if not sep or not level.strip().isdigit():
                    from agents_adapter.errors import AgentRequestError

                    raise AgentRequestError(f"--skill {spec!r}: expected QUEUE=LEVEL with LEVEL 1-5")
                skills[q.strip()] = int(level)
            queues.update(actions.penalties_from_skills(skills))
            done = await actions.login(client, args.interface, queues, name=args.name,
                                       paused=bool(args.paused), reason=args.paused or "")
        elif cmd == "logout":
            done = await actions.logout(client, args.interface, args.queue)
        elif cmd == "pause":
            done = [await actions.pause(client, args.interface, args.reason, args.queue)]
        elif cmd == "resume":
            done = [await actions.resume(client, args.interface, args.queue)]
        if args.json:
            json.dump([d.__dict__ for d in done], sys.stdout, ensure_ascii=False)
            sys.stdout.write("\n")
        else:
            for d in done:
                print(f"{d.action} {d.interface} {d.queue}: {d.message or 'ok'}")
        return 0
    finally:
        await client.close()


def run(args: argparse.Namespace) -> int:
    import asyncio

    from engine.commands._common import config_from_args
    from engine.errors import UsageError

    if not getattr(args, "agents_command", None):
        raise UsageError("which action? status, login, logout, pause or resume (see hotline agents --help)")
    cfg = config_from_args(args)
    return asyncio.run(_run(args, cfg))
