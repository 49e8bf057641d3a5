"""``sigbench-prepare``: the Hydra front end of :func:`sigbench.data.prepare.prepare_dataset`.

    sigbench-prepare dataset=cedar dataset.path=/data/CEDAR output=cedar.npz [workers=2 skip_bad=true]

The dataset adapter is built from ``conf/dataset/<name>.yaml`` (``_target_`` + ``path`` + canvas); the
rest of ``conf/prepare.yaml`` maps onto ``prepare_dataset``'s arguments. Required values are checked before
any work so a typo costs a second, not a run: a missing ``dataset.path`` or ``output`` and a path that does
not exist are reported by key name with exit status 2. Dataset problems (bad or unmatched files) exit 1.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from sigbench.atomic import unwritable_reason
from sigbench.cli.command import hydra_command

PROG = "sigbench-prepare"


def config_problems(cfg: DictConfig) -> list[str]:
    """Everything wrong with the required values, each naming its key."""
    problems = []
    if OmegaConf.is_missing(cfg.dataset, "path") or cfg.dataset.get("path") in (None, ""):
        problems.append("dataset.path is required: pass dataset.path=DIR (the folder holding the dataset)")
    else:
        path = Path(str(cfg.dataset.path)).expanduser()
        if not path.exists():
            problems.append(f"dataset.path={cfg.dataset.path} does not exist (looked for {path.absolute()})")
    if OmegaConf.is_missing(cfg, "output") or cfg.get("output") in (None, ""):
        problems.append(
            "output is required: pass output=NAME.npz (one file) or output=DIR (a folder of .npy)"
        )
    else:
        kind = "file" if str(cfg.output).endswith(".npz") else "folder"
        reason = unwritable_reason(cfg.output, kind)
        if reason is not None:
            problems.append(f"output={cfg.output}: {reason}")
    from sigbench.images import check_max_pixels

    try:
        check_max_pixels(cfg.get("max_pixels"))
    except (TypeError, ValueError) as err:
        problems.append(str(err))
    return problems


def run(cfg: DictConfig):  # -> PrepareReport
    """Instantiate the adapter and prepare; the plain-Python layer below never sees OmegaConf objects."""
    from sigbench.data.prepare import prepare_dataset
    from sigbench.images import DEFAULT_MAX_PIXELS

    adapter = hydra.utils.instantiate(cfg.dataset, _convert_="all")
    return prepare_dataset(
        adapter,
        str(cfg.output),
        img_size=tuple(int(v) for v in cfg.img_size),
        workers=int(cfg.workers),
        skip_bad=bool(cfg.skip_bad),
        dedup=bool(cfg.dedup),
        progress=bool(cfg.progress),
        max_pixels=cfg.get("max_pixels", DEFAULT_MAX_PIXELS),
    )


@hydra_command("prepare")
def main(cfg: DictConfig) -> None:
    from sigbench.data.datasets import UnmatchedFilesError
    from sigbench.data.formats import DatasetFormatError
    from sigbench.data.prepare import BadFilesError

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    problems = config_problems(cfg)
    if problems:
        print(f"{PROG}: " + f"\n{PROG}: ".join(problems), file=sys.stderr)
        sys.exit(2)
    try:
        run(cfg)
    except (BadFilesError, UnmatchedFilesError, DatasetFormatError, OSError, ValueError) as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print(
            f"{PROG}: interrupted; {cfg.output} was not written (an older one is left as it was)",
            file=sys.stderr,
        )
        sys.exit(130)


if __name__ == "__main__":
    main()
