"""A CSV manifest adapter: for any dataset whose labels live in a table rather than in file names.

Columns (header names, case-insensitive, extra columns ignored): ``path``, ``writer``, ``label`` and an
optional ``forger``. Labels: ``genuine``/``g``/``0``, ``forgery``/``forged``/``skilled``/``f``/``1``,
``simple``/``2``. Relative paths are resolved against the CSV's folder (or ``root``), so a manifest travels
with its images. Rows with an unknown label or no writer are reported like unmatched files; listed files
that do not exist surface as unreadable files when the set is prepared.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sigbench.data.datasets.base import DatasetAdapter, ScanResult, SignatureRecord, csv_rows, register

LABELS = {
    "genuine": 0,
    "g": 0,
    "0": 0,
    "forgery": 1,
    "forged": 1,
    "skilled": 1,
    "f": 1,
    "1": 1,
    "simple": 2,
    "2": 2,
}
REQUIRED_COLUMNS = ("path", "writer", "label")
DEFAULT_NAME = "manifest.csv"


@register
class ManifestAdapter(DatasetAdapter):
    """Args: ``path`` the CSV file or a folder holding ``manifest.csv``; ``root`` where relative paths start
    (default: the CSV's folder)."""

    name = "manifest"

    def __init__(
        self,
        path: str | Path,
        canvas_size: Sequence[int] | None = None,
        strict: bool = False,
        root: str | Path | None = None,
    ):
        super().__init__(path, canvas_size=canvas_size, strict=strict)
        self.csv_path = self.path / DEFAULT_NAME if self.path.is_dir() else self.path
        self._root = Path(root).expanduser() if root is not None else self.csv_path.parent

    @property
    def root(self) -> Path:
        return self._root

    def collect(self) -> ScanResult:
        if not self.csv_path.is_file():
            raise FileNotFoundError(f"ManifestAdapter: manifest {self.csv_path} does not exist")
        result = ScanResult(records=[])
        for line, fields in csv_rows(self.csv_path, REQUIRED_COLUMNS, ValueError):
            record = self._record(fields)
            if record is None:
                result.unmatched.append(f"{fields['path'] or '<no path>'} (line {line}: {fields})")
            else:
                result.records.append(record)
        return result

    def _record(self, fields: dict[str, str]) -> SignatureRecord | None:
        yforg = LABELS.get(fields["label"].lower())
        if yforg is None or not fields["writer"] or not fields["path"]:
            return None
        path = Path(fields["path"]).expanduser()
        if not path.is_absolute():
            path = self.root / path
        forger = (fields.get("forger") or None) if yforg else None
        return SignatureRecord(path, fields["writer"], yforg, forger)
