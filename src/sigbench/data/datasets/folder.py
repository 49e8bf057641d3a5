"""The generic adapter for a tree the named adapters do not know: one folder per writer, kinds by pattern.

Glob mode (default): patterns are matched against the path *inside the writer folder*, e.g. for
``<writer>/genuine/*.png`` and ``<writer>/forged/*.png`` use ``genuine="genuine/*"`` and
``forgery="forged/*"``; for ``<writer>/G01.png`` / ``<writer>/F01.png`` use ``genuine="G*"``,
``forgery="F*"``. The writer id is the folder name.

Regex mode (``regex=True``): patterns are regular expressions over the whole path relative to ``path``;
a ``(?P<writer>...)`` group overrides the folder as writer id and ``(?P<forger>...)`` records the forger.

Forgery patterns are tried before simple-forgery patterns and those before genuine ones, so a catch-all
``genuine="*"`` (the default) means "everything that is not a forgery". Files matching nothing are reported.
Canvas: 840 x 1360 (the preprocessing default) unless ``canvas_size`` is given.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from pathlib import Path

from sigbench.data.datasets.base import RegexAdapter, Rule, register

Patterns = str | Sequence[str] | None


def _as_list(patterns: Patterns) -> list[str]:
    if patterns is None:
        return []
    if isinstance(patterns, str):
        return [patterns]
    return [str(p) for p in patterns]


@register
class FolderAdapter(RegexAdapter):
    name = "folder"

    def __init__(
        self,
        path: str | Path,
        genuine: Patterns = "*",
        forgery: Patterns = None,
        simple: Patterns = None,
        regex: bool = False,
        case_sensitive: bool = False,
        canvas_size: Sequence[int] | None = None,
        strict: bool = False,
    ):
        super().__init__(path, canvas_size=canvas_size, strict=strict)
        self.regex = bool(regex)
        self.flags = 0 if case_sensitive else re.IGNORECASE
        self.patterns = {1: _as_list(forgery), 2: _as_list(simple), 0: _as_list(genuine)}
        if not any(self.patterns.values()):
            raise ValueError("FolderAdapter needs at least one genuine, forgery or simple pattern")
        self._rules = tuple(
            Rule(self._to_regex(pattern), yforg)
            for yforg, patterns in self.patterns.items()
            for pattern in patterns
        )

    def _to_regex(self, pattern: str) -> str:
        if self.regex:
            re.compile(pattern)  # fail at construction, naming the bad pattern, not mid-scan
            return pattern
        return r"(?P<writer>[^/]+)/" + fnmatch.translate(pattern)

    def active_rules(self) -> Sequence[Rule]:
        return self._rules
