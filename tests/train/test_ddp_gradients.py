"""DDP needs no unused-parameter search: every trainable parameter is in every step's graph, the CLIP
baseline's attention included (at beta = 1 its W_Q, W_K get zero gradients, not none). Checked with
a real DistributedDataParallel (gloo, one process) and find_unused_parameters=False, as the Ray worker
wraps the model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from rcml_core.train.batching import make_pair_batch
from rcml_core.train.loop import TrainStep
from rcml_core.runtime.run_config import resolve_run_config
from rcml_core.train.sampler import PairSampler
from rcml_core.runtime.session import build_session


@pytest.fixture
def process_group():
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def _steps(module: nn.Module, batches, loss_of) -> None:
    optimizer = torch.optim.SGD([p for p in module.parameters() if p.requires_grad], lr=1e-3)
    for batch in batches:
        optimizer.zero_grad(set_to_none=True)
        loss_of(module(batch)).backward()
        optimizer.step()


@pytest.mark.parametrize("overrides", [["method=clip"], ["method=clip", "frozen_backbone=true"], [],
                                       ["beta=1.0", "no_inter_edges=true"]])
def test_every_trainable_parameter_gets_a_gradient_under_ddp_without_unused_search(
        tiny_data: Path, process_group, overrides) -> None:
    config = resolve_run_config("tiny", overrides=[f"data={tiny_data}", "batch_size=8", "device=cpu", *overrides])
    session = build_session(config)
    sampler = PairSampler(session.dataset, 8, config.effective_sampler, seed=0)
    batches = [make_pair_batch(session.inputs, b, session.device) for b, _ in zip(sampler.epoch(0), range(3))]
    step = TrainStep(session.model, config.effective_loss)
    step(batches[0]).total.backward()
    missing = [n for n, p in session.model.named_parameters() if p.requires_grad and p.grad is None]
    assert missing == []
    session.model.zero_grad(set_to_none=True)
    # three steps: DDP raises at the second forward when a parameter got no gradient in the first
    _steps(DistributedDataParallel(step, find_unused_parameters=False), batches, lambda out: out.total)


def test_the_ddp_check_catches_a_parameter_without_gradient(process_group) -> None:
    class HalfUsed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.used, self.unused = nn.Linear(2, 1), nn.Linear(2, 1)

        def forward(self, x):
            return self.used(x)

    with pytest.raises(RuntimeError, match="finished reduction|did not receive grad|unused parameters"):
        _steps(DistributedDataParallel(HalfUsed(), find_unused_parameters=False), [torch.ones(1, 2)] * 3,
               lambda out: out.sum())
