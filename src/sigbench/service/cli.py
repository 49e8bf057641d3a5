"""``sigbench-service``: bundles, enrolment, verification, identification and search from the shell.

Every command prints a short readable answer, or with ``--json`` one JSON document for scripts. Errors
(a missing file, an unknown identity, a store made with another model) print one line naming the file or
option and exit with status 2.

    sigbench-service bundle --out demo.bundle --extractor ext.ckpt --detector det.ckpt --cleaner cln.ckpt
    sigbench-service calibrate --bundle demo.bundle
    sigbench-service calibrate --bundle demo.bundle --data mine.npz --development 0:10 --held-out 10:15
    sigbench-service enrol --bundle demo.bundle --store s.db alice form1.pdf --propose
    sigbench-service enrol --bundle demo.bundle --store s.db alice form1.pdf --keep 0 --name "Alice A."
    sigbench-service verify --bundle demo.bundle --store s.db alice cheque.png --mode wd_svm
    sigbench-service identify --bundle demo.bundle --store s.db contract.pdf
    sigbench-service search --bundle demo.bundle --store s.db --signed-by alice
    sigbench-service search --bundle demo.bundle --store s.db --document contract.pdf
    sigbench-service list | delete | re-embed | export ...
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sigbench.service.bundle import MODES, BundleError
from sigbench.service.pipeline import KINDS

EXIT_ERROR = 2


class CommandError(Exception):
    """A usage error to report in one line (exit status 2)."""


# --------------------------------------------------------------------------------------------- helpers


def _writers(text: str) -> range:
    try:
        first, last = (int(v) for v in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected FIRST:LAST (writer ids, LAST excluded), got {text!r}"
        ) from None
    if not 0 <= first < last:
        raise argparse.ArgumentTypeError(f"expected 0 <= FIRST < LAST, got {text!r}")
    return range(first, last)


def _indices(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated indices such as 0,2, got {text!r}"
        ) from None


def _open(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """(bundle, pipeline, store) for commands that embed and use the store."""
    from sigbench.service.bundle import load_bundle
    from sigbench.service.pipeline import Pipeline

    bundle = load_bundle(args.bundle)
    pipeline = Pipeline.from_bundle(
        bundle,
        clean=not getattr(args, "no_clean", False),
        score_threshold=getattr(args, "score_threshold", 0.5),
    )
    return bundle, pipeline, _store(args, bundle)


def _store(args: argparse.Namespace, bundle: Any) -> Any:
    from sigbench.service.store import open_store

    return open_store(str(args.store), bundle.fingerprint, bundle.embedding_dim)


def _plain_store(args: argparse.Namespace) -> Any:
    """The store as it is (its own fingerprint): listing, deleting and exporting need no model."""
    from sigbench.service.store import open_store

    if not Path(args.store).is_file():
        raise CommandError(f"--store: {args.store} does not exist")
    return open_store(str(args.store))


def _read(pipeline: Any, inputs: Sequence[str], kind: str) -> list[Any]:
    documents = []
    for item in inputs:
        documents.extend(pipeline.read(item, kind))
    return documents


def _emit(args: argparse.Namespace, payload: Any, lines: Sequence[str]) -> None:
    if args.json:
        print(json.dumps(payload, indent=1, default=str))
    else:
        print("\n".join(lines))


# --------------------------------------------------------------------------------------------- commands


def cmd_bundle(args: argparse.Namespace) -> None:
    from sigbench.service.bundle import build_bundle, load_bundle

    path = build_bundle(args.out, args.extractor, args.detector, args.cleaner, description=args.description)
    bundle = load_bundle(path)
    payload = {"bundle": str(path), "fingerprint": bundle.fingerprint, "models": list(bundle.model_files)}
    _emit(
        args,
        payload,
        [
            f"bundle {path}",
            f"  fingerprint {bundle.fingerprint}",
            f"  models {', '.join(bundle.model_files)}",
        ],
    )


#: The synthetic writers ``calibrate`` chooses on without ``--data`` (options default to None so that one
#: given together with ``--data`` is refused instead of silently ignored).
SYNTHETIC_CALIBRATION: dict[str, Any] = {
    "--dev-writers": range(100, 125),
    "--held-out-writers": range(125, 150),
    "--negative-writers": range(0, 100),
    "--genuine": 10,
    "--forgeries": 5,
}


def cmd_calibrate(args: argparse.Namespace) -> None:
    from sigbench.service.bundle import calibrate_bundle, load_bundle
    from sigbench.service.calibrate import calibrate, report_lines, synthetic_labelled
    from sigbench.service.pipeline import Pipeline

    chosen = {"--development": args.development, "--held-out": args.held_out, "--negatives": args.negatives}
    if args.data is None and any(v is not None for v in chosen.values()):
        given = [name for name, value in chosen.items() if value is not None]
        raise CommandError(f"{', '.join(given)} select writers of a labelled set: give it with --data PATH")
    synthetic_given = [o for o in SYNTHETIC_CALIBRATION if getattr(args, o[2:].replace("-", "_")) is not None]
    if args.data is not None and synthetic_given:
        raise CommandError(f"{', '.join(synthetic_given)} choose synthetic writers: not used with --data")
    if args.data is not None and (args.development is None or args.held_out is None):
        raise CommandError("--data needs --development FIRST:LAST and --held-out FIRST:LAST (writer indices)")
    pipeline = Pipeline.from_bundle(load_bundle(args.bundle))
    modes: tuple[str, ...] = tuple(MODES)
    notes = []
    if args.data is not None:
        from sigbench.service.labelled import WriterRanges, select

        ranges = WriterRanges(args.development, args.held_out, args.negatives)
        sets = select(pipeline, args.data, ranges, args.n_ref)
        development, held_out, negatives = sets.development, sets.held_out, sets.negatives
        if negatives is None:
            modes = ("distance",)
            notes.append("wd_svm: not calibrated (it needs WD negatives: --negatives FIRST:LAST)")
    else:
        option = {o: getattr(args, o[2:].replace("-", "_")) for o in SYNTHETIC_CALIBRATION}
        option = {o: d if option[o] is None else option[o] for o, d in SYNTHETIC_CALIBRATION.items()}
        genuine, forgeries = option["--genuine"], option["--forgeries"]
        development = synthetic_labelled(pipeline, option["--dev-writers"], genuine, forgeries)
        held_out = synthetic_labelled(pipeline, option["--held-out-writers"], genuine, forgeries)
        negatives = synthetic_labelled(pipeline, option["--negative-writers"], 2, 0).embeddings
    calibration = calibrate(
        development, held_out, negatives, args.n_ref, args.target_far, args.target_frr, modes=modes
    )
    calibrate_bundle(args.bundle, calibration)
    thresholds = {m: {"accept": t.accept, "reject": t.reject} for m, t in calibration.thresholds.items()}
    lines = [f"{m}: accept >= {t['accept']:.4f}, reject < {t['reject']:.4f}" for m, t in thresholds.items()]
    payload = {"thresholds": thresholds, "report": calibration.report, "notes": notes}
    _emit(args, payload, lines + report_lines(calibration) + notes)


def cmd_enrol(args: argparse.Namespace) -> None:
    from sigbench.service.enrol import enrol, propose, select

    bundle, pipeline, store = _open(args)
    with store:
        documents = _read(pipeline, args.inputs, args.kind)
        if args.propose:
            offered = [p for d in documents for p in propose(d)]
            for index, item in enumerate(offered):
                item["index"] = index
            lines = [
                f"[{p['index']}] {p['document_name']} page {p['page']} box {p['box']} "
                f"score {p['detector_score']}"
                for p in offered
            ]
            _emit(
                args,
                {"proposed": offered},
                [*lines, "keep some with --keep 0,2,..."] if lines else ["no signature found"],
            )
            return
        chosen = select(documents, args.keep)
        if not chosen:
            raise CommandError(f"inputs {list(args.inputs)}: no signature found to enrol")
        result = enrol(
            store, bundle, args.id, chosen, args.name, {}, args.min_references, args.actor, documents
        )
    lines = [f"{args.id}: {result.status}, {result.n_references} references (added {result.added})"]
    lines += [f"  refused: {r}" for r in result.refused]
    if result.reason:
        lines.append(f"  {result.reason}")
    if result.consistency and result.consistency.loo_scores:
        lines.append(f"  consistency {result.consistency.score:.3f}, outliers {result.consistency.outliers}")
    _emit(args, result.to_dict(), lines)


def cmd_verify(args: argparse.Namespace) -> None:
    from sigbench.service.identify import store_document
    from sigbench.service.verify import verify

    bundle, pipeline, store = _open(args)
    with store:
        documents = _read(pipeline, args.inputs, args.kind)
        decisions = []
        for document in documents:
            store_document(store, bundle, document)
            decisions += verify(
                store,
                bundle,
                args.id,
                document.signatures,
                args.mode,
                args.actor,
                require_enrolled=not args.allow_pending,
            )
    lines = [
        f"{d.query['document_name']} page {d.query['page']}: {d.outcome.upper()} "
        f"({d.mode} score {d.score:.4f}; accept >= {d.accept_threshold:.4f}, "
        f"reject < {d.reject_threshold:.4f}; best reference {d.best_reference_id})"
        for d in decisions
    ] or ["no signature found"]
    _emit(args, [d.to_dict() for d in decisions], lines)


def _identification_lines(results: Sequence[Any]) -> list[str]:
    lines = []
    for r in results:
        top = ", ".join(f"{c.external_id} {c.score:.4f}" for c in r.candidates) or "-"
        reason = f" ({r.reason})" if r.reason else ""
        lines.append(
            f"{r.query['document_name']} page {r.query['page']} {r.query['box']}: "
            f"{r.answer}{reason}; top: {top}"
        )
    return lines or ["no signature found"]


def cmd_identify(args: argparse.Namespace) -> None:
    from sigbench.service.identify import identify

    bundle, pipeline, store = _open(args)
    with store:
        queries = [s for d in _read(pipeline, args.inputs, args.kind) for s in d.signatures]
        results = identify(store, bundle, queries, args.k, args.threshold, args.margin, actor=args.actor)
    _emit(args, [r.to_dict() for r in results], _identification_lines(results))


def cmd_search(args: argparse.Namespace) -> None:
    from sigbench.service.identify import documents_signed_by, store_document, who_signed

    bundle, pipeline, store = _open(args)
    with store:
        if args.signed_by:
            hits = documents_signed_by(store, bundle, args.signed_by, args.threshold)
            lines = [
                f"{h.document_name} page {h.page} box {[round(v) for v in h.box]} "
                f"score {h.score:.4f} ({h.outcome})"
                for h in hits
            ] or [f"no stored document matches {args.signed_by}"]
            _emit(args, [h.__dict__ for h in hits], lines)
            return
        results = []
        for document in _read(pipeline, [args.document], args.kind):
            store_document(store, bundle, document)
            results += who_signed(store, bundle, document, args.k, args.threshold, actor=args.actor)
    _emit(args, [r.to_dict() for r in results], _identification_lines(results))


def cmd_list(args: argparse.Namespace) -> None:
    with _plain_store(args) as store:
        identities = store.list_identities(args.offset, args.limit, args.status)
        total = store.count_identities(args.status)
    lines = [f"{i.external_id}\t{i.status}\t{i.n_references} refs\t{i.name}" for i in identities]
    _emit(
        args,
        {"total": total, "identities": [i.__dict__ for i in identities]},
        [*lines, f"({len(identities)} of {total})"],
    )


def cmd_delete(args: argparse.Namespace) -> None:
    from sigbench.service.enrol import recheck

    with _plain_store(args) as store:
        if args.reference is not None:
            if args.bundle is None:
                raise CommandError("delete --reference: --bundle is needed to re-check the identity's status")
            from sigbench.service.bundle import load_bundle

            bundle = load_bundle(args.bundle)
            reference = store.get_reference(args.reference)
            store.delete_reference(args.reference)
            status = recheck(store, bundle, reference.external_id, args.min_references, args.actor).status
            store.log_event(
                "delete_reference",
                args.actor,
                {"reference_id": args.reference, "external_id": reference.external_id},
            )
            _emit(
                args,
                {"deleted_reference": args.reference, "status": status},
                [f"reference {args.reference} deleted; {reference.external_id} is {status}"],
            )
            return
        removed = store.delete_identity(args.id)
        store.log_event("delete_identity", args.actor, {"external_id": args.id, "references": removed})
    _emit(args, {"deleted": args.id, "references": removed}, [f"{args.id} deleted with {removed} references"])


def cmd_reembed(args: argparse.Namespace) -> None:
    from sigbench.service.reembed import reembed

    report = reembed(args.store, args.bundle, args.actor)
    _emit(
        args,
        report,
        [
            f"re-embedded {report['references']} references and {report['detections']} detections: "
            f"{report['old']} -> {report['new']}"
        ],
    )


def cmd_export(args: argparse.Namespace) -> None:
    with _plain_store(args) as store:
        out = {"fingerprint": store.fingerprint, "identities": []}
        offset = 0
        while chunk := store.list_identities(offset, 1000):
            offset += len(chunk)
            for identity in chunk:
                entry = {k: v for k, v in identity.__dict__.items()}
                entry["references"] = [
                    {
                        "id": r.id,
                        "pixel_sha256": r.pixel_sha256,
                        "provenance": r.provenance,
                        "created_at": r.created_at,
                    }
                    for r in store.list_references(identity.external_id)
                ]
                out["identities"].append(entry)
    text = json.dumps(out, indent=1, default=str) + "\n"
    if args.out:
        from sigbench.atomic import atomic_write_text

        atomic_write_text(args.out, text)
        count = len(out["identities"])
        _emit(args, {"exported": count, "out": str(args.out)}, [f"exported {count} identities to {args.out}"])
    else:
        sys.stdout.write(text)


def cmd_api(args: argparse.Namespace) -> None:
    from sigbench.service.api.commands import COMMANDS

    status = COMMANDS[args.command](args.args)
    if status:
        raise SystemExit(status)


# --------------------------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sigbench-service", description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(
        name: str, func: Any, help_text: str, store: bool = True, bundle: bool = True
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        if store:
            p.add_argument(
                "--bundle", type=Path, required=bundle, help="bundle folder (sigbench-service bundle)"
            )
            p.add_argument("--store", type=Path, required=True, help="store file (SQLite; created when new)")
            p.add_argument("--actor", default="cli", help="who is asking (written to the audit log)")
        return p

    def inputs(p: argparse.ArgumentParser, many: bool = True) -> None:
        p.add_argument(
            "inputs", nargs="+" if many else 1, help="signature images, page images, PDFs or folders"
        )
        p.add_argument(
            "--kind",
            choices=KINDS,
            default="auto",
            help="signature crop or page (auto: PDFs and, with a detector, images are pages)",
        )
        p.add_argument("--score-threshold", type=float, default=0.5, help="detector score a box needs")
        p.add_argument("--no-clean", action="store_true", help="skip the bundle's cleaner")

    p = command("bundle", cmd_bundle, "build a bundle from checkpoints", store=False)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--extractor", type=Path, required=True)
    p.add_argument("--detector", type=Path)
    p.add_argument("--cleaner", type=Path)
    p.add_argument("--description", default="")

    p = command(
        "calibrate",
        cmd_calibrate,
        "choose thresholds on development writers: your labelled set (--data) or synthetic writers",
        store=False,
    )
    p.add_argument("--bundle", type=Path, required=True)
    p.add_argument(
        "--data", type=Path, help="labelled signature set (npz or folder made by sigbench-prepare)"
    )
    p.add_argument(
        "--development", type=_writers, metavar="FIRST:LAST", help="with --data: writers to choose on"
    )
    p.add_argument(
        "--held-out", type=_writers, metavar="FIRST:LAST", help="with --data: writers to report on"
    )
    p.add_argument(
        "--negatives",
        type=_writers,
        metavar="FIRST:LAST",
        help="with --data: writers whose genuine signatures are the WD-SVM negatives (else distance only)",
    )
    synthetic = "synthetic writers (without --data)"
    for option, default in SYNTHETIC_CALIBRATION.items():
        p.add_argument(
            option, type=int if isinstance(default, int) else _writers, help=f"{synthetic}, default {default}"
        )
    p.add_argument("--n-ref", type=int, default=5)
    p.add_argument("--target-far", type=float, default=0.01)
    p.add_argument("--target-frr", type=float, default=0.01)

    p = command("enrol", cmd_enrol, "add reference signatures to an identity")
    p.add_argument("id", help="the identity's external id")
    inputs(p)
    p.add_argument("--name", default="")
    p.add_argument("--propose", action="store_true", help="only list the signatures found, numbered")
    p.add_argument("--keep", type=_indices, help="indices (from --propose) to keep; default all")
    p.add_argument("--min-references", type=int, default=3)

    p = command("verify", cmd_verify, "verify questioned signatures / documents against one identity")
    p.add_argument("id")
    inputs(p)
    p.add_argument("--mode", choices=MODES, default="distance")
    p.add_argument("--allow-pending", action="store_true", help="verify against an identity not yet enrolled")

    p = command("identify", cmd_identify, "who signed? top-k identities per signature")
    inputs(p)
    p.add_argument("-k", type=int, default=5)
    p.add_argument("--threshold", type=float)
    p.add_argument("--margin", type=float, default=0.02)

    p = command("search", cmd_search, "documents signed by an identity, or who signed a document")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--signed-by", metavar="ID")
    group.add_argument("--document", metavar="PATH")
    p.add_argument("--kind", choices=KINDS, default="page")
    p.add_argument("--score-threshold", type=float, default=0.5)
    p.add_argument("-k", type=int, default=3)
    p.add_argument("--threshold", type=float)

    p = command("list", cmd_list, "list identities", bundle=False)
    p.add_argument("--status", choices=("pending", "enrolled"))
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--limit", type=int, default=100)

    p = command("delete", cmd_delete, "delete an identity (all its data) or one reference", bundle=False)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--id")
    target.add_argument("--reference", type=int)
    p.add_argument("--min-references", type=int, default=3)

    p = command("re-embed", cmd_reembed, "re-embed every stored crop with a new bundle")

    p = command("export", cmd_export, "identities and references metadata as JSON", bundle=False)
    p.add_argument("--out", type=Path)

    # the HTTP service's commands parse their own options (sigbench.service.api.commands)
    for name, text in (("serve", "run the HTTP API and web page"), ("keys", "manage the API keys")):
        p = sub.add_parser(name, help=text, add_help=False, prefix_chars="+")
        p.add_argument("args", nargs=argparse.REMAINDER)
        p.set_defaults(func=cmd_api)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from sigbench.service.store.base import StoreError

    try:
        args.func(args)
    except (CommandError, BundleError, StoreError, FileNotFoundError, ValueError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"sigbench-service {args.command}: {message}", file=sys.stderr)
        return EXIT_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
