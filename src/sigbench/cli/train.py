"""``sigbench-train``: train a feature extractor from composed configs (``experiment=NAME``, -m sweeps)."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from sigbench.runner.conf import conf_dir
from sigbench.runner.schema import register_schemas

register_schemas()


@hydra.main(version_base="1.3", config_path=conf_dir(), config_name="train")
def main(cfg: DictConfig) -> float | None:
    from sigbench.runner.train import train
    from sigbench.runner.validation import ConfigError

    try:
        metrics = train(cfg)
    except ConfigError as err:
        raise SystemExit(f"sigbench-train: config error: {err}") from None
    return metrics.get("val/eer")


if __name__ == "__main__":
    main()
