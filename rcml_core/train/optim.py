"""AdamW with decoupled weight decay and a cosine schedule with linear warmup (paper A.1)."""

from __future__ import annotations

import math

import torch
from torch import nn

from rcml_core.runtime.run_config import OptimConfig


def _no_decay(name: str, param: nn.Parameter) -> bool:
    """Biases, norms, embeddings and scalars are not weight-decayed (as in CLIP / open_clip)."""
    return param.ndim < 2 or "norm" in name.lower() or "embedding" in name.lower() or name.endswith(".bias")


def build_optimizer(model: nn.Module, config: OptimConfig) -> torch.optim.AdamW:
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if _no_decay(name, param) else decay).append(param)
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.lr, betas=config.betas, eps=config.eps)


def cosine_with_warmup(step: int, total_steps: int, warmup_steps: int, min_ratio: float) -> float:
    """LR multiplier: linear 0->1 over warmup, then cosine 1->min_ratio at total_steps."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(optimizer: torch.optim.Optimizer, config: OptimConfig, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    warmup = int(round(config.warmup_fraction * total_steps))
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: cosine_with_warmup(step, total_steps, warmup, config.min_lr_ratio)
    )
