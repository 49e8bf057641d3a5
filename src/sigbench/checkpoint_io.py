"""Model files in and out without running code from them: the one loader of checkpoints and weight files.

A ``.ckpt`` or ``.pth`` is a pickle, and unpickling a file from someone else can run any code it names. So
every read here goes through ``torch.load(weights_only=True)``, which builds only tensors, plain containers
and a short list of harmless types (:data:`SAFE_GLOBALS`: paths and numeric NumPy scalars that Lightning's
callbacks may store). Rebuilding a task from the config a checkpoint carries is the other way data could
run code (``_target_: os.system``), so every ``_target_`` of a stored config must name something inside
the packages that build models, data and optimisers (:data:`TRUSTED_TARGETS`) before anything is built.

Whatever goes wrong, the error (:class:`CheckpointError`) names the file and says what it holds: missing,
empty, truncated, not a PyTorch file, foreign Python objects, a sigver weight file, or a checkpoint of
another task than the tool needs (``"x.ckpt holds a detection checkpoint (task=...); sigbench-eval needs a
feature-extractor checkpoint"``).

Writes go through :class:`AtomicCheckpointIO`, Lightning's checkpoint plugin with one change: the file is
written to a temporary sibling in the destination folder, fsynced and renamed into place
(:func:`sigbench.atomic.atomic_write`), so a run killed in the middle of a save keeps its previous good
``last.ckpt``. Lightning's own writer stages the file in ``TMPDIR`` and *copies* it across when that is
another filesystem, truncating the old file first.

This module sits below ``runner`` and the wings (``features``, ``detection``, ...), which all load
checkpoints through it.
"""

from __future__ import annotations

import pathlib
import pickle
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from sigbench.atomic import atomic_write

CONFIG_KEY = "sigbench_config"

# What each task's checkpoint is, by the module of the task's class (read from the stored config, so a
# wrong-task file is named before any model is built).
TASK_KINDS = {
    "sigbench.features.": "feature-extractor",
    "sigbench.detection.": "detection",
    "sigbench.segmentation.": "segmentation",
    "sigbench.cleaning.": "cleaning",
}
FEATURES = "feature-extractor"

# Packages whose classes and factories a stored config may name: models, losses, optimisers, schedules,
# data modules and augmentations. Anything else (os.system, builtins.eval, sigbench.atomic ...) is refused.
TRUSTED_TARGETS = (
    "sigbench.features.",
    "sigbench.data.",
    "sigbench.detection.",
    "sigbench.segmentation.",
    "sigbench.cleaning.",
    "sigbench.documents.",
    "torch.nn.",
    "torch.optim.",
    "torchvision.models.",
    "timm.",
    "segmentation_models_pytorch.",
    "albumentations.",
)

# The groups of a stored config that tools build (model, task, data); trainer, loggers and callbacks are not.
BUILT_GROUPS = ("task", "model", "loss", "optimizer", "scheduler", "data")

_NUMERIC_DTYPES = (
    np.dtypes.BoolDType,
    *(getattr(np.dtypes, f"{k}DType") for k in ("Int8", "Int16", "Int32", "Int64")),
    *(getattr(np.dtypes, f"UInt{b}DType") for b in (8, 16, 32, 64)),
    *(getattr(np.dtypes, f"Float{b}DType") for b in (16, 32, 64)),
)
# Types Lightning checkpoints may hold besides tensors and containers; none of them runs code when built.
SAFE_GLOBALS: list[Any] = [
    pathlib.PosixPath,
    pathlib.PurePosixPath,
    np._core.multiarray.scalar,  # numeric scalars only: an object scalar would need a further global
    np.dtype,
    *_NUMERIC_DTYPES,
]


# How torch's weights-only unpickler names an object it refuses to build.
_FOREIGN = r"[^\n]*(GLOBAL|global|Can only build)[^\n]*"


class CheckpointError(ValueError):
    """A model file that cannot be used as asked, with its path and what it holds in the message."""


def load_file(path: str | Path, map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``, with :class:`CheckpointError` naming the file on failure.

    Empty, truncated and non-PyTorch files and files with foreign Python objects each get their own
    message; nothing in the file is run.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path} does not exist")
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a checkpoint file")
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"{path} is empty (0 bytes): not a checkpoint (an interrupted save?)")
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError, KeyError... on bad files
        foreign = re.search(_FOREIGN, str(err)) if isinstance(err, pickle.UnpicklingError) else None
        if foreign is not None:
            named = re.search(r"GLOBAL ([\w.]+)", foreign.group(0))
            what = f"it names {named.group(1)}" if named else foreign.group(0).strip()[:160]
            raise CheckpointError(
                f"{path} holds Python objects other than tensors and plain data ({what}); sigbench does "
                "not unpickle them, because loading such a file can run any code it names"
            ) from None
        detail = (str(err).splitlines() or [""])[0][:160] or "no detail"
        raise CheckpointError(
            f"{path} is truncated or not a PyTorch file ({size} bytes; {type(err).__name__}: {detail})"
        ) from None


def task_target(config: Mapping[str, Any]) -> str:
    task = config.get("task")
    return str(task.get("_target_", "?")) if isinstance(task, Mapping) else "?"


