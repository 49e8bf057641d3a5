"""A bundle: one folder that holds everything a deployed verifier needs, and says what it holds.

Layout (``manifest.json`` is the only file a reader opens first)::

    <bundle>/manifest.json      format version, fingerprint, preprocessing, thresholds, file list
    <bundle>/extractor.ckpt     the feature extractor (a config-carrying ``sigbench-train`` checkpoint)
    <bundle>/detector.ckpt      optional: the signature detector (pages -> boxes)
    <bundle>/cleaner.ckpt       optional: the SignVer cleaner (clutter removal on preprocessed crops)
    <bundle>/negatives.npz      optional: development writers' embeddings (writer-dependent SVM negatives)
    <bundle>/calibration/       optional: DET plots of the calibration (det_<mode>.png)

The **fingerprint** is a SHA-256 over the exact bytes of the model files (extractor, detector, cleaner, in
that order, each tagged with its role) and the preprocessing settings: everything that decides what
embedding a given input image gets. Thresholds and negatives are *not* in it: re-calibrating a bundle keeps
its embeddings valid, while any change of a model or of preprocessing makes a store refuse the bundle.

A bundle is written into a temporary sibling folder and renamed into place
(:func:`sigbench.atomic.atomic_dir`), so a crash never leaves a half-written bundle under the final name.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from sigbench.atomic import atomic_dir, atomic_write_text
from sigbench.data import preprocess
from sigbench.data.synthetic import CANVAS_SIZE as SYNTHETIC_CANVAS

FORMAT = "sigbench-service-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
ROLES = ("extractor", "detector", "cleaner")
NEGATIVES = "negatives.npz"
CALIBRATION_DIR = "calibration"
MODES = ("distance", "wd_svm")


class BundleError(ValueError):
    """A bundle (or a file going into one) is missing, of the wrong kind, or inconsistent; names the file."""


@dataclass(frozen=True)
class Preprocessing:
    """How an input image becomes the extractor's input (the extractor's own training settings).

    ``ink_long_side``: signatures cut from pages come at page resolution, training signatures at scan
    resolution; every input is resized so that its ink's longer side has this many pixels before the
    SigNet normalisation (``None``: inputs are used at their own scale, as the bench does).
    ``stretch_contrast``: the same signature pasted in light grey or in black ink embeds differently (the
    extractor sees stroke intensity); every input's grey levels are stretched so that its darkest ink
    (1st percentile) becomes black and its paper (median) white.
    """

    canvas_size: tuple[int, int]
    img_size: tuple[int, int]
    input_size: tuple[int, int]
    ink_long_side: int | None = None
    stretch_contrast: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessing:
        return cls(
            tuple(data["canvas_size"]),
            tuple(data["img_size"]),
            tuple(data["input_size"]),
            data.get("ink_long_side"),
            bool(data.get("stretch_contrast", False)),
        )


@dataclass(frozen=True)
class Thresholds:
    """Two thresholds on one mode's score: ``score >= accept`` accepts, ``score < reject`` rejects, the
    band between is referred to a person. ``targets`` and ``report`` record how they were chosen."""

    accept: float
    reject: float
    targets: dict[str, float] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.reject <= self.accept:
            raise BundleError(f"thresholds: reject ({self.reject}) must be <= accept ({self.accept})")


@dataclass
class Calibration:
    """What calibration adds to a bundle: thresholds per mode, the WD negatives, DET plots (PNG per mode)."""

    thresholds: dict[str, Thresholds]
    negatives: np.ndarray | None = None
    det_png: dict[str, bytes] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------- hashing


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(files: dict[str, Path], prep: Preprocessing) -> str:
    """SHA-256 over each model file's role and bytes (in :data:`ROLES` order) and the preprocessing."""
    digest = hashlib.sha256(f"{FORMAT}/{FORMAT_VERSION}".encode())
    for role in ROLES:
        if role in files:
            digest.update(f"\n{role}:{file_sha256(files[role])}".encode())
    digest.update(("\n" + json.dumps(prep.to_dict(), sort_keys=True)).encode())
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------- checks


def preprocessing_of(config: dict[str, Any], ink_long_side: int | None = None) -> Preprocessing:
    """The preprocessing an extractor was trained with, read from the config its checkpoint carries.

    The canvas is the dataset's (synthetic writers: their own canvas), the resize target the dataset's
    ``img_size`` (170 x 242 by default) and the crop the data module's ``input_size``.
    """
    data = config.get("data") or {}
    dataset = data.get("dataset") or {}
    target = str(dataset.get("_target_", ""))
    synthetic = "synthetic" in target
    default_canvas = SYNTHETIC_CANVAS if synthetic else preprocess.DEFAULT_CANVAS
    if ink_long_side is None and synthetic:
        ink_long_side = default_ink_long_side()
    return Preprocessing(
        tuple(int(v) for v in dataset.get("canvas_size") or default_canvas),
        tuple(int(v) for v in dataset.get("img_size") or preprocess.DEFAULT_IMG_SIZE),
        tuple(int(v) for v in data.get("input_size") or preprocess.DEFAULT_INPUT_SIZE),
        ink_long_side,
        stretch_contrast=True,
    )


