"""Optional dependency stacks (the ``[project.optional-dependencies]`` extras of pyproject.toml).

A plain ``pip install sigbench`` trains and evaluates verification models; documents (detection,
segmentation, PDFs), sweeps, cluster launchers and the service each need an extra.  Code that uses one
imports it through :func:`require`, so a missing package is an error that says what to install instead of
a bare ``ModuleNotFoundError`` deep in a run.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingExtraError(ImportError):
    """An optional package is not installed; the message names the extra that installs it."""


def install_hint(extra: str) -> str:
    return f"pip install 'sigbench[{extra}]'"


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module`` (needed for ``purpose``), or raise :class:`MissingExtraError` naming ``extra``.

    Only the absence of ``module`` itself (or its top-level package) is translated; an import error inside
    an installed package is re-raised as it is, since reinstalling the extra would not fix it.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name is None or module.split(".")[0] != err.name.split(".")[0]:
            raise
        package = module.split(".")[0]
        raise MissingExtraError(
            f"{purpose} needs the package {package}, which is not installed: {install_hint(extra)}"
        ) from None
