"""``make demo``: a small demo bundle from the built-in synthetic data, then a scripted service session.

Stages, each cached (delete a folder to redo it), each timed, the times printed at the end:

1. ``models/{extractor,detector,cleaner}``: the existing experiments, shortened to fit a 2-core CPU --
   ``quickstart`` (SigNet-thin on synthetic writers 0..100) trained SigNet-F style on the writers' skilled
   forgeries too (lambda 0.5) for 3 epochs of as many steps as its genuine signatures alone make, without
   the WD / WI evaluation; ``aossig_detection_fasterrcnn_cpu`` on 200 synthesised pages for 6 epochs of 60
   steps; ``signver_cleaner_cpu`` as it is. They train at once, each in its own process with one thread
   (:data:`CHAINS`), their output prefixed with their role. The extractor and the cleaner read the
   quickstart population of synthetic writers from the cache ``make run`` uses (``outputs/.cache``: the
   same file, made by whichever comes first). The calibration's page crops (``calibration/crops.npz``)
   need no model: they are made on the core the extractor leaves free;
2. ``bundle``: the three checkpoints as one bundle, calibrated on synthetic writers 100..140 (thresholds
   for FAR(skilled) <= 1 % and FRR <= 1 %) with the rates on writers 170..190 reported beside them;
3. the session (always re-run, in a fresh store): synthesised pages signed by writers 150..153 are enrolled
   (the detected signature of each page is kept), then their held-out genuine signatures and skilled
   forgeries are verified in both modes, a never-enrolled writer's page is identified, and the documents
   signed by one of them are listed.

    python scripts/demo.py [--out outputs/demo] [--cache-dir outputs/.cache] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]

TRAINING = {
    "extractor": [
        "experiment=quickstart",
        # SigNet-F: writer classes plus "is this a skilled forgery?"; lambda 0.5 weighs them equally
        "data.include_forgeries=true",
        "loss=signet_f",
        "loss.lamb=0.5",
        # the steps of one pass over the genuine training signatures (100 writers x 21, batches of 32), so
        # the forgeries cost no extra time: each epoch draws a shuffled two thirds of the larger set
        "+trainer.limit_train_batches=66",
        "trainer.max_epochs=3",
        "scheduler.milestones=[2]",
        "evaluation=null",
        "name=demo_extractor",
    ],
    "detector": [
        "experiment=aossig_detection_fasterrcnn_cpu",
        "data.source.num_pages=200",
        "trainer.max_epochs=6",
        "trainer.limit_train_batches=60",
        "scheduler.milestones=[4]",
        "name=demo_detector",
    ],
    "cleaner": ["experiment=signver_cleaner_cpu", "name=demo_cleaner"],
}
# Processes running at once (one per core); the jobs of one chain run one after another. The detector
# (page synthesis, then the longest training) starts first so the extractor, in the other chain, has made
# the synthetic writers' cache file by the time the cleaner needs it; the calibration crops follow the
# extractor. On the shared 2-core machine (docs/service.md) the two chains ended 160 s apart; with
# extractor | cleaner + detector, one core had waited 320 s (the machine's load moved both figures).
CHAINS = (("extractor", "crops"), ("detector", "cleaner"))
JOBS = (*TRAINING, "crops")
ENROLLED = (150, 151, 152, 153)
STRANGER = 160
PAGES_PER_WRITER = 4  # genuine samples 0..3 go on enrolment pages
# Calibration writers (none trains a model; none is enrolled or the stranger). 40 development writers with
# 4 references (as many as the session enrols), 3 genuine queries and 4 skilled forgeries each give 120
# genuine and 160 skilled-forgery scores: FAR <= 1 % then allows one accepted forgery and FRR <= 1 % one
# rejected genuine -- the least for the thresholds to be more than the extreme scores. 20 held-out writers
# report the rates; writers 0..100 (one signature each) are the WD-SVM's negatives.
DEVELOPMENT = range(100, 140)
HELD_OUT = range(170, 190)
NEGATIVES = range(0, 100)
GENUINE, FORGERIES = PAGES_PER_WRITER + 3, 4
CROP_SETS = {
    "development": (DEVELOPMENT, GENUINE, FORGERIES),
    "held_out": (HELD_OUT, GENUINE, FORGERIES),
    "negatives": (NEGATIVES, 1, 0),
}
CropSet = tuple[list[np.ndarray], np.ndarray, np.ndarray]


def compose_role(role: str, out: Path, cache_dir: Path):
    """The Hydra config of one demo model (the experiment plus :data:`TRAINING`'s overrides)."""
    from hydra import compose, initialize_config_dir

    from sigbench.runner.conf import conf_dir
    from sigbench.runner.schema import register_schemas

    register_schemas()
    overrides = [
        *TRAINING[role],
        f"paths.root_dir={ROOT}",
        f"paths.output_dir={out / 'models' / role}",
        f"paths.cache_dir={cache_dir}",
    ]
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        return compose("train", overrides=overrides)


def checkpoint(out: Path, role: str) -> Path:
    return out / "models" / role / "checkpoints" / "last.ckpt"


def train_model(role: str, out: Path, cache_dir: Path) -> Path:
    """Train one model with the experiment's config (in this process)."""
    from sigbench.runner.train import train

    folder = out / "models" / role
    if folder.exists():
        shutil.rmtree(folder)  # an interrupted run: start again
    started = time.perf_counter()
    train(compose_role(role, out, cache_dir))
    ckpt = checkpoint(out, role)
    print(f"[demo] {role}: trained in {time.perf_counter() - started:.0f} s -> {ckpt}", flush=True)
    return ckpt


def crops_path(out: Path) -> Path:
    return out / "calibration" / "crops.npz"


def crops_spec() -> str:
    return json.dumps({name: [list(w), g, f] for name, (w, g, f) in CROP_SETS.items()})


def make_crops(out: Path, jobs: int) -> dict[str, CropSet]:
    """The calibration sets' page crops (:data:`CROP_SETS`), saved to :func:`crops_path`."""
    from sigbench.atomic import atomic_write
    from sigbench.service.calibrate import synthetic_crops

    started = time.perf_counter()
    sets = {name: synthetic_crops(w, g, f, n_jobs=jobs) for name, (w, g, f) in CROP_SETS.items()}
    arrays: dict[str, np.ndarray] = {"spec": np.array(crops_spec())}
    for name, (images, y, yforg) in sets.items():
        arrays.update({f"{name}_y": y, f"{name}_yforg": yforg})
        arrays.update({f"{name}_image_{i}": image for i, image in enumerate(images)})
    path = crops_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: np.savez(f, **arrays))
    count = sum(len(y) for _, y, _ in sets.values())
    print(f"[demo] crops: {count} page crops in {time.perf_counter() - started:.0f} s -> {path}", flush=True)
    return sets


