"""AdamW with decoupled weight decay and a cosine schedule with linear warmup (paper A.1)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from rcml_core.config import check_range


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 5e-4
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-6
    warmup_fraction: float = 0.05  # of all optimisation steps
    min_lr_ratio: float = 0.0  # cosine floor, as a fraction of lr
    grad_clip: float = 1.0  # max global grad norm; 0 disables clipping

    def __post_init__(self) -> None:
        check_range("optim.lr", self.lr, 0.0, 1.0, low_open=True)
        check_range("optim.weight_decay", self.weight_decay, 0.0, 1.0)
        for i, b in enumerate(self.betas):
            check_range(f"optim.betas[{i}]", b, 0.0, 1.0, high_open=True)
        check_range("optim.eps", self.eps, 0.0, None, low_open=True)
        check_range("optim.warmup_fraction", self.warmup_fraction, 0.0, 1.0, high_open=True)
        check_range("optim.min_lr_ratio", self.min_lr_ratio, 0.0, 1.0)
        check_range("optim.grad_clip", self.grad_clip, 0.0, None)


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
