"""YAML read into values that remember their line, so every flow error can name it.

PyYAML's ``compose`` keeps a ``start_mark`` on each node; we turn the node tree into ``Y``
values (scalar, mapping or sequence) instead of plain dicts so that the schema can point at
the exact line of a bad field. Duplicate keys, which PyYAML silently lets the last one win,
are reported here because a duplicated node id would otherwise vanish.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import SafeConstructor


@dataclass
class Y:
    """One YAML value with its 1-based line; ``items``/``seq`` set for mappings/sequences."""

    line: int
    value: Any = None  # plain Python value for scalars
    items: dict[str, Y] | None = None  # mapping values by key (keys as text)
    key_lines: dict[str, int] = field(default_factory=dict)
    seq: list[Y] | None = None
    duplicates: list[tuple[str, int]] = field(default_factory=list)

    @property
    def is_map(self) -> bool:
        return self.items is not None

    @property
    def is_seq(self) -> bool:
        return self.seq is not None


class YamlSyntaxError(Exception):
    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def _convert(node: yaml.Node, ctor: SafeConstructor) -> Y:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out = Y(line=line, items={})
        ctor.flatten_mapping(node)
        for knode, vnode in node.value:
            key = _scalar(knode, ctor)
            skey = str(key).lower() if isinstance(key, bool) else str(key)
            if skey in out.items:
                out.duplicates.append((skey, knode.start_mark.line + 1))
            out.items[skey] = _convert(vnode, ctor)
            out.key_lines[skey] = knode.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return Y(line=line, seq=[_convert(v, ctor) for v in node.value])
    return Y(line=line, value=_scalar(node, ctor))


def _scalar(node: yaml.Node, ctor: SafeConstructor) -> Any:
    """A scalar's value; one that looks like a date but is none (``2026-02-30``) stays text, so
    the field that wants a date reports it with its line instead of PyYAML raising ValueError."""
    try:
        return ctor.construct_object(node, deep=True)
    except ValueError:
        if node.tag != "tag:yaml.org,2002:timestamp":
            raise
        return node.value


def load_documents(text: str) -> list[Y]:
    """Every YAML document in ``text`` as a ``Y`` tree; syntax errors carry their line."""
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        if exc.context_mark and mark is not exc.context_mark and exc.context_mark.line != mark.line:
            problem += f" (the construct started at line {exc.context_mark.line + 1})"
        raise YamlSyntaxError(line, f"YAML syntax error: {problem}") from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(None, f"YAML error: {exc}") from None
    ctor = SafeConstructor()
    docs = []
    for node in nodes:
        if node is None:
            continue
        try:
            docs.append(_convert(node, ctor))
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            raise YamlSyntaxError(mark.line + 1 if mark else None, f"YAML error: {exc.problem}") from None
    return docs