def checkpoint_kind(config: Mapping[str, Any]) -> str:
    """``feature-extractor``, ``detection``, ``segmentation``, ``cleaning`` (or ``unknown``) of a config."""
    target = task_target(config)
    return next((kind for prefix, kind in TASK_KINDS.items() if target.startswith(prefix)), "unknown")


def describe(obj: Any) -> str:
    """What a loaded file holds, in words for an error message."""
    if isinstance(obj, Mapping):
        if CONFIG_KEY in obj and isinstance(obj[CONFIG_KEY], Mapping):
            config = obj[CONFIG_KEY]
            return f"a {checkpoint_kind(config)} checkpoint (task={task_target(config)})"
        if "state_dict" in obj:
            return "a Lightning checkpoint without the config sigbench stores (not written by sigbench-train)"
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return f"a bare state dict of {len(obj)} tensors (no config to rebuild the model from)"
        return f"a dict with keys {sorted(map(str, obj))[:8]}"
    if isinstance(obj, (tuple, list)) and obj and all(isinstance(o, Mapping) for o in obj):
        return "a sigver weight file (a tuple of state dicts)"
    return f"a {type(obj).__name__}"


def _targets(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            if key == "_target_":
                yield where, value
            else:
                yield from _targets(value, where)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _targets(value, f"{path}[{i}]")


def check_targets(config: Mapping[str, Any], source: str | Path) -> None:
    """Refuse a stored config whose built groups (:data:`BUILT_GROUPS`) name anything outside
    :data:`TRUSTED_TARGETS`, before any of it is built."""
    built = {key: config[key] for key in BUILT_GROUPS if key in config}
    for where, target in _targets(built):
        if not (isinstance(target, str) and target.startswith(TRUSTED_TARGETS)):
            raise CheckpointError(
                f"{source}: its config names {where}={target!r}, outside the packages sigbench builds "
                "models and data from; refusing to rebuild it (a crafted file could run code this way)"
            )


def read_checkpoint(
    path: str | Path, needs: str | None = None, tool: str = "sigbench", map_location: Any = "cpu"
) -> dict[str, Any]:
    """A sigbench checkpoint, loaded safely; ``needs`` (a kind of :data:`TASK_KINDS`) is checked.

    Returns the whole checkpoint dict (``state_dict``, the stored config under :data:`CONFIG_KEY`, ...).
    """
    obj = load_file(path, map_location)
    if not (isinstance(obj, Mapping) and isinstance(obj.get(CONFIG_KEY), Mapping)):
        hint = " (pass it as weights=)" if describe(obj).startswith("a sigver") else ""
        raise CheckpointError(
            f"{path} holds {describe(obj)}{hint}; {tool} needs a sigbench checkpoint "
            f"(with '{CONFIG_KEY}', written by sigbench-train)"
        )
    config = obj[CONFIG_KEY]
    if needs is not None and checkpoint_kind(config) != needs:
        raise CheckpointError(f"{path} holds {describe(obj)}; {tool} needs a {needs} checkpoint")
    if "state_dict" not in obj:
        raise CheckpointError(f"{path} holds {describe(obj)} without its weights ('state_dict')")
    check_targets(config, path)
    return dict(obj)


def read_checkpoint_config(path: str | Path, needs: str | None = None, tool: str = "sigbench") -> dict:
    """The config stored by ``sigbench-train`` in a checkpoint (see :func:`read_checkpoint`)."""
    return read_checkpoint(path, needs, tool)[CONFIG_KEY]


def build_task(config: Mapping[str, Any], num_classes: int) -> torch.nn.Module:
    """The task a composed config describes (model, loss, optimizer and scheduler passed into it)."""
    from hydra.utils import instantiate

    def part(key: str) -> Any:
        return instantiate(config[key]) if config.get(key) is not None else None

    return instantiate(
        config["task"],
        backbone=instantiate(config["model"]),
        num_classes=num_classes,
        optimizer=part("optimizer"),
        scheduler=part("scheduler"),
        loss=part("loss"),
    )


def load_task(
    path: str | Path,
    map_location: str | torch.device = "cpu",
    needs: str | None = None,
    tool: str = "sigbench",
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild a trained task from its checkpoint alone (the config it carries), weights loaded, eval mode."""
    ckpt = read_checkpoint(path, needs, tool, map_location)
    config = ckpt[CONFIG_KEY]
    num_classes = int((config.get("_runtime") or {}).get("num_classes", 0))
    task = build_task(config, num_classes=num_classes)
    try:
        task.load_state_dict(ckpt["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(
            f"{path}: its weights do not fit the model its config describes ({err})"
        ) from err
    return task.eval(), config


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint plugin, writing through a fsynced temporary file in the destination folder
    and reading with :func:`load_file` (``weights_only=True``), resume included."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None or "://" in str(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        atomic_write(path, lambda handle: torch.save(checkpoint, handle))
        return None

    def load_checkpoint(
        self,
        path: Any,
        map_location: Callable | Any = None,
        weights_only: bool | None = None,
    ) -> dict[str, Any]:
        if weights_only is False:
            raise CheckpointError(f"{path}: sigbench loads checkpoints with weights_only=True only")
        if "://" in str(path):
            return super().load_checkpoint(path, map_location, weights_only=True)
        obj = load_file(path, map_location if map_location is not None else "cpu")
        if not isinstance(obj, dict):
            raise CheckpointError(f"{path} holds {describe(obj)}, not a Lightning checkpoint")
        return obj
