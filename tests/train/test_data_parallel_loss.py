"""Data-parallel trials train one process's objective: two ranks (gloo on 127.0.0.1, real DDP) holding the two
halves of a step's batch get the loss, its terms and, after DDP's gradient average, the gradients of one process
on the whole batch (to 1e-5). Every anchor's negatives are the step's other targets, not its rank's slice, and
the false-negative mask spans the step."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from rcml_core.data.format.schema import INTRA_RELATION_ID
from rcml_core.runtime.run_config import resolve_run_config
from rcml_core.runtime.session import build_session
from rcml_core.train.batching import PairRelations, make_pair_batch
from rcml_core.train.loop import TrainStep
from rcml_core.train.sampler import PairSampler

WORLD = 2
BATCH = 8  # the global batch: 4 rows per rank
CASES = {"rcml": [], "relation_negatives": ["relation_negatives=true"], "clip": ["method=clip"]}
TERMS = ("total", "ti", "it", "tt", "ii")


def _config(data: Path, overrides: list[str]):
    return resolve_run_config("tiny", overrides=[f"data={data}", f"batch_size={BATCH}", "device=cpu",
                                                 "train.num_threads=1", *overrides])


def _step_loss(session, config, step: int, rank: int, world: int, module) -> dict[str, torch.Tensor]:
    """Forward and backward of `step` of epoch 0 as rank `rank` of `world`; the loss terms and the gradients."""
    loss_config = config.effective_loss
    sampler = PairSampler(session.dataset, BATCH, config.effective_sampler, config.seed, rank=rank, world_size=world)
    index_batch = next(b for k, b in enumerate(sampler.epoch(0)) if k == step)
    relations = PairRelations(session.dataset) if loss_config.relation_negatives else None
    batch = make_pair_batch(session.inputs, index_batch, session.device, loss_config.relation_negatives, relations)
    module.zero_grad(set_to_none=True)
    out = module(batch)
    out.total.backward()
    result = {f"loss/{name}": getattr(out, name).detach().clone() for name in TERMS}
    result.update({name: p.grad.detach().clone() for name, p in session.model.named_parameters()
                   if p.grad is not None})
    return result


def _rank_main(rank: int, port: int, data: str, weights: dict[str, str], step: int, out_dir: str) -> None:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD)
    try:
        for case, overrides in CASES.items():
            config = _config(Path(data), overrides)
            session = build_session(config)
            session.model.load_state_dict(torch.load(weights[case]))  # the reference's exact initial weights
            module = DistributedDataParallel(TrainStep(session.model, config.effective_loss),
                                             find_unused_parameters=False)
            torch.save(_step_loss(session, config, step, rank, WORLD, module), Path(out_dir) / f"{case}-{rank}.pt")
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _step_where_ranks_use_different_relations(session, config) -> int:
    """A step whose halves differ in their relations and mix intra and inter rows: a rank's candidates are then
    conditioned on a relation only the other rank's rows use."""
    sampler = PairSampler(session.dataset, BATCH, config.effective_sampler, config.seed)
    for k, batch in enumerate(sampler.epoch(0)):
        halves = np.split(batch.relation, WORLD)
        if set(halves[0]) != set(halves[1]) and (batch.relation == INTRA_RELATION_ID).any() \
                and (batch.relation != INTRA_RELATION_ID).any():
            return k
    raise AssertionError("no step of epoch 0 has halves with different relations")


def test_two_ranks_compute_one_processs_loss_and_gradients_on_the_whole_step(tiny_data: Path,
                                                                               tmp_path: Path) -> None:
    torch.set_num_threads(1)
    expected, weights, step = {}, {}, None
    for case, overrides in CASES.items():
        config = _config(tiny_data, overrides)
        session = build_session(config)
        if step is None:
            step = _step_where_ranks_use_different_relations(session, config)
        weights[case] = str(tmp_path / f"{case}-weights.pt")
        torch.save(session.model.state_dict(), weights[case])
        expected[case] = _step_loss(session, config, step, 0, 1, TrainStep(session.model, config.effective_loss))
    mp.spawn(_rank_main, args=(_free_port(), str(tiny_data), weights, step, str(tmp_path)), nprocs=WORLD, join=True)
    for case, reference in expected.items():
        for rank in range(WORLD):
            got = torch.load(tmp_path / f"{case}-{rank}.pt")
            assert sorted(got) == sorted(reference), f"{case} rank {rank}: other parameters got gradients"
            for name, value in reference.items():
                assert torch.allclose(got[name], value, rtol=1e-5, atol=1e-5), \
                    f"{case} rank {rank} {name}: max diff {(got[name] - value).abs().max():.3g}"
        assert any(v.abs().max() > 0 for k, v in reference.items() if not k.startswith("loss/"))


def test_one_rank_alone_would_see_only_its_slice(tiny_data: Path) -> None:
    """The same step on one rank without its partner differs: the gather is what makes the objective equal."""
    config = _config(tiny_data, [])
    session = build_session(config)
    step = _step_where_ranks_use_different_relations(session, config)
    whole = _step_loss(session, config, step, 0, 1, TrainStep(session.model, config.effective_loss))
    sampler = PairSampler(session.dataset, BATCH // WORLD, config.effective_sampler, config.seed)
    pairs = sampler.epoch_pairs(0)
    half = slice(step * BATCH, step * BATCH + BATCH // WORLD)
    from rcml_core.train.sampler import PairIndexBatch, false_negative_mask

    src, dst, rel = (x[half] for x in pairs)
    alone = PairIndexBatch(src=src, dst=dst, relation=rel, false_negative=false_negative_mask(src, dst,
                                                                                              sampler.related))
    out = TrainStep(session.model, config.effective_loss)(make_pair_batch(session.inputs, alone, session.device))
    assert not torch.allclose(out.total.detach(), whole["loss/total"], atol=1e-3)


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__, "-q"])
