"""Reading the CSV tables planners keep in Excel: a BOM, ``;`` separators, decimal commas.

Why not plain ``csv.DictReader``: Excel's "CSV UTF-8" starts the file with a byte-order mark
(so the first column is called ``\\ufeffstart``), and where the decimal mark is a comma (most of
Europe; some Chinese locale settings) Excel separates fields with ``;`` and writes ``12,5``.
Every CSV the capacity commands read (profiles, rosters, plans) goes through ``read_table``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from queueing.erlang import ScenarioError

SEPARATORS = (",", ";", "\t")


@dataclass(frozen=True)
class Table:
    """Rows of a CSV file as ``{column: text}``, with their line numbers for error messages."""

    source: str
    columns: tuple[str, ...]
    rows: tuple[dict[str, str], ...]
    lines: tuple[int, ...]  # file line of each row (1-based)
    separator: str

    def where(self, i: int) -> str:
        return f"{self.source}, line {self.lines[i]}"

    def text_number(self, i: int, column: str) -> str:
        """The cell's text with a decimal comma (``12,5`` in a ``;``-separated file) made a point."""
        text = self.rows[i].get(column, "").strip()
        if self.separator != "," and "," in text and "." not in text:
            text = text.replace(",", ".")
        return text

    def number(self, i: int, column: str) -> float:
        """The cell as a float (see ``text_number``)."""
        text = self.text_number(i, column)
        try:
            return float(text)
        except ValueError:
            raise ScenarioError(f"{self.where(i)}: {column} must be a number, got {text!r}") from None


def _separator(header: str) -> str:
    """The separator the header line uses: the most frequent of comma, semicolon and tab."""
    counts = {s: header.count(s) for s in SEPARATORS}
    best = max(SEPARATORS, key=lambda s: counts[s])
    return best if counts[best] else ","


def read_table(text: str, source: str, required: tuple[str, ...] = ()) -> Table:
    """Parse CSV ``text`` (blank lines and ``#`` comments skipped, a leading BOM dropped);
    column names are stripped and lower-cased. Missing ``required`` columns are an error
    naming the file and what was found."""
    text = text.removeprefix("\ufeff")
    numbered = [(n, ln) for n, ln in enumerate(text.splitlines(), 1) if ln.strip() and not ln.lstrip().startswith("#")]
    if not numbered:
        raise ScenarioError(f"{source}: empty CSV (expected a header {','.join(required) or 'line'})")
    sep = _separator(numbered[0][1])
    reader = csv.reader(io.StringIO("\n".join(ln for _, ln in numbered)), delimiter=sep)
    try:
        parsed = list(reader)
    except csv.Error as exc:
        raise ScenarioError(f"{source}: not valid CSV: {exc}") from None
    columns = tuple(c.strip().lower() for c in parsed[0])
    missing = [c for c in required if c not in columns]
    if missing:
        raise ScenarioError(f"{source}: CSV header must have columns {','.join(required)} "
                            f"(missing {', '.join(missing)}; found {','.join(columns) or 'nothing'})")
    rows, lines = [], []
    for (n, _), cells in zip(numbered[1:], parsed[1:], strict=False):
        if len(cells) > len(columns):
            raise ScenarioError(f"{source}, line {n}: {len(cells)} fields but the header has {len(columns)}")
        rows.append({c: (cells[i] if i < len(cells) else "") for i, c in enumerate(columns)})
        lines.append(n)
    return Table(source, columns, tuple(rows), tuple(lines), sep)
