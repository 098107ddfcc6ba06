"""``hotline flow validate|graph|run``: check, draw and dry-run IVR flow files."""

from __future__ import annotations

import argparse
import json
import sys

from engine.errors import UsageError

HELP = "check, draw or dry-run IVR flow files (validate, graph, run)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from engine.commands._common import number

    sub = parser.add_subparsers(dest="flow_command", metavar="ACTION", required=True)
    v = sub.add_parser("validate", help="load flow files and report every defect (file:line: node: message)")
    v.add_argument("files", nargs="*", metavar="FILE", help="flow files or folders (default: [flows] paths, "
                   "else the shipped default flows)")
    v.add_argument("--prompts", help="prompt root for flows that do not name one (default: [flows] prompts)")
    v.add_argument("--no-prompts", action="store_true", help="do not check that prompt files exist")

    g = sub.add_parser("graph", help="draw a flow as Mermaid or Graphviz DOT text")
    g.add_argument("file", metavar="FILE")
    g.add_argument("--format", choices=("mermaid", "dot"), default="mermaid")
    g.add_argument("--flow", help="which flow, when the file holds several")

    r = sub.add_parser("run", help="dry-run a flow against a simulated caller, printing each step")
    r.add_argument("file", metavar="FILE")
    r.add_argument("--flow", help="which flow, when the file holds several")
    r.add_argument("--digits", default="", help="answers to each key request in order, comma separated; "
                   "an empty entry is a timeout, 's:TEXT' is speech to a speech menu (e.g. 2,,1,s:complaint)")
    r.add_argument("--say", action="append", default=[], metavar="TEXT",
                   help="what the caller says at each intake step (repeat for several)")
    r.add_argument("--now", help="call time, ISO 8601 (without offset: in the flow's time zone); default now")
    r.add_argument("--caller", default="13800000001", help="caller number (for the callback offer)")
    r.add_argument("--position", type=number(int, ge=0), default=3, help="queue position the engine would report")
    r.add_argument("--wait", type=number(float), default=90.0, help="estimated wait in seconds (negative: unknown)")
    r.add_argument("--hangup-at", default="", metavar="NODE", help="the caller hangs up when reaching NODE")
    r.add_argument("--json", action="store_true", help="print the run record as JSON after the steps")


def run(args: argparse.Namespace) -> int:
    if args.flow_command == "validate":
        return _validate(args)
    if args.flow_command == "graph":
        return _graph(args)
    return _run(args)


def _config(args: argparse.Namespace):  # noqa: ANN202 - Config, imported lazily
    from engine.commands._common import config_from_args

    return config_from_args(args)


def _validate(args: argparse.Namespace) -> int:
    from ivr_flows.errors import FlowValidationError
    from ivr_flows.loader import default_flow_files, expand_paths, load_file

    cfg = _config(args)
    paths = args.files or cfg.flows.paths
    files = expand_paths(paths) if paths else default_flow_files()
    if not files:
        raise UsageError("no flow files found")
    prompt_root = args.prompts or cfg.flows.prompts or None
    broken = 0
    for file in files:
        try:
            flows = load_file(file, prompt_root=prompt_root, check_prompts=not args.no_prompts)
        except FlowValidationError as exc:
            broken += 1
            for err in exc.errors:
                print(err.format(), file=sys.stderr)
            continue
        for flow in flows:
            print(f"ok: {flow.name} ({len(flow.nodes)} nodes, languages {', '.join(flow.languages)}) in {file}")
    if broken:
        print(f"{broken} of {len(files)} flow file(s) have errors", file=sys.stderr)
        return 1
    return 0


def _pick(file: str, name: str | None):  # noqa: ANN202 - Flow
    from ivr_flows.errors import FlowValidationError
    from ivr_flows.loader import load_file

    try:
        flows = load_file(file)
    except FlowValidationError as exc:
        for err in exc.errors:
            print(err.format(), file=sys.stderr)
        raise UsageError(f"{file}: fix the errors above first") from None
    if name is None:
        if len(flows) > 1:
            raise UsageError(f"{file} holds {len(flows)} flows ({', '.join(f.name for f in flows)}); pick one with --flow")
        return flows[0]
    for flow in flows:
        if flow.name == name:
            return flow
    raise UsageError(f"{file} has no flow {name!r} (it has {', '.join(f.name for f in flows)})")


def _graph(args: argparse.Namespace) -> int:
    from ivr_flows.graph import to_dot, to_mermaid

    flow = _pick(args.file, args.flow)
    sys.stdout.write(to_dot(flow) if args.format == "dot" else to_mermaid(flow))
    return 0


def _parse_now(text: str | None, timezone: str) -> float | None:
    import datetime as dt
    from zoneinfo import ZoneInfo

    if not text:
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--now {text!r}: expected ISO 8601 such as 2026-11-30T19:30") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo(timezone))
    return when.timestamp()


def _run(args: argparse.Namespace) -> int:
    from ivr_flows.dryrun import Script, run_script, shown_record
    from ivr_flows.runner import CallInfo

    flow = _pick(args.file, args.flow)
    if args.hangup_at and args.hangup_at not in flow.nodes:
        raise UsageError(f"--hangup-at {args.hangup_at!r}: no such node in flow {flow.name}")
    digits = [d.strip() for d in args.digits.split(",")] if args.digits else []
    script = Script(digits=digits, says=list(args.say), hangup_at=args.hangup_at, position=args.position,
                    wait=None if args.wait < 0 else args.wait)
    call = CallInfo(uniqueid="dryrun.1", linkedid="dryrun.1", channel="Local/dryrun", caller=args.caller)
    result = run_script(flow, script, now=_parse_now(args.now, flow.timezone), call=call)
    for line in result.lines:
        print(line)
    if args.json:
        print(json.dumps(shown_record(flow, result.record), ensure_ascii=False))
    return 0
