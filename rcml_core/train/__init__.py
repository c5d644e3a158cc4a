"""Training: run config, batch sampler, optimiser, checkpoints, the loop, the tracker interface."""
