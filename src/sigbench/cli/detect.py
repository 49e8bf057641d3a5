"""``sigbench-detect``: signatures on pages (images, folders, PDFs) with a trained detector checkpoint.

sigbench-detect ckpt=outputs/aossig_detection_fasterrcnn_cpu/runs/<time>/checkpoints/last.ckpt input=scans/
sigbench-detect ckpt=... input=contract.pdf dpi=300 tile_size=1024 long_side=0
sigbench-detect ckpt=... input=<root>/L1/data/test gt=<root>/L1/anno_label/test   # + F at IoU 0.5 / 0.75
"""

from __future__ import annotations

from omegaconf import DictConfig

from sigbench.cli.command import hydra_command
from sigbench.runner.schema import register_schemas

register_schemas()


@hydra_command("detect")
def main(cfg: DictConfig) -> None:
    from sigbench.documents.formats import FormatError
    from sigbench.runner.detect import detect
    from sigbench.runner.validation import ConfigError

    try:
        detect(cfg)
    except ConfigError as err:
        raise SystemExit(f"sigbench-detect: config error: {err}") from None
    except (FileNotFoundError, FormatError, ValueError, RuntimeError) as err:
        raise SystemExit(f"sigbench-detect: {err}") from None


if __name__ == "__main__":
    main()