def load_crops(out: Path, jobs: int) -> dict[str, CropSet]:
    """The saved calibration crops if they were made for today's :data:`CROP_SETS`, else new ones."""
    path = crops_path(out)
    if path.is_file():
        with np.load(path, allow_pickle=False) as saved:
            if str(saved["spec"]) == crops_spec():
                sets = {}
                for name in CROP_SETS:
                    y, yforg = saved[f"{name}_y"], saved[f"{name}_yforg"]
                    sets[name] = ([saved[f"{name}_image_{i}"] for i in range(len(y))], y, yforg)
                return sets
        print(f"[demo] crops: {path} was made for other calibration writers; making them again")
    return make_crops(out, jobs)


def train_models(out: Path, cache_dir: Path, jobs: int, times: dict[str, float]) -> dict[str, Path]:
    """Train the models without a checkpoint (and make the calibration crops), :data:`CHAINS` at once,
    one thread per process."""
    from sigbench.concurrent_jobs import Job, run_chains

    missing = [role for role in TRAINING if not checkpoint(out, role).is_file()]
    for role in TRAINING:
        if role not in missing:
            print(f"[demo] {role}: cached {checkpoint(out, role)}")
    if missing:
        if not crops_path(out).is_file():
            missing.append("crops")
        argv = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--out",
            str(out),
            "--cache-dir",
            str(cache_dir),
        ]
        chains = [[Job(r, [*argv, "--job", r]) for r in chain if r in missing] for chain in CHAINS]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        started = time.perf_counter()
        seconds = run_chains([c for c in chains if c], env=env)
        times["training (+ crops)"] = time.perf_counter() - started
        times.update({f"  {role}": value for role, value in seconds.items()})
    return {role: checkpoint(out, role) for role in TRAINING}


