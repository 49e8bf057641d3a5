"""End-of-run summaries: what a user reads first after ``make run``.

Layout rules, because a summary is read in a terminal and copied from:

* the table holds figures only, sized to its content, so every number sits beside its label;
* paths and commands go *below* the table, one per line and never wrapped inside a cell, so they can be
  copied as they are;
* the width follows the terminal (``shutil.get_terminal_size``, which honours ``COLUMNS``), capped so that a
  wide terminal does not spread the columns apart.

The same text is returned, so a runner can also write it to its log file.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table

PERCENT_KEYS = ("acc", "eer", "auc", "frr", "far")
MAX_WIDTH = 100
MIN_WIDTH = 40


def format_value(key: str, value: float) -> str:
    """Rates in percent (two decimals), anything else in four significant digits."""
    if any(k in key.lower() for k in PERCENT_KEYS):
        return f"{100.0 * value:.2f} %"
    return f"{value:.4g}"


def terminal_width(limit: int = MAX_WIDTH) -> int:
    """Columns available for the table: the terminal's (or ``COLUMNS``), between 40 and ``limit``."""
    columns = shutil.get_terminal_size((limit, 24)).columns
    return max(MIN_WIDTH, min(columns, limit))


@dataclass
class Section:
    """One table of the summary: a title, optional column headers, and rows of cells (label first)."""

    title: str
    columns: tuple[str, ...] | None = None
    rows: list[tuple[str, ...]] = field(default_factory=list)

    def add(self, *cells: str) -> None:
        self.rows.append(tuple(cells))


@dataclass
class Summary:
    """Titled tables (``sections``), sentences above them (``remarks``), copyable lines below (``links``)."""

    title: str
    sections: list[Section] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)


def _table(section: Section) -> Table:
    ncols = max(len(r) for r in section.rows)
    columns = list(section.columns or ())[:ncols] + [""] * (ncols - len(section.columns or ()))
    table = Table(
        title=section.title or None,
        title_justify="left",
        title_style="bold",
        show_header=section.columns is not None,
        header_style="",
        expand=False,
    )
    for i, name in enumerate(columns):
        # labels and numbers never wrap; only the last (descriptive) column folds when space runs out
        last_text = i == ncols - 1 and i >= 2
        table.add_column(
            name, justify="left" if i == 0 or last_text else "right", no_wrap=not last_text, overflow="fold"
        )
    for row in section.rows:
        table.add_row(*row, *([""] * (ncols - len(row))))
    return table


def render(summary: Summary, width: int | None = None) -> str:
    """Plain text (no colour codes) of ``summary`` at ``width`` columns (default: the terminal's)."""
    width = width or terminal_width()
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False, highlight=False)
    console.print(summary.title, markup=False)
    for remark in summary.remarks:
        console.print(remark, markup=False)
    for section in summary.sections:
        if section.rows:
            console.print(_table(section))
    lines = [buffer.getvalue().rstrip("\n")]
    if summary.links:
        pad = max(len(k) for k in summary.links)
        lines.extend(f"{label.ljust(pad)}  {value}" for label, value in summary.links.items())
    return "\n".join(lines) + "\n"


def metrics_summary(
    title: str, metrics: Mapping[str, float], notes: Mapping[str, str] | None = None
) -> Summary:
    """The simple form: one section of metrics, notes (paths, counts) as lines below the table."""
    section = Section("", None, [(k, format_value(k, float(v))) for k, v in metrics.items()])
    return Summary(title, [section], links={k: str(v) for k, v in (notes or {}).items()})


def print_summary(title: str, metrics: Mapping[str, float], notes: Mapping[str, str] | None = None) -> str:
    """Print a table of metrics with notes (paths) below it; returns the printed text."""
    text = render(metrics_summary(title, metrics, notes))
    print(text, end="", flush=True)
    return text
