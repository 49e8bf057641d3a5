"""What every dataset adapter shares: the record it yields, the file walk, the rule matching and a registry.

An adapter turns a folder of scans (or a manifest) into records ``(path, writer_id, yforg, forger_id)``,
plus a ``box`` when the signature is a region of a larger file (a signature on a document page, Tobacco800).
It never reads pixels: :func:`sigbench.data.prepare.prepare_dataset` does that (and crops the box), so an
adapter stays a few lines of naming rules and can be checked on an empty-file tree in a test.

Two promises hold for every adapter:

* records come out in one deterministic order (writers in natural order -- numeric when the ids are
  numbers --, then genuine / skilled / simple, then file names in natural order, then boxes), so user
  indices and the "first of a duplicate group" are reproducible on any machine;
* an image file that no rule recognises is never dropped silently: it is listed in
  :attr:`ScanResult.unmatched`, logged with a count and examples, and with ``strict=True`` it stops the run.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, NamedTuple

from sigbench.data.preprocess import DEFAULT_CANVAS
from sigbench.images import IMAGE_SUFFIXES

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset(IMAGE_SUFFIXES)
#: Any parent folders: lets ``path`` point at the dataset root or at any folder above it.
ANY_PARENT = r"(?:.*/)?"
#: A file extension (the walk already keeps image files only).
EXT = r"\.[A-Za-z0-9]+"
#: How many unmatched names an error or a log line quotes.
EXAMPLES = 5

YFORG_NAMES = {0: "genuine", 1: "skilled", 2: "simple"}


class Box(NamedTuple):
    """A signature's region of its file in pixels: left ``x``, top ``y``, width ``w``, height ``h``."""

    x: int
    y: int
    w: int
    h: int

    def __str__(self) -> str:
        return f"{self.x},{self.y},{self.w},{self.h}"


class SignatureRecord(NamedTuple):
    """One scan: where it is, whose signature it imitates or is, and what kind it is.

    ``box`` is ``None`` when the file is the signature (every scan set); otherwise the signature is that
    region of the file (a signature on a document page), which :mod:`sigbench.data.prepare` crops.
    """

    path: Path
    writer_id: str
    yforg: int  # 0 genuine, 1 skilled forgery, 2 simple forgery
    forger_id: str | None = None
    box: Box | None = None


class UnmatchedFilesError(ValueError):
    """``strict=True`` and some image files match no naming rule of the adapter."""


@dataclass
class ScanResult:
    """Records an adapter found plus everything it did not turn into a record, so nothing goes unnoticed."""

    records: list[SignatureRecord]
    unmatched: list[str] = field(default_factory=list)  # image files no rule recognised (relative names)
    ignored: list[str] = field(default_factory=list)  # non-image or hidden files (manifests, Thumbs.db)

    def writers(self) -> list[str]:
        return sorted({r.writer_id for r in self.records}, key=natural_key)


def natural_key(text: str) -> tuple:
    """Sort key that orders digit runs by value: ``2 < 10``, ``u2 < u10``; the raw text breaks ties
    (``01`` vs ``1``) so the order is total."""
    parts = re.split(r"(\d+)", text)
    key = tuple((0, int(p), "") if p.isdigit() else (1, 0, p.lower()) for p in parts if p)
    return (*key, (2, 0, text))


def describe_files(names: Sequence[str], examples: int = EXAMPLES) -> str:
    """``"3 file(s), e.g. a.png, b.png"``: a count with a few names, for logs and error messages."""
    shown = ", ".join(names[:examples])
    more = f" (+{len(names) - examples} more)" if len(names) > examples else ""
    return f"{len(names)} file(s): {shown}{more}"


