"""``sigbench-eval``: verification protocols (WD, WI, distance) on a trained extractor or on features.

sigbench-eval ckpt=outputs/.../checkpoints/last.ckpt protocol=wd
sigbench-eval weights=signet.pth data=npz data.dataset=gpds.npz protocol=hafemann2017_wd
sigbench-eval features=feats.npz protocol=wi protocol.exp_users=[0,300] protocol.dev_users=[300,881]
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from sigbench.cli.command import hydra_command
from sigbench.runner.schema import register_schemas

register_schemas()


@hydra_command("eval")
def main(cfg: DictConfig) -> float | None:
    from sigbench.checkpoint_io import CheckpointError
    from sigbench.runner.evaluate import evaluate_checkpoint, print_protocol_summaries
    from sigbench.runner.validation import ConfigError

    protocol = OmegaConf.to_container(cfg.protocol, resolve=True)
    data_cfg = OmegaConf.to_container(cfg.data, resolve=True) if cfg.get("data") else None
    try:
        summaries = evaluate_checkpoint(
            cfg.ckpt,
            {protocol["name"]: protocol},
            out_dir=cfg.paths.output_dir,
            data_cfg=data_cfg,
            weights=cfg.weights,
            weights_variant=cfg.weights_variant,
            features=cfg.features,
            cache_dir=cfg.paths.cache_dir if cfg.cache_features else None,
            batch_size=cfg.batch_size,
            device=cfg.device,
            tensorboard_dir=f"{cfg.paths.output_dir}/tensorboard",
        )
    except (ConfigError, CheckpointError, FileNotFoundError) as err:
        raise SystemExit(f"sigbench-eval: {err}") from None
    print_protocol_summaries(summaries)
    return summaries[protocol["name"]]["metrics"]["EER"]["mean"]


if __name__ == "__main__":
    main()
