"""``sigbench-synth``: a synthesised document set (AOSSig layout + COCO + YOLO), see ``conf/synth.yaml``."""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from sigbench.cli.command import hydra_command
from sigbench.runner.schema import register_schemas

register_schemas()


def source_spec(source: Any, synthetic: Any) -> str | dict[str, Any]:
    """The source argument of :func:`synthesize_dataset` from the CLI's ``source`` and ``synthetic`` keys:
    ``synthetic`` uses the population args, a mapping passes through, any other string is a prepared set."""
    if source == "synthetic":
        return {"synthetic": dict(synthetic or {})}
    if isinstance(source, Mapping):
        return dict(source)
    return {"folder": str(source)}


def run(cfg: DictConfig) -> Path:
    """Synthesise the set ``cfg`` describes and print where it went and what it holds."""
    from sigbench.documents.synthesize import CONFIG_FILE, synthesize_dataset
    from sigbench.runner.preflight import check_output

    plain = OmegaConf.to_container(cfg, resolve=True)
    check_output(plain["out_dir"], "out_dir")
    start = time.perf_counter()
    # every synthesize_dataset argument is a key of conf/synth.yaml of the same name, except the source
    names = set(inspect.signature(synthesize_dataset).parameters) - {"out_dir", "source"}
    root = synthesize_dataset(
        plain["out_dir"],
        source=source_spec(plain["source"], plain["synthetic"]),
        **{name: plain[name] for name in names},
    )
    counts = json.loads((root / CONFIG_FILE).read_text(encoding="utf-8"))["counts"]
    elapsed = time.perf_counter() - start
    print(f"sigbench-synth: {plain['num_pages']} pages in {elapsed:.1f} s -> {root}")
    for split in sorted(counts, key=lambda name: name != "training"):
        numbers = counts[split]
        objects = ", ".join(f"{k} {v}" for k, v in numbers.items() if k != "pages" and v)
        print(f"  {split}: {numbers['pages']} pages; {objects or 'no objects'}")
    return root


@hydra_command("synth")
def main(cfg: DictConfig) -> None:
    try:
        run(cfg)
    except (ValueError, TypeError, FileExistsError, FileNotFoundError) as err:
        raise SystemExit(f"sigbench-synth: {err}") from None


if __name__ == "__main__":
    main()
