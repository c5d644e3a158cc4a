"""The prefetching producer yields exactly the batches the loop would build inline, in order, and
hands its errors to the training thread."""

from __future__ import annotations

import threading
from dataclasses import fields
from pathlib import Path

import pytest
import torch

from rcml_core.model.packing import PackedText
from rcml_core.train.batching import make_pair_batch
from rcml_core.train.prefetch import prefetch_batches
from rcml_core.runtime.run_config import resolve_run_config
from rcml_core.train.sampler import PairSampler
from rcml_core.runtime.session import build_session


@pytest.fixture(scope="module")
def session(tiny_data: Path):
    return build_session(resolve_run_config("tiny", overrides=[f"data={tiny_data}", "batch_size=8", "device=cpu"]))


def _build(session):
    return lambda index_batch, staging: make_pair_batch(session.inputs, index_batch, session.device, staging=staging)


def _same(a, b) -> bool:
    for f in fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, PackedText):
            if not all(torch.equal(getattr(x, g.name), getattr(y, g.name)) for g in fields(x)):
                return False
        elif isinstance(x, torch.Tensor):
            if not torch.equal(x, y):
                return False
        elif x != y:
            return False
    return True


def test_a_producer_thread_yields_the_inline_batches_in_order(session) -> None:
    sampler = PairSampler(session.dataset, 8, session.config.effective_sampler, seed=0)
    inline = list(prefetch_batches(sampler.epoch(1), _build(session), session.device, depth=0))
    ahead = list(prefetch_batches(sampler.epoch(1), _build(session), session.device, depth=2))
    assert len(inline) == len(ahead) == len(sampler) > 2
    assert all(_same(a, b) for a, b in zip(inline, ahead))


def test_an_error_in_the_producer_is_raised_in_the_training_thread_at_its_batch(session) -> None:
    sampler = PairSampler(session.dataset, 8, session.config.effective_sampler, seed=0)
    build = _build(session)
    calls = []

    def failing(index_batch, staging):
        calls.append(threading.current_thread().name)
        if len(calls) == 3:
            raise ValueError("bad batch 3")
        return build(index_batch, staging)

    got = []
    with pytest.raises(ValueError, match="bad batch 3"):
        for batch in prefetch_batches(sampler.epoch(0), failing, session.device, depth=2):
            got.append(batch)
    assert len(got) == 2 and calls[0] == "rcml-batch-producer"


def test_leaving_the_loop_early_stops_the_producer(session) -> None:
    sampler = PairSampler(session.dataset, 8, session.config.effective_sampler, seed=0)
    before = {t.name for t in threading.enumerate()}
    batches = prefetch_batches(sampler.epoch(0), _build(session), session.device, depth=1)
    next(batches)
    assert "rcml-batch-producer" in {t.name for t in threading.enumerate()} - before
    batches.close()
    assert "rcml-batch-producer" not in {t.name for t in threading.enumerate()} - before


@pytest.mark.gpu
def test_on_cuda_the_producer_copies_on_its_own_stream_and_yields_the_inline_batches(tiny_data: Path) -> None:
    session = build_session(resolve_run_config("tiny", overrides=[f"data={tiny_data}", "batch_size=8",
                                                                 "device=cuda"]))
    sampler = PairSampler(session.dataset, 8, session.config.effective_sampler, seed=0)
    inline = list(prefetch_batches(sampler.epoch(1), _build(session), session.device, depth=0))
    ahead = list(prefetch_batches(sampler.epoch(1), _build(session), session.device, depth=2, gather_threads=2))
    torch.cuda.synchronize()
    assert len(inline) == len(ahead) > 2
    assert all(b.pixel_values.is_cuda for b in ahead)
    assert all(_same(a, b) for a, b in zip(inline, ahead))
