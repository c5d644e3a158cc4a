"""Data-parallel contrastive loss: every rank's rows against the whole step's candidates.

The pattern of open_clip's `ClipLoss` (`gather_features` with gradients + `local_loss`): each rank
conditions its own candidates, the ranks exchange them with a differentiable all-gather, and each
rank scores its own rows against all of them. A step with `batch_size` = C pairs on W ranks then
gives every anchor the C - 1 negatives of one process on the same C pairs, with the false-negative
mask over the whole step (rcml_core.train.sampler), not the C / W - 1 of its own slice.

Gradients. `gather_with_grad` sends the gradient of each gathered slice back to the rank that
computed it, summed over the ranks that used it. Rank k's loss is W times its rows'
share P_k of the step's loss L = sum_k P_k (`rcml_loss(..., share=...)`), so rank k's backward gives
W dL / dtheta through its own computations, and DDP's average over the W ranks gives exactly dL / dtheta.
The value every rank reports is L itself (the shares summed with an all-reduce of detached values).

Only torch.distributed here (no Ray); with no process group, or one rank, everything is the identity.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

from rcml_core.loss import DIRECTIONS, LossOutput


def world_size() -> int:
    """Ranks of the default process group (1 without one)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


class _GatherRows(torch.autograd.Function):
    """all_gather along dim 0; backward: the gathered gradient summed over the ranks, this rank's slice.

    Not torch.distributed.nn.functional.all_gather: on gloo its backward scatters (dist.scatter) into
    buffers laid out like the incoming gradients, which are strided here (a permute and a cat), and gloo's
    scatter writes strided outputs wrongly (pytorch/pytorch#192920). A 2-rank CPU check gave gradients off
    by up to 7.7 with it, 5e-7 with contiguous incoming gradients, and 5e-7 with this function.
    """

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.rank, ctx.rows = dist.get_rank(), x.shape[0]
        parts = [torch.empty_like(x, memory_format=torch.contiguous_format) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts)  # (W N, ...)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        # One path for every backend, the one the CPU test runs (gloo has no reduce-scatter): an all-reduce
        # moves about twice the bytes of a reduce-scatter, (W N, 2, R, d) fp32 a step, ~21 MB at C = 512,
        # R = 10, d = 512.
        grad = grad.contiguous().clone()  # (W N, ...), ours to reduce in place
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.rows:(ctx.rank + 1) * ctx.rows]


def gather_with_grad(x: Tensor) -> Tensor:
    """(N, ...) on each of W ranks -> (W N, ...), rank 0's slice first; differentiable (module docstring).

    Every rank must call it with the same shape, in the same order of collectives.
    """
    if world_size() == 1:
        return x
    return _GatherRows.apply(x)


def sum_over_ranks(x: Tensor) -> Tensor:
    """The sum of `x` over the ranks, detached (a copy; `x` keeps its graph)."""
    total = x.detach().clone()
    if world_size() > 1:
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total


def combine_shares(share: LossOutput, ranks: int) -> LossOutput:
    """The step's loss from this rank's share (rcml_loss with a RowShare): each value is the sum of the
    ranks' shares; each gradient is `ranks` x the share's, which DDP's average turns into the step's."""
    parts = torch.stack([share.total, *(getattr(share, name) for name in DIRECTIONS)])  # (5,)
    totals = sum_over_ranks(parts)  # (5,) one collective for the five values
    scaled = parts * ranks
    combined = scaled - scaled.detach() + totals  # value: the step's loss; gradient: ranks x the share's
    total, ti, it, tt, ii = combined.unbind()
    return LossOutput(total=total, ti=ti, it=it, tt=tt, ii=ii)
