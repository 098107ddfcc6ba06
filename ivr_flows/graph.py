"""Draw a flow as Mermaid or Graphviz DOT text (``hotline flow graph``).

Decisions (hours, menu, language, collect, callback) are diamonds, ends (hangup, queue,
transfer) rounded, the rest boxes; every edge is labelled with what takes it.
"""

from __future__ import annotations

from ivr_flows import schema as s

DECISIONS = (s.Hours, s.Menu, s.Language, s.Collect, s.Callback)


def _edges(node: s.Node) -> list[tuple[str, str]]:
    """(label, target) pairs, with readable labels (``1``, ``open``, ``failed``)."""
    out = []
    for label, target in node.targets():
        if label.startswith("choices["):
            label = label[len("choices["):-1]
            if isinstance(node, s.Menu) and label in node.speech:
                label += " / " + node.speech[label][0]
        elif label in ("next", "target"):
            label = ""
        out.append((label, target))
    if isinstance(node, s.Language) and node.choices:
        out = [("/".join(f"{k}:{v}" for k, v in node.choices.items()), node.next)]
    return out


def _title(node: s.Node) -> str:
    detail = {s.Queue: lambda n: f" {n.queue}", s.Transfer: lambda n: f" {n.to}",
              s.Collect: lambda n: f" {n.var}"}.get(type(node))
    return f"{node.id}: {node.verb}" + (detail(node) if detail else "")


def to_mermaid(flow: s.Flow) -> str:
    lines = ["flowchart TD"]
    for node in flow.nodes.values():
        text = _title(node).replace('"', "'")
        if isinstance(node, DECISIONS):
            shape = f'{{"{text}"}}'
        elif node.terminal:
            shape = f'(["{text}"])'
        else:
            shape = f'["{text}"]'
        lines.append(f"    {_mid(node.id)}{shape}")
    for node in flow.nodes.values():
        for label, target in _edges(node):
            arrow = f' -- "{label}" --> ' if label else " --> "
            lines.append(f"    {_mid(node.id)}{arrow.replace(chr(34) * 2, '')}{_mid(target)}")
    return "\n".join(lines) + "\n"


def _mid(node_id: str) -> str:
    return "n_" + "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in node_id)


def to_dot(flow: s.Flow) -> str:
    q = _dot_quote
    lines = [f"digraph {q(flow.name)} {{", "    rankdir=TB;", '    node [shape=box, fontname="sans-serif"];',
             f"    {q('start')} [shape=point];", f"    {q('start')} -> {q(flow.start)};"]
    for node in flow.nodes.values():
        shape = "diamond" if isinstance(node, DECISIONS) else "doubleoctagon" if node.terminal else "box"
        lines.append(f"    {q(node.id)} [label={q(_title(node))}, shape={shape}];")
    for node in flow.nodes.values():
        for label, target in _edges(node):
            attr = f" [label={q(label)}]" if label else ""
            lines.append(f"    {q(node.id)} -> {q(target)}{attr};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
