"""sigbench: configuration-driven experiments for offline handwritten signature analysis.

The Python front door (see docs/python_api.md)::

    import sigbench
    extractor = sigbench.load_extractor("last.ckpt")        # a checkpoint, a bundle folder or sigver weights
    features = sigbench.embed(images, extractor=extractor)  # preprocessed uint8 images -> N x D
    sigbench.verification.eer(scores, labels)

Names are imported on first use, so ``import sigbench`` does not load torch.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("sigbench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

_EXPORTS = {
    "Extractor": "sigbench.api",
    "load_extractor": "sigbench.api",
    "preprocess": "sigbench.api",
    "embed": "sigbench.api",
}
_SUBMODULES = ("verification",)

__all__ = sorted([*_EXPORTS, *_SUBMODULES, "__version__"])


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"sigbench.{name}")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sigbench' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
