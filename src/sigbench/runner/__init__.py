"""What every entry point shares: config checks, seeding, trainers and loggers from config, checkpoints that
carry their config, summaries. Only this package and ``cli`` import Hydra/OmegaConf."""
