"""Data loading throughput against what the training step consumes (DESIGN §6 target: >= 5x).

    python -m benchmarks.data_loading [--data DIR] [--batch 64] [--steps 40] [--threads 2]

Loader: the sampler's relation-pair batches (with their false-negative masks) turned into model
tensors by `make_pair_batch` (titles sliced from the token cache, pixels from the decoded uint8 image
cache, normalised), pairs per second. Consumption: one training step on those batches (forward,
loss, backward, AdamW, clipping), pairs per second. Both measured on the same batches, one after the
other, on the same threads. On a GPU the loader's tensors are pinned and copied with non_blocking.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence

import torch

from benchmarks.shapes import benchmark_dataset, machine, tiny_session
from rcml_core.train.batching import make_pair_batch
from rcml_core.train.optim import build_optimizer
from rcml_core.train.sampler import PairSampler


def measure(data: str | None = None, batch: int = 64, steps: int = 40, threads: int = 2) -> dict:
    torch.set_num_threads(threads)
    session = tiny_session(benchmark_dataset(data), overrides=[f"batch_size={batch}"])
    config = session.config
    sampler = PairSampler(session.dataset, batch, config.effective_sampler, seed=0)
    steps = min(steps, len(sampler))
    index_batches = list(sampler.epoch(0, steps))

    t0 = time.perf_counter()
    for epoch in range(3):  # sampling an epoch's order is part of loading
        batches = [make_pair_batch(session.inputs, b, session.device) for b in sampler.epoch(epoch, steps)]
    load_s = (time.perf_counter() - t0) / 3

    model = session.model.train()
    optimizer = build_optimizer(model, config.optim)
    loss_config = config.effective_loss
    for b in batches[:2]:  # warm-up
        model.loss(b, loss_config).total.backward()
    t0 = time.perf_counter()
    for b in batches:
        out = model.loss(b, loss_config)
        optimizer.zero_grad(set_to_none=True)
        out.total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.optim.grad_clip)
        optimizer.step()
    step_s = time.perf_counter() - t0
    pairs = sum(len(b) for b in index_batches)
    return {
        "benchmark": "data_loading", "machine": machine(), "batch": batch, "batches": steps, "threads": threads,
        "loader_pairs_per_s": round(pairs / load_s, 1), "train_pairs_per_s": round(pairs / step_s, 1),
        "ratio": round(step_s / load_s, 2), "target": ">= 5",
        "unique_items_per_batch": round(sum(b.num_items for b in batches) / len(batches), 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", help="dataset folder (default: the sweeps' embedded synthetic catalog)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    print(json.dumps(measure(args.data, args.batch, args.steps, args.threads), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
