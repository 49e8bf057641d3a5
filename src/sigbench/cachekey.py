"""Cache keys: what a cached artefact (generated signatures, prepared scans, synthesised pages) depends on.

A key hashes the config that made the artefact *and* the source code that turns config into data, so editing
that code misses the cache instead of silently reusing stale data. Every cache in sigbench builds its key
here, so they agree on the canonical JSON form and on how code is fingerprinted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any


def digest(*parts: bytes | str, length: int = 16) -> str:
    """Hex SHA-256 of the parts in order (strings as UTF-8), cut to ``length`` characters."""
    sha = hashlib.sha256()
    for part in parts:
        sha.update(part.encode() if isinstance(part, str) else part)
    return sha.hexdigest()[:length]


def module_sources(*modules: ModuleType) -> list[bytes]:
    """The source files of ``modules``, for :func:`digest`: a code change then changes the key."""
    return [Path(module.__file__).read_bytes() for module in modules]


def config_key(config: Mapping[str, Any], length: int = 20) -> str:
    """Hash of a JSON-serialisable config in canonical form (sorted keys, no whitespace)."""
    return digest(json.dumps(config, sort_keys=True, separators=(",", ":")), length=length)
