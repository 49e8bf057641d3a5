"""Cache keys: canonical config hashing and code fingerprints."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sigbench import atomic
from sigbench.cachekey import config_key, digest, module_sources


def test_digest_is_sha256_of_the_parts_in_order() -> None:
    assert digest("ab", b"c", length=64) == hashlib.sha256(b"abc").hexdigest()
    assert digest("ab", "c") == hashlib.sha256(b"abc").hexdigest()[:16]
    assert digest("c", "ab") != digest("ab", "c")


def test_config_key_ignores_key_order_but_not_values() -> None:
    assert config_key({"a": 1, "b": [1, 2]}) == config_key({"b": [1, 2], "a": 1})
    assert config_key({"a": 1, "b": [2, 1]}) != config_key({"a": 1, "b": [1, 2]})
    assert config_key({"a": 1}) == hashlib.sha256(b'{"a":1}').hexdigest()[:20]
    assert len(config_key({"a": 1}, length=24)) == 24


def test_module_sources_are_the_files_bytes() -> None:
    (source,) = module_sources(atomic)
    assert source == Path(atomic.__file__).read_bytes()