def build_demo_bundle(out: Path, models: dict[str, Path], jobs: int) -> Path:
    from sigbench.service.bundle import build_bundle, calibrate_bundle, load_bundle
    from sigbench.service.calibrate import Labelled, calibrate, report_lines
    from sigbench.service.pipeline import Pipeline

    path = out / "bundle"
    if (path / "manifest.json").is_file():
        print(f"[demo] bundle: cached {path}")
        return path
    started = time.perf_counter()
    build_bundle(path, models["extractor"], models["detector"], models["cleaner"], description="make demo")
    pipeline = Pipeline.from_bundle(load_bundle(path))
    crops = load_crops(out, jobs)
    embedded = {name: Labelled(pipeline.embed_crops(im), y, yforg) for name, (im, y, yforg) in crops.items()}
    calibration = calibrate(
        embedded["development"],
        embedded["held_out"],
        embedded["negatives"].embeddings,
        n_ref=PAGES_PER_WRITER,
    )
    calibrate_bundle(path, calibration)
    print(f"[demo] bundle: built and calibrated in {time.perf_counter() - started:.0f} s -> {path}")
    for line in report_lines(calibration):
        print(f"[demo]   {line}")
    return path


def write_pages(folder: Path) -> dict[str, list[Path]]:
    """Enrolment pages (one genuine signature each), questioned pages, the stranger's page."""
    from sigbench.service.synthetic import Signed, signed_page

    folder.mkdir(parents=True, exist_ok=True)
    pages: dict[str, list[Path]] = {}

    def save(name: str, signatures: list[Signed], index: int) -> Path:
        path = folder / f"{name}.png"
        if not path.is_file():
            cv2.imwrite(str(path), signed_page(signatures, index, seed=7).image[:, :, ::-1])
        return path

    index = 0
    for writer in ENROLLED:
        pages[f"enrol_{writer}"] = []
        for sample in range(PAGES_PER_WRITER):
            pages[f"enrol_{writer}"].append(save(f"enrol_{writer}_{sample}", [Signed(writer, sample)], index))
            index += 1
        pages[f"genuine_{writer}"] = [save(f"genuine_{writer}", [Signed(writer, 10)], index)]
        pages[f"forgery_{writer}"] = [save(f"forgery_{writer}", [Signed(writer, 0, True)], index + 1)]
        index += 2
    pages["stranger"] = [save("stranger", [Signed(STRANGER, 0)], index)]
    return pages


