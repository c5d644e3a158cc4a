"""Data loading throughput against what the training step consumes (target: >= 5x).

    python -m benchmarks.data_loading [--data DIR] [--batch 64] [--steps 10] [--threads 1] [--rounds 60]

Loader: the sampler's relation-pair batches (with their false-negative masks) for --steps steps of an
epoch, turned into model tensors by `make_pair_batch` (titles sliced from the token cache, pixels from the
decoded uint8 image cache, normalised). Consumption: training steps on the same number of batches
(forward, loss, backward, clipping, AdamW). A round (benchmarks.measure) times both, interleaved, on
the same threads; round i loads epoch i's first --steps batches and trains on them. The ratio is loader
throughput over training consumption (training seconds over loading seconds, per round): the median
with its 95 % bootstrap CI; the target counts as met only when the CI's lower end is above 5.
On a GPU the loader's tensors are pinned and copied with non_blocking.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Sequence

import torch

from benchmarks.measure import (
    MeasureConfig,
    Target,
    add_measure_arguments,
    config_from_args,
    describe,
    ratio_summary,
    run_rounds,
    set_allocator,
    variant_summary,
)
from benchmarks.shapes import benchmark_dataset, machine, tiny_session
from rcml_core.train.batching import make_pair_batch
from rcml_core.train.optim import build_optimizer
from rcml_core.train.sampler import PairSampler

TARGET = Target(">=", 5.0)
DEFAULT_ROUNDS = 60  # 30 gave a CI of +-6 % on the shared 2-vCPU VM (docs/performance.md)


def measure(data: str | None = None, batch: int = 64, steps: int = 10, threads: int = 1,
            config: MeasureConfig | None = None, allocator: str = "fixed") -> dict:
    config = config or MeasureConfig(rounds=DEFAULT_ROUNDS)
    allocator_set = set_allocator(allocator)
    torch.set_num_threads(threads)
    session = tiny_session(benchmark_dataset(data), overrides=[f"batch_size={batch}"])
    run_config = session.config
    sampler = PairSampler(session.dataset, batch, run_config.effective_sampler, seed=0)
    steps = min(steps, len(sampler))
    model = session.model.train()
    optimizer = build_optimizer(model, run_config.optim)
    loss_config = run_config.effective_loss
    state: dict = {}

    def setup(i: int) -> None:  # the round's epoch; the training side gets its batches untimed
        state["epoch"] = i + config.warmup
        state["batches"] = [make_pair_batch(session.inputs, b, session.device)
                            for b in sampler.epoch(state["epoch"], steps)]

    def load() -> None:  # sampling the epoch's order is part of loading
        state["loaded"] = [make_pair_batch(session.inputs, b, session.device)
                           for b in sampler.epoch(state["epoch"], steps)]

    def train() -> None:
        for b in state["batches"]:
            out = model.loss(b, loss_config)
            optimizer.zero_grad(set_to_none=True)
            out.total.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), run_config.optim.grad_clip)
            optimizer.step()

    rounds = run_rounds({"load": load, "train": train}, config, setup=setup)
    pairs = sum(b.num_rows for b in state["batches"])
    load_s, train_s = rounds.samples["load"], rounds.samples["train"]
    return {
        "benchmark": "data_loading", "machine": machine(), "batch": batch, "batches_per_round": steps,
        "threads": threads, "allocator": allocator_set, "measure": describe(config),
        "pairs_per_round": pairs,
        "loader_pairs_per_s": round(pairs / statistics.median(load_s), 1),
        "train_pairs_per_s": round(pairs / statistics.median(train_s), 1),
        "loader_s_per_round": variant_summary(load_s, unit=1.0, digits=4),
        "train_s_per_round": variant_summary(train_s, unit=1.0, digits=4),
        "ratio": ratio_summary(train_s, load_s, [TARGET], config),
        "unique_items_per_batch": round(sum(b.num_items for b in state["batches"]) / len(state["batches"]), 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", help="dataset folder (default: the sweeps' embedded synthetic catalog)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=10, help="batches per round (loaded, then trained on)")
    p.add_argument("--threads", type=int, default=1)
    add_measure_arguments(p, rounds=DEFAULT_ROUNDS)
    args = p.parse_args(argv)
    print(json.dumps(measure(args.data, args.batch, args.steps, args.threads, config_from_args(args),
                             args.allocator), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
