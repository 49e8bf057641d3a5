"""``sigbench-embed``: embeddings of a trained checkpoint (npz, optional TensorBoard projector)."""

from __future__ import annotations

from omegaconf import DictConfig

from sigbench.cli.command import hydra_command
from sigbench.runner.schema import register_schemas

register_schemas()


@hydra_command("embed")
def main(cfg: DictConfig) -> None:
    from sigbench.checkpoint_io import CheckpointError
    from sigbench.runner.embed import embed
    from sigbench.runner.validation import ConfigError

    try:
        embed(cfg)
    except ConfigError as err:
        raise SystemExit(f"sigbench-embed: config error: {err}") from None
    except CheckpointError as err:
        raise SystemExit(f"sigbench-embed: {err}") from None


if __name__ == "__main__":
    main()
