"""Relation-guided retrieval over 10 relation types against 1 (target: <= 1.3x).

    python -m benchmarks.retrieval_relations [--data DIR] [--queries 1000] [--threads 1] [--rounds 40]

The same queries (item A and its 21 candidates, from the dataset's fixed val set, repeated to
--queries) are scored twice with the RCML protocol: once with every query under one relation,
once spread over 10 relation types. The backbone runs once per item either way (token cache);
only the relation-guided attention runs once per (relation, item). Timed end to end, from the
items' pixels and token ids to the five similarity scores; the two are interleaved in rounds
(benchmarks.measure) and the ratio is the median per-round ratio with its 95 % bootstrap CI.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
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
from rcml_core.eval.embedders import RCMLEmbedder
from rcml_core.eval.tasks import retrieval_scores

TARGET = Target("<=", 1.3)


def measure(data: str | None = None, queries: int = 1000, config: MeasureConfig | None = None, threads: int = 1,
            relation_types: int = 10, allocator: str = "fixed") -> dict:
    config = config or MeasureConfig(rounds=40)
    allocator_set = set_allocator(allocator)
    torch.set_num_threads(threads)
    session = tiny_session(benchmark_dataset(data))
    ds, model = session.dataset, session.model.eval()
    base = ds.retrieval["val"]
    reps = -(-queries // len(base))
    src = np.tile(base.src, reps)[:queries]
    candidates = np.tile(base.candidates, (reps, 1))[:queries]
    inter = ds.inter_relation_ids[:relation_types]
    one = replace(base, src=src, candidates=candidates, relation=np.full(queries, inter[0]))
    many = replace(base, src=src, candidates=candidates, relation=inter[np.arange(queries) % len(inter)])
    items = np.unique(np.concatenate([src, candidates.ravel()]))

    @torch.no_grad()
    def run(q) -> None:
        retrieval_scores(RCMLEmbedder(model, session.inputs, items, 256, session.device), q)

    rounds = run_rounds({"one": lambda: run(one), "many": lambda: run(many)}, config)
    return {
        "benchmark": "retrieval_relations", "machine": machine(), "threads": threads, "allocator": allocator_set,
        "queries": queries, "items": int(len(items)), "candidates_per_query": int(candidates.shape[1]),
        "relation_types": int(len(inter)), "measure": describe(config),
        "seconds_1_relation": variant_summary(rounds.samples["one"], unit=1.0, digits=4),
        f"seconds_{len(inter)}_relations": variant_summary(rounds.samples["many"], unit=1.0, digits=4),
        "ratio": ratio_summary(rounds.samples["many"], rounds.samples["one"], [TARGET], config),
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", help="dataset folder (default: the sweeps' embedded synthetic catalog)")
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--threads", type=int, default=1)
    add_measure_arguments(p, rounds=40)
    p.add_argument("--repeats", dest="rounds", type=int, help=argparse.SUPPRESS)  # the former name
    args = p.parse_args(argv)
    print(json.dumps(measure(args.data, args.queries, config_from_args(args), args.threads,
                             allocator=args.allocator), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
