"""``sigbench-clean``: a trained SignVer cleaner on images, folders or datasets; or its downstream value.

sigbench-clean ckpt=outputs/signver_cleaner_cpu/runs/<time>/checkpoints/last.ckpt input=scans/ output=cleaned/
sigbench-clean ckpt=<cleaner>.ckpt input=cedar.npz output=cedar_clean.npz
sigbench-clean mode=downstream ckpt=<cleaner>.ckpt extractor=<extractor>.ckpt protocol=distance
"""

from __future__ import annotations

from omegaconf import DictConfig

from sigbench.cli.command import hydra_command
from sigbench.runner.schema import register_schemas

register_schemas()


@hydra_command("clean")
def main(cfg: DictConfig) -> None:
    from sigbench.runner.clean import run
    from sigbench.runner.validation import ConfigError

    try:
        run(cfg)
    except (ConfigError, FileNotFoundError, ValueError) as err:
        raise SystemExit(f"sigbench-clean: {err}") from None


if __name__ == "__main__":
    main()
