"""The end-of-run table: what a user reads first after ``make run``."""

from __future__ import annotations

from collections.abc import Mapping

from rich.console import Console
from rich.table import Table

PERCENT_KEYS = ("acc", "eer", "auc", "frr", "far")


def format_value(key: str, value: float) -> str:
    if any(k in key.lower() for k in PERCENT_KEYS):
        return f"{100.0 * value:.2f} %"
    return f"{value:.4g}"


def print_summary(title: str, metrics: Mapping[str, float], notes: Mapping[str, str] | None = None) -> str:
    """Print a two-column table of metrics and notes (paths); returns the rendered text."""
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        table.add_row(key, format_value(key, float(value)))
    for key, value in (notes or {}).items():
        table.add_row(key, str(value))
    console = Console(width=120)
    with console.capture() as capture:
        console.print(table)
    text = capture.get()
    print(text, flush=True)
    return text
