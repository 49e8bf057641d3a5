"""``sigbench-service serve`` and ``sigbench-service keys``: run the HTTP service, manage its API keys.

sigbench-service keys add reviewer --role enrol --keys-file keys.json   # prints the key, once
sigbench-service keys list --keys-file keys.json
sigbench-service keys revoke reviewer --keys-file keys.json
sigbench-service serve --bundle outputs/demo/bundle --store service.db --keys-file keys.json
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .auth import ROLES, KeyRing, KeysError, describe
from .uploads import Limits

DEFAULT_LIMITS = Limits()


def keys_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sigbench-service keys", description="manage the service's API keys"
    )
    sub = parser.add_subparsers(dest="action", required=True)
    add = sub.add_parser("add", help="make a key (printed once; only its hash is stored)")
    add.add_argument("name", help="the key's name, written to the audit log with every decision")
    add.add_argument("--role", choices=ROLES, default="read")
    sub.add_parser("list", help="names, roles and creation times (no secrets)")
    revoke = sub.add_parser("revoke", help="remove a key (its sessions end at once)")
    revoke.add_argument("name")
    for p in sub.choices.values():
        p.add_argument(
            "--keys-file", type=Path, required=True, help="JSON file of hashed keys (created when new)"
        )
    return parser


def keys_main(argv: Sequence[str]) -> int:
    args = keys_parser().parse_args(argv)
    ring = KeyRing(args.keys_file)
    try:
        if args.action == "add":
            if not args.keys_file.parent.is_dir():
                raise KeysError(f"--keys-file: folder {args.keys_file.parent} does not exist")
            key = ring.add(args.name, args.role)
            print(key)
            print(f"(key {args.name!r}, role {args.role}: shown once, store it now)", file=sys.stderr)
        elif args.action == "list":
            for entry in describe(ring.list()):
                print(f"{entry['name']}\t{entry['role']}\t{entry['id']}\t{entry['created_at']}")
        else:
            ring.revoke(args.name)
            print(f"revoked {args.name}")
    except KeysError as exc:
        print(f"sigbench-service keys: {exc}", file=sys.stderr)
        return 2
    return 0


def serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sigbench-service serve", description="the HTTP API (/api/v1, docs at /docs) and the web page"
    )
    parser.add_argument("--bundle", type=Path, required=True, help="bundle folder")
    parser.add_argument("--store", required=True, help="store file (SQLite; created when new)")
    parser.add_argument("--keys-file", type=Path, required=True, help="API keys (sigbench-service keys add)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--max-bytes", type=int, default=DEFAULT_LIMITS.max_bytes, help="upload size limit")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_LIMITS.max_pixels, help="pixels per page")
    parser.add_argument("--max-pdf-pages", type=int, default=DEFAULT_LIMITS.max_pdf_pages)
    parser.add_argument("--dpi", type=int, default=DEFAULT_LIMITS.dpi, help="PDF rendering resolution")
    parser.add_argument("--min-references", type=int, default=3, help="references an identity needs")
    parser.add_argument(
        "--admin-key-if-none",
        metavar="NAME",
        help="when the keys file holds no key, make an admin key NAME and print it (first start)",
    )
    parser.add_argument("--https-only", action="store_true", help="session cookie only over HTTPS")
    return parser


def serve_main(argv: Sequence[str]) -> int:
    args = serve_parser().parse_args(argv)
    try:
        import uvicorn

        from .app import create_app
    except ImportError as exc:
        print(f"sigbench-service serve: {exc}; install the service extra: pip install 'sigbench[service]'")
        return 2
    try:
        limits = Limits(args.max_bytes, args.max_pixels, args.max_pdf_pages, args.dpi)
        ring = KeyRing(args.keys_file)
        if args.admin_key_if_none and not ring.list():
            key = ring.add(args.admin_key_if_none, "admin")
            print(f"admin key {args.admin_key_if_none!r} (shown once): {key}", flush=True)
        app = create_app(
            args.bundle,
            args.store,
            args.keys_file,
            limits=limits,
            min_references=args.min_references,
            https_only=args.https_only,
        )
    except (ValueError, OSError) as exc:
        print(f"sigbench-service serve: {exc}", file=sys.stderr)
        return 2
    print(f"sigbench service on http://{args.host}:{args.port}/ (API docs at /docs)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


COMMANDS = {"serve": serve_main, "keys": keys_main}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m sigbench.service.api {{{','.join(COMMANDS)}}} ...", file=sys.stderr)
        return 2
    return COMMANDS[argv[0]](argv[1:])
