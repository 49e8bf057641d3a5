"""Move a store to another backend: ``python -m sigbench.service.store.copy SOURCE TARGET``.

    python -m sigbench.service.store.copy service.db postgresql://sigbench@db-host/sigbench

The target (an empty database, or a file that does not exist yet) is created for the source's model and
receives every identity, reference, document, detection and audit entry with their ids and times, in one
transaction. Stop the service while copying: writes made during the copy are not carried over.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sigbench.service.store import open_store
from sigbench.service.store.base import StoreError


def copy_store(source: str, target: str) -> dict[str, int]:
    """Copy the store at ``source`` into a new store at ``target``; returns rows copied per table."""
    with open_store(source) as origin, open_store(target, origin.fingerprint, origin.dim) as destination:
        return origin.copy_into(destination)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sigbench.service.store.copy", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("source", help="the store to copy (file path, sqlite:///..., postgresql://...)")
    parser.add_argument("target", help="an empty database or a new file, same forms")
    args = parser.parse_args(argv)
    try:
        copied = copy_store(args.source, args.target)
    except (StoreError, ValueError) as error:
        print(f"copy: {error}", file=sys.stderr)
        return 2
    print(", ".join(f"{count} {table}" for table, count in copied.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