def _as_size(size: Sequence[int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    height, width = (int(v) for v in size)
    if height <= 0 or width <= 0:
        raise ValueError(f"canvas_size must be two positive integers (H, W), got {tuple(size)}")
    return height, width


def csv_rows(
    path: Path, required: Sequence[str], missing_error: Callable[[str], Exception]
) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line number, {lower-case column: stripped value})`` for each row of a list-of-files CSV.

    Shared by the adapters that read a CSV instead of a naming rule, so that all of them accept the same
    spellings (any case, surrounding spaces, a UTF-8 byte-order mark) and number lines alike in their
    errors. A missing required column raises ``missing_error(message)`` before any row is read.
    """
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        columns = {(name or "").strip().lower(): name for name in reader.fieldnames or []}
        missing = [c for c in required if c not in columns]
        if missing:
            raise missing_error(
                f"{path}: missing column(s) {missing}; expected {list(required)} (found {list(columns)})"
            )
        for line, row in enumerate(reader, start=2):
            yield line, {key: (row.get(name) or "").strip() for key, name in columns.items()}


class DatasetAdapter(ABC):
    """Base of all adapters: holds the root, the canvas and the strictness; subclasses list records.

    Args:
        path: the dataset folder (or a file, for manifest adapters).
        canvas_size: (H, W) overriding the dataset's canvas (see :attr:`default_canvas`).
        strict: raise :class:`UnmatchedFilesError` when image files match no rule, instead of reporting them.
    """

    #: Registry name, also the ``conf/dataset/<name>.yaml`` file name.
    name: ClassVar[str] = ""
    #: (H, W) the scans are centred on (notes section 1); datasets without a published one document theirs.
    default_canvas: ClassVar[tuple[int, int]] = DEFAULT_CANVAS

    def __init__(self, path: str | Path, canvas_size: Sequence[int] | None = None, strict: bool = False):
        self.path = Path(path).expanduser()
        self.canvas_size: tuple[int, int] = _as_size(canvas_size) or tuple(self.default_canvas)
        self.strict = bool(strict)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(path={str(self.path)!r}, canvas_size={self.canvas_size})"

    @property
    def root(self) -> Path:
        """Folder that record names are relative to."""
        return self.path

    def relative_name(self, path: Path) -> str:
        """The name stored in the dataset's ``filenames``: relative to :attr:`root` when inside it."""
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()

    def record_name(self, record: SignatureRecord) -> str:
        """The name a record gets in the dataset's ``filenames``: :meth:`relative_name` of its file, with
        ``#x,y,w,h`` appended when the signature is a box of that file (several signatures of one page
        then keep distinct names)."""
        name = self.relative_name(record.path)
        return name if record.box is None else f"{name}#{record.box}"

    @abstractmethod
    def collect(self) -> ScanResult:
        """Find the records (any order); subclasses implement only this."""

    def scan(self) -> ScanResult:
        """Records in the canonical order, unmatched files reported (or raised with ``strict``)."""
        if not self.path.exists():
            raise FileNotFoundError(f"{type(self).__name__}: dataset path {self.path} does not exist")
        result = self.collect()
        result.records.sort(
            key=lambda r: (natural_key(r.writer_id), r.yforg, natural_key(r.path.as_posix()), r.box or ())
        )
        result.unmatched.sort(key=natural_key)
        if result.unmatched:
            message = (
                f"{type(self).__name__} at {self.path}: {describe_files(result.unmatched)} "
                "not recognised by this dataset's naming rules"
            )
            if self.strict:
                raise UnmatchedFilesError(message)
            log.warning("%s; they are left out (strict=true makes this an error)", message)
        return result

    def records(self) -> list[SignatureRecord]:
        return self.scan().records


def list_files(root: Path) -> tuple[list[Path], list[str]]:
    """Image files under ``root`` (sorted) and the names of the others.

    Symlinked folders are followed (a subset of writers is often assembled from links), each real folder
    once. Hidden files and folders (``.DS_Store``, macOS ``._x.png`` forks, ``__MACOSX``) and non-image
    files are returned as ignored rather than offered to the naming rules, where ``._c-001-01.jpg`` could
    pass for a scan.
    """
    images: list[Path] = []
    ignored: list[str] = []
    seen: set[str] = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            dirs.clear()
            continue
        seen.add(real)
        for name in files:
            path = Path(folder, name)
            rel = path.relative_to(root)
            hidden = any(part.startswith(".") or part == "__MACOSX" for part in rel.parts)
            if hidden or path.suffix.lower() not in IMAGE_EXTENSIONS:
                ignored.append(rel.as_posix())
            else:
                images.append(path)
    images.sort()
    ignored.sort()
    return images, ignored


@dataclass(frozen=True)
class Rule:
    """A regular expression over the path relative to the root (``/`` separators, whole path must match).

    Named groups: ``writer`` (else the first folder is the writer), optional ``forger`` and any others the
    adapter's :meth:`RegexAdapter.classify` wants. ``yforg`` is the label, or ``None`` when ``classify``
    decides it from the groups.
    """

    pattern: str
    yforg: int | None = None


class RegexAdapter(DatasetAdapter):
    """Adapters whose naming scheme is a handful of regular expressions; most datasets are one of these.

    Rules are tried in order and the first that matches wins, so put specific rules before catch-alls.
    """

    rules: ClassVar[tuple[Rule, ...]] = ()
    flags: ClassVar[int] = re.IGNORECASE

    def active_rules(self) -> Sequence[Rule]:
        """The rules to apply; instance-configured adapters override this."""
        return self.rules

    def collect(self) -> ScanResult:
        compiled = [(rule, re.compile(rule.pattern, self.flags)) for rule in self.active_rules()]
        root = self.root
        if not root.is_dir():
            raise NotADirectoryError(f"{type(self).__name__}: dataset path {root} is not a folder")
        images, ignored = list_files(root)
        result = ScanResult(records=[], ignored=ignored)
        for path in images:
            rel = path.relative_to(root).as_posix()
            record = None
            for rule, regex in compiled:
                match = regex.fullmatch(rel)
                if match is not None:
                    record = self.classify(path, rel, match, rule)
                    break
            if record is None:
                result.unmatched.append(rel)
            else:
                result.records.append(record)
        return result

    def classify(self, path: Path, rel: str, match: re.Match, rule: Rule) -> SignatureRecord | None:
        """Turn a match into a record; return ``None`` to report the file as unmatched."""
        groups = match.groupdict()
        writer = groups.get("writer") or rel.split("/", 1)[0]
        if rule.yforg is None:
            raise TypeError(f"{type(self).__name__}: rule {rule.pattern!r} has no label and no classify()")
        forger = groups.get("forger") if rule.yforg else None
        return SignatureRecord(path, writer, rule.yforg, forger)


# ----------------------------------------------------------------------------------------------- registry

_REGISTRY: dict[str, type[DatasetAdapter]] = {}


def register(cls: type[DatasetAdapter]) -> type[DatasetAdapter]:
    """Class decorator: make an adapter available by its :attr:`~DatasetAdapter.name`."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a non-empty 'name' to be registered")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"dataset adapter name {cls.name!r} is taken by {_REGISTRY[cls.name].__name__}")
    _REGISTRY[cls.name] = cls
    return cls


def available_adapters() -> list[str]:
    return sorted(_REGISTRY)


def get_adapter(name: str) -> type[DatasetAdapter]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(
            f"unknown dataset adapter {name!r}; available: {', '.join(available_adapters())}"
        ) from None


def create_adapter(name: str, path: str | Path, **kwargs: object) -> DatasetAdapter:
    """``create_adapter("cedar", "/data/CEDAR")``: the registry's front door for notebooks and scripts."""
    return get_adapter(name)(path, **kwargs)
