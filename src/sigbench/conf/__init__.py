"""sigbench's Hydra configs (found as ``pkg://sigbench.conf``); one folder per config group."""
