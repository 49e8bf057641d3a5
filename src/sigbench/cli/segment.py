"""``sigbench-segment``: signature ink masks of page images (a file or a folder) from a trained checkpoint."""

from __future__ import annotations

from omegaconf import DictConfig

from sigbench.cli.command import hydra_command
from sigbench.runner.schema import register_schemas

register_schemas()


@hydra_command("segment")
def main(cfg: DictConfig) -> None:
    from sigbench.runner.segment import segment
    from sigbench.runner.validation import ConfigError

    try:
        segment(cfg)
    except ConfigError as err:
        raise SystemExit(f"sigbench-segment: config error: {err}") from None
    except (FileNotFoundError, ValueError) as err:  # a missing or unreadable input, named in the message
        raise SystemExit(f"sigbench-segment: {err}") from None


if __name__ == "__main__":
    main()
