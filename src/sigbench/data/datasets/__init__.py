"""Dataset adapters: one small module per public dataset family, a generic folder adapter and a CSV one
(Tobacco800 lists signatures as boxes on document pages).

Each adapter turns a dataset on disk into :class:`SignatureRecord` s; :func:`sigbench.data.prepare.
prepare_dataset` turns records into a prepared sigver set. Importing this package registers every adapter,
so ``create_adapter("cedar", path)`` and the Hydra configs (``conf/dataset/<name>.yaml``) find them.
"""

from sigbench.data.datasets.base import (
    Box,
    DatasetAdapter,
    RegexAdapter,
    Rule,
    ScanResult,
    SignatureRecord,
    UnmatchedFilesError,
    available_adapters,
    create_adapter,
    get_adapter,
    natural_key,
    register,
)
from sigbench.data.datasets.bhsig import BhsigBengaliAdapter, BhsigHindiAdapter
from sigbench.data.datasets.brazilian import BrazilianAdapter
from sigbench.data.datasets.cedar import CedarAdapter
from sigbench.data.datasets.folder import FolderAdapter
from sigbench.data.datasets.gpds import GpdsAdapter, GpdsSyntheticAdapter
from sigbench.data.datasets.manifest import ManifestAdapter
from sigbench.data.datasets.mcyt import McytAdapter
from sigbench.data.datasets.sigcomp2009 import Nisdcc2009Adapter
from sigbench.data.datasets.sigcomp2011 import SigComp2011Adapter
from sigbench.data.datasets.tobacco800 import Tobacco800Adapter

__all__ = [
    "BhsigBengaliAdapter",
    "BhsigHindiAdapter",
    "Box",
    "BrazilianAdapter",
    "CedarAdapter",
    "DatasetAdapter",
    "FolderAdapter",
    "GpdsAdapter",
    "GpdsSyntheticAdapter",
    "ManifestAdapter",
    "McytAdapter",
    "Nisdcc2009Adapter",
    "RegexAdapter",
    "Rule",
    "ScanResult",
    "SigComp2011Adapter",
    "SignatureRecord",
    "Tobacco800Adapter",
    "UnmatchedFilesError",
    "available_adapters",
    "create_adapter",
    "get_adapter",
    "natural_key",
    "register",
]