def default_ink_long_side() -> int:
    """Typical ink extent of a synthetic training scan, so page crops land at the training scale.

    Measured on writers 0..9 (3 genuine scans each): the ink's longer side spans 124-610 pixels of the
    640-pixel scan, median 394; 400 is that median, rounded.
    """
    return 400


def _check_role(role: str, task: Any, path: Path) -> None:
    from sigbench.cleaning.task import CleaningTask
    from sigbench.detection.task import DetectionTask
    from sigbench.features.tasks.base import FeatureTask

    expected = {"extractor": FeatureTask, "detector": DetectionTask, "cleaner": CleaningTask}[role]
    if not isinstance(task, expected):
        raise BundleError(
            f"{role}: {path} holds a {type(task).__name__}, expected a {expected.__name__} checkpoint"
        )


def _load_checked(role: str, path: str | Path) -> tuple[Any, dict]:
    from sigbench.runner.build import load_task

    path = Path(path)
    if not path.is_file():
        raise BundleError(f"{role}: {path} does not exist")
    try:
        task, config = load_task(path, map_location="cpu")
    except (ValueError, KeyError, RuntimeError) as exc:
        raise BundleError(f"{role}: {path} is not a loadable sigbench checkpoint ({exc})") from exc
    _check_role(role, task, path)
    return task, config


# --------------------------------------------------------------------------------------------- build


