"""The one progress bar of long data jobs (preparing datasets, synthesising pages)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class ProgressBar:
    """A rich progress bar on stderr, or nothing when disabled (tests, library use, sweeps).

    ``with ProgressBar(True) as ui: step = ui.task("pages", total)`` then ``step(n)`` after each n items.
    """

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.progress: Any = None

    def __enter__(self) -> ProgressBar:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)

    def task(self, description: str, total: int) -> Callable[[int], None]:
        if self.progress is None:
            return lambda n: None
        task_id = self.progress.add_task(description, total=total)
        return lambda n: self.progress.advance(task_id, n)
