"""Load flow files and reject bad ones before any call uses them.

Checks, each reported as ``file:line: node 'id': message``: YAML syntax, unknown verbs and
fields, bad values, missing targets, nodes no path reaches, loops the caller can never leave
(a set of nodes from which no hangup, queue or transfer is reachable), loops of nodes that
neither play nor listen (they would spin), and missing prompt files in any of the flow's
languages, the number prompts (``ivr_flows.numbers``) included where a node speaks numbers.
All defects of all files are collected, then raised together.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable
from pathlib import Path

from ivr_flows.errors import FlowLoadError, FlowValidationError
from ivr_flows.numbers import PREFIX, prompt_names
from ivr_flows.schema import VERBS, FieldError, Flow, Language, Node, Queue, node_fields
from ivr_flows.yamlpos import Y, YamlSyntaxError, load_documents

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_FLOWS_DIR = PACKAGE_DIR / "flows"
DEFAULT_PROMPTS_DIR = PACKAGE_DIR / "prompts"
SOUND_EXTENSIONS = (".wav", ".WAV", ".gsm", ".ulaw", ".alaw", ".sln", ".sln16", ".g722")
FLOW_KEYS = {"flow", "start", "nodes", "languages", "prompts", "timezone", "description"}


def default_flow_files() -> list[Path]:
    return sorted(DEFAULT_FLOWS_DIR.glob("*.yaml"))


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; folders become their ``*.yaml`` / ``*.yml`` files."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted([*p.glob("*.yaml"), *p.glob("*.yml")]))
        else:
            out.append(p)
    return out


def load_flows(paths: Iterable[str | Path] | None = None, *, prompt_root: str | Path | None = None,
               check_prompts: bool = True) -> dict[str, Flow]:
    """Every flow in ``paths`` (default: the shipped flows) by name; raises FlowValidationError."""
    files = expand_paths(paths) if paths else default_flow_files()
    flows: dict[str, Flow] = {}
    errors: list[FlowLoadError] = []
    for file in files:
        try:
            loaded = load_file(file, prompt_root=prompt_root, check_prompts=check_prompts)
        except FlowValidationError as exc:
            errors.extend(exc.errors)
            continue
        for flow in loaded:
            if flow.name in flows:
                other = flows[flow.name]
                errors.append(FlowLoadError(str(file), flow.line,
                                            f"flow '{flow.name}' is also defined in {other.file}:{other.line}"))
            flows[flow.name] = flow
    if errors:
        raise FlowValidationError(errors)
    return flows


def load_file(file: str | Path, *, prompt_root: str | Path | None = None, check_prompts: bool = True) -> list[Flow]:
    path = Path(file)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FlowValidationError([FlowLoadError(str(path), None, "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FlowValidationError([FlowLoadError(str(path), None, f"cannot read: {exc}")]) from None
    return load_text(text, str(path), prompt_root=prompt_root, check_prompts=check_prompts)


def load_text(text: str, file: str = "<flow>", *, prompt_root: str | Path | None = None,
              check_prompts: bool = True) -> list[Flow]:
    errors: list[FlowLoadError] = []
    try:
        docs = load_documents(text)
    except YamlSyntaxError as exc:
        raise FlowValidationError([FlowLoadError(file, exc.line, exc.message)]) from None
    if not docs:
        raise FlowValidationError([FlowLoadError(file, None, "no flow in file")])
    flows = []
    for doc in docs:
        flow = _build_flow(doc, file, prompt_root, errors)
        if flow is None:
            continue
        before = len(errors)
        _check_graph(flow, errors)
        if check_prompts and len(errors) == before:
            _check_prompts(flow, errors)
        flows.append(flow)
    if errors:
        raise FlowValidationError(errors)
    return flows


# -- building ----------------------------------------------------------------------------------


def _build_flow(doc: Y, file: str, prompt_root: str | Path | None, errors: list[FlowLoadError]) -> Flow | None:
    if not doc.is_map:
        errors.append(FlowLoadError(file, doc.line, "a flow must be a mapping with flow, start and nodes"))
        return None
    items = doc.items or {}
    for key, line in doc.duplicates:
        errors.append(FlowLoadError(file, line, f"key '{key}' appears twice"))
    for key in items:
        if key not in FLOW_KEYS:
            errors.append(FlowLoadError(file, doc.key_lines[key],
                                        f"unknown flow key '{key}' (known: {', '.join(sorted(FLOW_KEYS))})"))
    missing = [k for k in ("flow", "start", "nodes") if k not in items]
    if missing:
        errors.append(FlowLoadError(file, doc.line, f"flow is missing {', '.join(missing)}"))
        return None
    try:
        name = _scalar(items["flow"], "flow")
        start = _scalar(items["start"], "start")
        languages = tuple(_scalar(i, "languages") for i in (items["languages"].seq or [])) \
            if "languages" in items else ("zh",)
        if "languages" in items and (not items["languages"].is_seq or not languages):
            raise FieldError(items["languages"].line, "languages must be a non-empty list such as [zh, en]")
        timezone = _scalar(items["timezone"], "timezone") if "timezone" in items else "Asia/Shanghai"
        description = _scalar(items["description"], "description") if "description" in items else ""
    except FieldError as exc:
        errors.append(FlowLoadError(file, exc.line, exc.message))
        return None
    _check_timezone(timezone, file, items.get("timezone", doc).line, None, errors)
    if "prompts" in items:
        root = Path(str(items["prompts"].value))
        if not root.is_absolute():
            root = Path(file).resolve().parent / root
    else:
        root = Path(prompt_root) if prompt_root else DEFAULT_PROMPTS_DIR
    nodes_y = items["nodes"]
    if not nodes_y.is_map or not nodes_y.items:
        errors.append(FlowLoadError(file, nodes_y.line, "nodes must be a non-empty mapping of node id to node"))
        return None
    for key, line in nodes_y.duplicates:
        errors.append(FlowLoadError(file, line, "node id defined twice (the first definition would be lost)", key))
    nodes: dict[str, Node] = {}
    for node_id, body in nodes_y.items.items():
        node = _build_node(node_id, nodes_y.key_lines[node_id], body, file, errors)
        if node is not None:
            nodes[node_id] = node
            if isinstance(node, Language):
                _check_languages(node, languages, file, errors)
            if getattr(node, "timezone", ""):
                _check_timezone(node.timezone, file, node.line, node_id, errors)
    if start not in nodes_y.items:
        errors.append(FlowLoadError(file, items["start"].line, f"start node '{start}' does not exist"))
    return Flow(name=name, start=start, nodes=nodes, file=file, line=doc.line, languages=languages,
                timezone=timezone, prompt_root=str(root), description=description)


def _scalar(y: Y, what: str) -> str:
    if y.is_map or y.is_seq or y.value is None:
        raise FieldError(y.line, f"{what} must be plain text")
    return str(y.value)


def _check_timezone(tz: str, file: str, line: int, node: str | None, errors: list[FlowLoadError]) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        errors.append(FlowLoadError(file, line, f"unknown time zone '{tz}' (use an IANA name such as Asia/Shanghai)", node))


def _check_languages(node: Language, languages: tuple[str, ...], file: str, errors: list[FlowLoadError]) -> None:
    used = [*node.choices.values(), *([node.set] if node.set else []), *([node.default] if node.default else [])]
    keys = {v: f"choices[{k}]" for k, v in node.choices.items()} | {node.set: "set", node.default: "default"}
    for lang in used:
        if lang not in languages:
            errors.append(FlowLoadError(file, node.line_of(keys.get(lang, "")), f"language '{lang}' is not in the "
                                        f"flow's languages ({', '.join(languages)})", node.id))
    if not node.set and not node.choices:
        errors.append(FlowLoadError(file, node.line, "a language node needs 'set' or 'choices'", node.id))
    if node.choices and not node.prompt:
        errors.append(FlowLoadError(file, node.line, "a language node with choices needs a prompt", node.id))


def _build_node(node_id: str, line: int, body: Y, file: str, errors: list[FlowLoadError]) -> Node | None:
    if not body.is_map:
        errors.append(FlowLoadError(file, line, "a node must be a mapping with a 'verb'", node_id))
        return None
    items = body.items or {}
    if "verb" not in items:
        errors.append(FlowLoadError(file, line, f"node has no 'verb' (one of: {', '.join(VERBS)})", node_id))
        return None
    verb = items["verb"].value
    cls = VERBS.get(str(verb)) if not items["verb"].is_map and not items["verb"].is_seq else None
    if cls is None:
        close = difflib.get_close_matches(str(verb), list(VERBS), n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        errors.append(FlowLoadError(file, items["verb"].line,
                                    f"unknown verb '{verb}' ({hint}known: {', '.join(VERBS)})", node_id))
        return None
    for key, kline in body.duplicates:
        errors.append(FlowLoadError(file, kline, f"field '{key}' appears twice", node_id))
    fields = {f.name: f for f in node_fields(cls)}
    ok = True
    for key in items:
        if key != "verb" and key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(fields)}"
            errors.append(FlowLoadError(file, body.key_lines[key], f"unknown field '{key}' for verb {cls.verb} "
                                        f"({hint})", node_id))
            ok = False
    values = {}
    for name, f in fields.items():
        if name not in items:
            if not ok:
                continue  # a misspelt field is the likely cause; one message is clearer
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                errors.append(FlowLoadError(file, line, f"{cls.verb} needs '{name}'", node_id))
                ok = False
            continue
        try:
            values[name] = f.metadata["parse"](items[name])
        except FieldError as exc:
            errors.append(FlowLoadError(file, exc.line, f"{name}: {exc.message}", node_id))
            ok = False
    if not ok:
        return None
    lines = {name: items[name].line for name in values}
    for name in values:
        sub = items[name]
        if sub.is_map:
            lines.update({f"{name}[{k}]": kl for k, kl in sub.key_lines.items()})
    node = cls(id=node_id, line=line, field_lines=lines, **values)
    problem = _cross_field(node)
    if problem:
        errors.append(FlowLoadError(file, line, problem, node_id))
        return None
    return node


def _cross_field(node: Node) -> str:
    from ivr_flows import schema as s

    if isinstance(node, s.Menu):
        extra = set(node.speech) - set(node.choices)
        if extra:
            return f"speech phrases for keys {sorted(extra)} that are not among the choices"
    if isinstance(node, s.Collect | s.Callback) and node.min_digits > node.max_digits:
        return f"min_digits {node.min_digits} is above max_digits {node.max_digits}"
    if isinstance(node, s.Collect) and node.validate in ("luhn", "mod11") and node.min_digits < 2:
        return f"a {node.validate} check needs min_digits of 2 or more"
    if isinstance(node, Queue) and node.callback_above > 0 and not (node.callback and node.offer_prompt):
        return "callback_above needs 'callback' (the node an accepted offer goes to) and 'offer_prompt'"
    if isinstance(node, Queue) and node.callback and not node.callback_above:
        return "'callback' is set but callback_above is 0, so the offer is never made"
    return ""


# -- graph checks ------------------------------------------------------------------------------


def _check_graph(flow: Flow, errors: list[FlowLoadError]) -> None:
    before = len(errors)
    for node in flow.nodes.values():
        for label, target in node.targets():
            if target not in flow.nodes:
                errors.append(FlowLoadError(flow.file, node.line_of(label),
                                            f"{label} goes to '{target}', which does not exist", node.id))
    if len(errors) > before or flow.start not in flow.nodes:
        return
    edges = {n.id: [t for _, t in n.targets()] for n in flow.nodes.values()}
    seen = _reach(flow.start, edges)
    for node in flow.nodes.values():
        if node.id not in seen:
            errors.append(FlowLoadError(flow.file, node.line, f"unreachable: no path from start '{flow.start}' leads here",
                                        node.id))
    # nodes that can reach an end (hangup, queue, transfer)
    reverse: dict[str, list[str]] = {n: [] for n in flow.nodes}
    for src, dsts in edges.items():
        for d in dsts:
            reverse[d].append(src)
    can_end: set[str] = set()
    for node in flow.nodes.values():
        if node.terminal:
            can_end |= _reach(node.id, reverse)
    trapped = [n for n in flow.nodes.values() if n.id in seen and n.id not in can_end]
    reported: set[str] = set()
    for node in trapped:
        if node.id in reported:
            continue
        group = sorted(_reach(node.id, edges) - can_end, key=lambda i: flow.nodes[i].line)
        reported |= set(group)
        first = flow.nodes[group[0]]
        errors.append(FlowLoadError(flow.file, first.line, "loop with no exit: " + " -> ".join(group) +
                                    " never reach a hangup, queue or transfer", first.id))
    # loops made only of nodes that take no time (set, goto, hours, language without asking)
    instant = {n.id for n in flow.nodes.values() if n.instant or (isinstance(n, Language) and n.set)}
    cycle = _instant_cycle(edges, instant)
    if cycle:
        first = flow.nodes[cycle[0]]
        errors.append(FlowLoadError(flow.file, first.line, "loop without any prompt or input: " +
                                    " -> ".join([*cycle, cycle[0]]) + " would spin forever", first.id))


def _reach(start: str, edges: dict[str, list[str]]) -> set[str]:
    seen = {start}
    todo = [start]
    while todo:
        for nxt in edges.get(todo.pop(), []):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _instant_cycle(edges: dict[str, list[str]], instant: set[str]) -> list[str]:
    color: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str]:
        color[n] = 1
        stack.append(n)
        for m in edges.get(n, []):
            if m not in instant:
                continue
            if color.get(m) == 1:
                return stack[stack.index(m):]
            if m not in color:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        color[n] = 2
        return []

    for n in sorted(instant):
        if n not in color:
            found = visit(n)
            if found:
                return found
    return []


# -- prompt files ------------------------------------------------------------------------------


def prompt_path(root: str | Path, language: str, name: str) -> Path | None:
    """The file Asterisk would play for ``name`` in ``language`` under ``root``, if it exists."""
    base = Path(root) / language / name
    for ext in SOUND_EXTENSIONS:
        candidate = base.with_name(base.name + ext)
        if candidate.is_file():
            return candidate
    return None


def _check_prompts(flow: Flow, errors: list[FlowLoadError]) -> None:
    root = Path(flow.prompt_root)
    if not root.is_dir():
        errors.append(FlowLoadError(flow.file, flow.line, f"prompt folder {root} does not exist"))
        return
    for node in flow.nodes.values():
        for field_name, prompt in node.prompts():
            missing = [lang for lang in flow.languages if prompt_path(root, lang, prompt) is None]
            if missing:
                where = ", ".join(str(root / lang / prompt) + ".wav" for lang in missing)
                errors.append(FlowLoadError(flow.file, node.line_of(field_name),
                                            f"{field_name}: prompt file missing: {where}", node.id))
        field_name = node.speaks_numbers()
        for lang in flow.languages if field_name else ():
            missing = [n.removeprefix(PREFIX) for n in prompt_names(lang) if prompt_path(root, lang, n) is None]
            if missing:
                errors.append(FlowLoadError(
                    flow.file, node.line_of(field_name), f"{field_name}: speaks numbers, but {len(missing)} number "
                    f"prompt file(s) are missing in {root / lang / PREFIX}: {', '.join(missing)}", node.id))
