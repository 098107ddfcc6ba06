"""YAML read into values that remember their line, so every flow error can name it.

PyYAML's ``compose`` keeps a ``start_mark`` on each node; we turn the node tree into ``Y``
values (scalar, mapping or sequence) instead of plain dicts so that the schema can point at
the exact line of a bad field. Duplicate keys, which PyYAML silently lets the last one win,
are reported here because a duplicated node id would otherwise vanish.

Composing is bounded, since a flow file may come from anyone who can edit the flows folder:
at most ``MAX_ALIASES`` aliases, ``MAX_DEPTH`` levels of nesting and ``MAX_VALUES`` values
once aliases are expanded (issue 10: a 400-byte "billion laughs" file took 94 s and 1.27 GB;
a 10,000-deep list ended in a RecursionError). Each is refused at once with its line.
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


MAX_ALIASES = 50  # a hand-written flow shares a few prompt lists at most
MAX_DEPTH = 50  # a flow is about six levels deep
MAX_VALUES = 100_000  # scalars and collections after aliases are expanded; a large flow has a few thousand


class _BoundedLoader(yaml.SafeLoader):
    """``SafeLoader`` that counts while composing, before anything is expanded: aliases,
    nesting depth, and each node's size with aliases expanded (what ``_convert`` will walk)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0
        self._sizes: dict[int, int] = {}  # id(node) -> values in it, aliases expanded

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise YamlSyntaxError(line, f"more than {MAX_ALIASES} YAML aliases (*{event.anchor}); "
                                            "refused, so that a small file cannot expand without bound")
            node = super().compose_node(parent, index)
            if id(node) not in self._sizes:
                raise YamlSyntaxError(line, f"YAML alias *{event.anchor} is inside the value it names "
                                            "(a structure that contains itself)")
            return node
        if self._depth >= MAX_DEPTH:
            raise YamlSyntaxError(line, f"YAML nested more than {MAX_DEPTH} levels deep")
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        sizes = self._sizes
        if isinstance(node, yaml.MappingNode):
            size = 1 + sum(sizes[id(k)] + sizes[id(v)] for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            size = 1 + sum(sizes[id(v)] for v in node.value)
        else:
            size = 1
        if size > MAX_VALUES:
            raise YamlSyntaxError(line, f"YAML value expands to more than {MAX_VALUES} values "
                                        "(through aliases); refused")
        sizes[id(node)] = size
        return node


def _construct(node: yaml.Node, ctor: SafeConstructor) -> Any:
    """A key or scalar as Python. A date YAML cannot make (``2026-02-30``) stays text, so the field
    that wants a date reports it with its node; any other value YAML's own reading rejects is an
    error with its line, not a traceback."""
    try:
        return ctor.construct_object(node, deep=True)
    except ValueError as exc:
        if node.tag == "tag:yaml.org,2002:timestamp":
            return node.value  # stays text: the field that wants a date names the node and the date
        what = repr(node.value) if isinstance(node, yaml.ScalarNode) else "value"
        raise YamlSyntaxError(node.start_mark.line + 1, f"YAML {what} cannot be read: {exc}") from None


def _convert(node: yaml.Node, ctor: SafeConstructor) -> Y:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out = Y(line=line, items={})
        ctor.flatten_mapping(node)
        for knode, vnode in node.value:
            key = _construct(knode, ctor)
            skey = str(key).lower() if isinstance(key, bool) else str(key)
            if skey in out.items:
                out.duplicates.append((skey, knode.start_mark.line + 1))
            out.items[skey] = _convert(vnode, ctor)
            out.key_lines[skey] = knode.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return Y(line=line, seq=[_convert(v, ctor) for v in node.value])
    return Y(line=line, value=_construct(node, ctor))


def load_documents(text: str) -> list[Y]:
    """Every YAML document in ``text`` as a ``Y`` tree; syntax errors carry their line."""
    try:
        nodes = list(yaml.compose_all(text, Loader=_BoundedLoader))
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