def session(bundle_path: Path, store_path: Path, pages_dir: Path) -> None:
    from sigbench.service.bundle import load_bundle
    from sigbench.service.enrol import enrol
    from sigbench.service.identify import documents_signed_by, identify, store_document
    from sigbench.service.pipeline import Pipeline
    from sigbench.service.store import open_store
    from sigbench.service.verify import verify

    bundle = load_bundle(bundle_path)
    pipeline = Pipeline.from_bundle(bundle, score_threshold=0.3)
    for suffix in ("", "-wal", "-shm", ".faiss", ".index"):
        Path(f"{store_path}{suffix}").unlink(missing_ok=True)
    store_path.parent.mkdir(parents=True, exist_ok=True)
    pages = write_pages(pages_dir)
    with open_store(str(store_path), bundle.fingerprint, bundle.embedding_dim) as store:
        print("\n== enrol: the best detection of each page is kept as a reference")
        for writer in ENROLLED:
            documents = [pipeline.read_file(p, kind="page") for p in pages[f"enrol_{writer}"]]
            chosen = [
                max(d.signatures, key=lambda s: s.provenance.detector_score)
                for d in documents
                if d.signatures
            ]
            missed = [d.name for d in documents if not d.signatures]
            result = enrol(
                store,
                bundle,
                f"W{writer}",
                chosen,
                name=f"writer {writer}",
                actor="demo",
                documents=documents,
            )
            outliers = result.consistency.outliers if result.consistency else []
            note = f" (no signature found on {', '.join(missed)})" if missed else ""
            print(
                f"  W{writer}: {result.n_references} references -> {result.status}"
                f"{'' if not result.reason else ' (' + result.reason + ')'}; outliers {outliers}{note}"
            )
        print("\n== verify: held-out genuine signatures and skilled forgeries against their claimed writer")
        for writer in ENROLLED:
            for kind in ("genuine", "forgery"):
                document = pipeline.read_file(pages[f"{kind}_{writer}"][0], kind="page")
                store_document(store, bundle, document)
                if not document.signatures:
                    print(f"  W{writer} {kind:8s}: no signature detected on {document.name}")
                    continue
                for mode in ("distance", "wd_svm"):
                    (decision, *_) = verify(
                        store,
                        bundle,
                        f"W{writer}",
                        document.signatures[:1],
                        mode=mode,
                        actor="demo",
                        require_enrolled=False,
                    )
                    print(
                        f"  W{writer} {kind:8s} {mode:8s}: {decision.outcome:6s} score {decision.score:+.3f} "
                        f"(accept >= {decision.accept_threshold:+.3f}, "
                        f"reject < {decision.reject_threshold:+.3f}) "
                        f"best reference {decision.best_reference_id}"
                    )
        print("\n== identify: who signed these pages?")
        for key in (f"genuine_{ENROLLED[0]}", f"genuine_{ENROLLED[2]}", "stranger"):
            document = pipeline.read_file(pages[key][0], kind="page")
            for result in identify(
                store, bundle, document.signatures, k=3, actor="demo", enrolled_only=False
            ):
                top = ", ".join(f"{c.external_id} {c.score:.3f}" for c in result.candidates)
                print(f"  {document.name}: {result.answer} [{top}] {result.reason}")
        print(f"\n== search: documents signed by W{ENROLLED[1]} (accept or refer)")
        for hit in documents_signed_by(store, bundle, f"W{ENROLLED[1]}"):
            print(
                f"  {hit.document_name} page {hit.page} box {[round(v) for v in hit.box]} "
                f"score {hit.score:.3f} ({hit.outcome})"
            )
        print(f"\n[demo] audit log: {store.count_audit()} events; store {store_path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "demo")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=ROOT / "outputs" / ".cache",
        help="generated data (shared with make run)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=2,
        help="processes for the calibration crops (when not made during training)",
    )
    parser.add_argument("--train-only", action="store_true", help="stop after training the three models")
    parser.add_argument("--job", choices=JOBS, help=argparse.SUPPRESS)  # one child process
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be >= 1, got {args.jobs}")
    if args.job == "crops":
        make_crops(args.out, jobs=1)
    elif args.job:
        train_model(args.job, args.out, args.cache_dir)
    if args.job:
        return 0
    times: dict[str, float] = {}
    started = time.perf_counter()
    models = train_models(args.out, args.cache_dir, args.jobs, times)
    if not args.train_only:
        stage = time.perf_counter()
        bundle = build_demo_bundle(args.out, models, args.jobs)
        times["bundle + calibration"] = time.perf_counter() - stage
        stage = time.perf_counter()
        session(bundle, args.out / "session" / "store.db", args.out / "session" / "pages")
        times["session"] = time.perf_counter() - stage
    times["total"] = time.perf_counter() - started
    print("\n[demo] wall time per stage (cached stages take ~0 s):")
    for name, seconds in times.items():
        print(f"[demo]   {name:22s} {seconds:6.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
