"""All-or-nothing file writes: a crash, a full disk or Ctrl-C never leaves a truncated file behind.

Every writer in sigbench (results, features, checkpoints in the sigver layout, datasets, annotations, masks)
goes through this module: the content is written to a hidden temporary sibling, flushed, given the
permissions a plain ``open`` would have given it, and renamed into place with ``os.replace`` (atomic on
POSIX and Windows). An older file of the same name stays intact until the new one is complete.

A writer killed outright (SIGKILL, power loss) cannot remove its temporary sibling; the next run of the
same writer does, with :func:`remove_stale_temps` (by the names this module gives and by age, so a temporary
file another run is still writing is left alone) and says so in the log.

Plain standard library on purpose, so that torch-free parts (document formats, data preparation) use it too.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

#: A temporary file or folder not modified for this long is taken as left behind by a killed run; a younger
#: one may belong to a run writing the same output right now and is left alone.
STALE_AFTER_S = 30 * 60
_RANDOM = r"[a-z0-9_]{8}"  # the random part tempfile gives mkstemp / mkdtemp names
_ANY_TEMP = re.compile(rf"^\..+\.{_RANDOM}(\.[a-z]+)?\.tmp(\.[^./]+)?$")


def default_mode(directory: bool = False) -> int:
    """The mode ``open`` / ``mkdir`` would give under the current umask (``mkstemp`` makes 0600 files)."""
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write ``path`` through; it is renamed into place only on success.

    The temporary name keeps ``path``'s suffix, so libraries that pick the format from the extension
    (``cv2.imwrite``, ``PIL.Image.save``, ``np.save``, ``torch.save``) write the right format.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, default_mode())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(binary_file)`` on a temporary sibling, fsync it, then rename it to ``path``."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda handle: handle.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` as UTF-8 with ``\\n`` line endings to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


@contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder to fill; on success it replaces ``path`` (an existing folder is removed).

    Between the removal of an old folder and the rename there is a short window without either; what is
    never visible is a half-filled folder under the final name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, default_mode(directory=True))
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def unwritable_reason(path: str | os.PathLike, kind: str = "folder") -> str | None:
    """Why an output ``kind`` (``"folder"`` or ``"file"``) cannot be created at ``path``; ``None`` if it can.

    Asks the filesystem rather than permission bits (which say nothing for root, read-only mounts or
    network filesystems): a temporary file is created and removed in the nearest folder that exists on the
    way to ``path``. Nothing else is created, so a refused run leaves no trace.
    """
    path = Path(path).expanduser().absolute()
    if kind not in ("folder", "file"):
        raise ValueError(f"kind must be 'folder' or 'file', got {kind!r}")
    if kind == "folder" and path.exists() and not path.is_dir():
        return f"{path} is a file, not a folder"
    if kind == "file" and path.is_dir():
        return f"{path} is a folder, not a file"
    existing = path if kind == "folder" else path.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return f"cannot create {path}: {existing} is a file, not a folder"
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".sigbench-write-probe-")
    except OSError as err:
        return f"cannot write in {existing} ({err.strerror or err})"
    os.close(fd)
    os.unlink(probe)
    return None


def scratch_file(path: str | os.PathLike, tag: str) -> Path:
    """A new empty hidden scratch file ``.<name>.<random>.<tag>.tmp`` beside ``path`` (for work data that
    never becomes ``path``, such as a memory map); the caller removes it, :func:`remove_stale_temps` finds
    it after a crash."""
    if not re.fullmatch(r"[a-z]+", tag):
        raise ValueError(f"scratch tag {tag!r}: expected lower-case letters")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".{tag}.tmp", dir=path.parent)
    os.close(fd)
    return Path(name)


def temp_pattern(path: str | os.PathLike) -> re.Pattern[str]:
    """Names of the temporaries this module makes for ``path``: :func:`atomic_path` / :func:`atomic_write`
    files, :func:`atomic_dir` folders and :func:`scratch_file` files (and no other output's)."""
    path = Path(path)
    stem, name, suffix = (re.escape(v) for v in (path.stem, path.name, path.suffix))
    return re.compile(
        rf"^\.(?:{stem}\.{_RANDOM}\.tmp{suffix}|{name}\.{_RANDOM}\.tmp|{name}\.{_RANDOM}\.[a-z]+\.tmp)$"
    )


def _remove_if_stale(entry: os.DirEntry, older_than_s: float, now: float) -> bool:
    try:
        age = now - entry.stat(follow_symlinks=False).st_mtime
        if age < older_than_s:
            return False
        size = entry.stat(follow_symlinks=False).st_size
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
        else:
            os.unlink(entry.path)
    except FileNotFoundError:
        return False  # removed by another run meanwhile
    log.warning(
        "removed %s, a temporary %s left by an interrupted run %.0f min ago (%.1f MB)",
        entry.path,
        "folder" if entry.is_dir(follow_symlinks=False) else "file",
        age / 60,
        size / 1e6,
    )
    return True


def remove_stale_temps(path: str | os.PathLike, older_than_s: float = STALE_AFTER_S) -> list[Path]:
    """Remove the temporaries of ``path`` (see :func:`temp_pattern`) older than ``older_than_s`` seconds,
    left by a killed writer; each removal is logged. Returns what was removed."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    pattern, now = temp_pattern(path), time.time()
    with os.scandir(path.parent) as entries:
        return [
            Path(e.path) for e in entries if pattern.match(e.name) and _remove_if_stale(e, older_than_s, now)
        ]


def remove_stale_temps_in(folder: str | os.PathLike, older_than_s: float = STALE_AFTER_S) -> list[Path]:
    """The same for every temporary this module may have made inside ``folder`` and its subfolders: for a
    tool that owns its output folder and writes many files there."""
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    now = time.time()
    for root, dirs, _ in os.walk(folder):
        with os.scandir(root) as entries:
            for entry in entries:
                if _ANY_TEMP.match(entry.name) and _remove_if_stale(entry, older_than_s, now):
                    removed.append(Path(entry.path))
                    if entry.name in dirs:
                        dirs.remove(entry.name)
    return removed