def build_bundle(
    out_dir: str | Path,
    extractor: str | Path,
    detector: str | Path | None = None,
    cleaner: str | Path | None = None,
    calibration: Calibration | None = None,
    preprocessing: Preprocessing | None = None,
    description: str = "",
) -> Path:
    """Write a bundle folder at ``out_dir`` (replacing an existing one atomically); returns its path.

    Every checkpoint is loaded once first, so a wrong file (a detector given as the extractor, a foreign
    checkpoint) fails here, naming it, rather than at the first verification.
    """
    sources = {"extractor": extractor, "detector": detector, "cleaner": cleaner}
    loaded = {role: _load_checked(role, path) for role, path in sources.items() if path is not None}
    configs = {role: config for role, (_, config) in loaded.items()}
    prep = preprocessing or preprocessing_of(configs["extractor"])
    dim = embedding_dim(loaded["extractor"][0], prep.input_size)
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        files = {}
        for role, path in sources.items():
            if path is not None:
                files[role] = tmp / f"{role}.ckpt"
                shutil.copyfile(path, files[role])
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "fingerprint": fingerprint(files, prep),
            "description": description,
            "models": {
                role: {
                    "file": files[role].name,
                    "sha256": file_sha256(files[role]),
                    "source": str(sources[role]),
                    "experiment": configs[role].get("name"),
                }
                for role in files
            },
            "preprocessing": prep.to_dict(),
            "embedding_dim": dim,
            "detector_geometry": _detector_geometry(configs.get("detector")),
            "thresholds": {},
        }
        if calibration is not None:
            _write_calibration(tmp, manifest, calibration)
        atomic_write_text(tmp / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    return out_dir


def embedding_dim(extractor: Any, input_size: tuple[int, int]) -> int:
    """Length of the extractor's embedding (one blank input through it)."""
    import torch

    with torch.no_grad():
        return int(extractor.eval().features(torch.zeros(1, 1, *input_size, dtype=torch.uint8)).shape[1])


def _detector_geometry(config: dict | None) -> dict[str, Any] | None:
    """Page size and tiling the detector was trained with (what ``sigbench-detect`` defaults to)."""
    if config is None:
        return None
    data = config.get("data") or {}
    return {
        "long_side": data.get("long_side", 1024),
        "tile_size": data.get("tile_size"),
        "tile_overlap": data.get("tile_overlap", 256) or 0,
    }


def _write_calibration(folder: Path, manifest: dict[str, Any], calibration: Calibration) -> None:
    for mode in calibration.thresholds:
        if mode not in MODES:
            raise BundleError(f"calibration: unknown mode {mode!r}; valid: {', '.join(MODES)}")
    manifest["thresholds"] = {mode: asdict(t) for mode, t in calibration.thresholds.items()}
    manifest["calibration"] = calibration.report
    if calibration.negatives is not None:
        negatives = np.ascontiguousarray(calibration.negatives, dtype=np.float32)
        buffer = io.BytesIO()
        np.savez(buffer, negatives=negatives)
        (folder / NEGATIVES).write_bytes(buffer.getvalue())
        manifest["negatives"] = {"file": NEGATIVES, "count": int(len(negatives))}
    if calibration.det_png:
        (folder / CALIBRATION_DIR).mkdir(exist_ok=True)
        manifest["det_plots"] = {}
        for mode, png in calibration.det_png.items():
            (folder / CALIBRATION_DIR / f"det_{mode}.png").write_bytes(png)
            manifest["det_plots"][mode] = f"{CALIBRATION_DIR}/det_{mode}.png"


def calibrate_bundle(path: str | Path, calibration: Calibration) -> Path:
    """Rewrite a bundle with new thresholds / negatives (same models, so the same fingerprint)."""
    bundle = load_bundle(path)
    files = bundle.model_files
    return build_bundle(
        bundle.path,
        files["extractor"],
        files.get("detector"),
        files.get("cleaner"),
        calibration,
        bundle.preprocessing,
        bundle.manifest.get("description", ""),
    )


# --------------------------------------------------------------------------------------------- load


@dataclass
class Bundle:
    """A loaded bundle: its manifest, with the models built on first use (CPU, eval mode)."""

    path: Path
    manifest: dict[str, Any]

    @property
    def fingerprint(self) -> str:
        return str(self.manifest["fingerprint"])

    @property
    def preprocessing(self) -> Preprocessing:
        return Preprocessing.from_dict(self.manifest["preprocessing"])

    @property
    def embedding_dim(self) -> int:
        return int(self.manifest["embedding_dim"])

    @property
    def model_files(self) -> dict[str, Path]:
        return {role: self.path / entry["file"] for role, entry in self.manifest["models"].items()}

    @property
    def has_detector(self) -> bool:
        return "detector" in self.manifest["models"]

    @property
    def has_cleaner(self) -> bool:
        return "cleaner" in self.manifest["models"]

    def thresholds(self, mode: str) -> Thresholds:
        """The calibrated thresholds of ``mode``; a clear error when the bundle was never calibrated."""
        if mode not in MODES:
            raise BundleError(f"mode {mode!r}: expected one of {', '.join(MODES)}")
        stored = self.manifest.get("thresholds", {}).get(mode)
        if stored is None:
            raise BundleError(
                f"{self.path}: no calibrated thresholds for mode {mode!r} "
                "(run `sigbench-service calibrate` or pass thresholds explicitly)"
            )
        return Thresholds(**stored)

    @cached_property
    def extractor(self) -> Any:
        """The extractor task (``.features(uint8 batch)`` gives embeddings)."""
        return _load_checked("extractor", self.model_files["extractor"])[0]

    @cached_property
    def detector(self) -> Any | None:
        """The detector network (``task.detector``), or ``None`` when the bundle has none."""
        if not self.has_detector:
            return None
        return _load_checked("detector", self.model_files["detector"])[0].detector.eval()

    @cached_property
    def cleaner(self) -> Any | None:
        """The cleaner network, or ``None`` when the bundle has none."""
        if not self.has_cleaner:
            return None
        return _load_checked("cleaner", self.model_files["cleaner"])[0].backbone.eval()

    @cached_property
    def negatives(self) -> np.ndarray | None:
        """Development writers' embeddings for the writer-dependent SVM, or ``None``."""
        entry = self.manifest.get("negatives")
        if entry is None:
            return None
        with np.load(self.path / entry["file"], allow_pickle=False) as data:
            return np.asarray(data["negatives"], dtype=np.float32)


def load_bundle(path: str | Path, verify: bool = True) -> Bundle:
    """Open a bundle folder; with ``verify`` the model files are re-hashed against the manifest.

    Errors name the folder / file: not a bundle, a newer format, a model file changed since it was built.
    """
    path = Path(path)
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise BundleError(f"bundle: {path} has no {MANIFEST} (not a bundle folder)")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BundleError(f"bundle: {manifest_path} is not valid JSON ({exc})") from exc
    if manifest.get("format") != FORMAT:
        raise BundleError(f"bundle: {manifest_path} is not a {FORMAT} manifest")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise BundleError(
            f"bundle: {manifest_path} has format version {version}; this sigbench reads <= {FORMAT_VERSION}"
        )
    if "extractor" not in manifest.get("models", {}):
        raise BundleError(f"bundle: {manifest_path} lists no extractor")
    bundle = Bundle(path, manifest)
    if verify:
        for role, file in bundle.model_files.items():
            if not file.is_file():
                raise BundleError(f"bundle: {file} ({role}) is missing")
            if file_sha256(file) != manifest["models"][role]["sha256"]:
                raise BundleError(f"bundle: {file} ({role}) changed since the bundle was built")
    return bundle
