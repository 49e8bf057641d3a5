"""Start-up checks of a composed config: every ``_target_`` node against the signature it will be called with.

Hydra's struct mode already rejects misspelt keys of the top-level schema; this walks the component nodes
(model, data, loss, ...) whose schemas are the type-hinted signatures of the classes they build, so a typo or
a wrong type fails in a second, before data is generated or a model trained, naming the config key.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from hydra.utils import get_object
from omegaconf import DictConfig, ListConfig, OmegaConf

HYDRA_KEYS = {"_target_", "_partial_", "_recursive_", "_convert_", "_args_"}


def _positive(value: Any) -> bool:
    return value > 0


def _non_negative(value: Any) -> bool:
    return value >= 0


def _fraction(value: Any) -> bool:
    return 0 <= value < 1


# Limits on values, by argument name, for every component that takes an argument of that name: types say
# "an int", these say which ints make sense (a batch of 0 samples, a negative learning rate).
VALUE_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "batch_size": (_positive, "> 0"),
    "eval_batch_size": (_positive, "> 0"),
    "inverted_batch_size": (_positive, "> 0"),
    "lr": (_non_negative, ">= 0"),
    "weight_decay": (_non_negative, ">= 0"),
    "momentum": (_non_negative, ">= 0"),
    "val_fraction": (_fraction, "in [0, 1)"),
    "inverted_val_fraction": (_fraction, "in [0, 1)"),
}


class ConfigError(ValueError):
    """A config key that names something that does not exist or holds a value of the wrong type."""


def iter_target_nodes(node: Any, path: str = "") -> Iterator[tuple[str, DictConfig]]:
    """Every mapping with a ``_target_`` below ``node``, with its dotted path."""
    if isinstance(node, DictConfig):
        if "_target_" in node:
            yield path, node
        for key in node:
            value = node._get_node(key)
            if isinstance(value, (DictConfig, ListConfig)):
                yield from iter_target_nodes(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, ListConfig):
        for i, value in enumerate(node):
            if isinstance(value, (DictConfig, ListConfig)):
                yield from iter_target_nodes(value, f"{path}[{i}]")


def _signature(target: Any) -> inspect.Signature | None:
    try:
        return inspect.signature(target)
    except (TypeError, ValueError):
        return None


def _hints(target: Any) -> dict[str, Any]:
    func = target.__init__ if inspect.isclass(target) else target
    try:
        return typing.get_type_hints(func)
    except Exception:  # unresolvable forward references in third-party code: skip type checks
        return {}


def _matches(value: Any, hint: Any) -> bool:
    """Loose runtime check of plain config values against an annotation; unknown annotations pass."""
    if hint is Any or hint is inspect.Parameter.empty:
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, h) for h in typing.get_args(hint))
    if value is None:
        return hint is type(None)
    if hint is type(None):
        return False
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin in (list, tuple, Sequence, typing.Sequence) or hint in (list, tuple):
        return isinstance(value, (list, tuple, ListConfig))
    if origin in (dict, Mapping) or hint is dict:
        return isinstance(value, (dict, DictConfig))
    return True


def check_target_node(path: str, node: DictConfig, supplied: set[str] | frozenset[str] = frozenset()) -> None:
    """Check one node; ``supplied`` names arguments the caller passes at instantiation time."""
    target_name = node._get_node("_target_")._value()
    try:
        target = get_object(target_name)
    except Exception as err:
        raise ConfigError(f"{path}._target_: cannot import {target_name!r} ({err})") from err
    sig = _signature(target)
    if sig is None:
        return
    params = sig.parameters
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    hints = _hints(target)
    given = [k for k in node if k not in HYDRA_KEYS]
    named = [n for n, p in params.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and n != "self"]
    for key in given:
        if key not in params and not accepts_any:
            raise ConfigError(
                f"{path}.{key}: {target_name} has no argument {key!r}; it takes {', '.join(named) or 'none'}"
            )
        raw = node._get_node(key)
        if OmegaConf.is_missing(node, key):
            raise ConfigError(f"{path}.{key}: a value is required ('???' was not overridden)")
        if isinstance(raw, (DictConfig, ListConfig)) and not isinstance(raw, ListConfig):
            continue  # nested node: checked on its own if it has a _target_
        value = node[key]
        if isinstance(value, ListConfig):
            value = list(value)
        if key in hints and not _matches(value, hints[key]):
            raise ConfigError(
                f"{path}.{key}: {value!r} is a {type(value).__name__}, but {target_name} expects "
                f"{_hint_name(hints[key])}"
            )
        check_value(f"{path}.{key}", key, value)
    if node.get("_partial_", False):
        return
    missing = [
        n
        for n, p in params.items()
        if p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and n not in given
        and n not in supplied
        and n != "self"
    ]
    if missing and "_args_" not in node:
        raise ConfigError(f"{path}: {target_name} needs {', '.join(missing)} (missing from the config)")


def check_value(where: str, name: str, value: Any) -> None:
    """Apply :data:`VALUE_RULES` to a number given for argument ``name`` (``where``: its config key)."""
    rule = VALUE_RULES.get(name)
    if rule is None or value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    holds, expected = rule
    if not holds(value):
        raise ConfigError(f"{where}={value!r}: must be {expected}")


def _hint_name(hint: Any) -> str:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " | ".join(_hint_name(h) for h in typing.get_args(hint))
    if hint is type(None):
        return "None"
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def validate_config(cfg: DictConfig, supplied: Mapping[str, set[str]] | None = None) -> None:
    """Check every ``_target_`` node of ``cfg``; ``supplied[path]`` lists arguments passed in code."""
    supplied = supplied or {}
    for path, node in iter_target_nodes(cfg):
        check_target_node(path, node, frozenset(supplied.get(path, set())))
