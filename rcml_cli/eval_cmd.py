"""`rcml eval --checkpoint PATH --data DIR --split test`: every metric of a saved checkpoint.

Prints one table on the split's fixed retrieval queries: the model under its own protocol (and, for the
CLIP baseline, its other protocol), the training-free score on the untrained backbone and the model-free
reference scorers, each Hit@k / MRR with its 95 % bootstrap interval over distinct query pairs
(docs/evaluation.md); then relation-type prediction and relation validity.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


METHOD_LABELS = {"rcml": "RCML", "clip": "CLIP-concat (baseline)", "clip_plain": "CLIP fine-tuned (baseline)"}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("eval", help="evaluate a checkpoint on a split (paper 4.3's three tasks)")
    p.add_argument("--checkpoint", type=Path, required=True, help="a checkpoint folder (runs/x/checkpoints/best)")
    p.add_argument("--data", type=Path, help="dataset folder (default: the one the checkpoint was trained on)")
    p.add_argument("--split", default="test", choices=["val", "test"])
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--out", type=Path, help="write the metrics as JSON to this file")
    p.add_argument("--outcomes", type=Path, help="also write the per-query outcomes (.npz, EvalResult.save)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rcml_core.eval import keys
    from rcml_core.eval.tables import counts_line, render, retrieval_rows
    from rcml_core.train.checkpoint import read_checkpoint_config
    from rcml_core.train.loop import evaluate_checkpoint

    method = str(read_checkpoint_config(args.checkpoint).get("method", "rcml"))
    result = evaluate_checkpoint(args.checkpoint, split=args.split, data=args.data, device=args.device)
    metrics, s = result.metrics, args.split
    print(f"{s}: {counts_line(metrics, s)}")
    for line in render(retrieval_rows(metrics, s, labels={"": METHOD_LABELS.get(method, method)})):
        print(line)
    rtype = "  ".join(f"{sim.upper()} {metrics[f'{s}/{keys.RTYPE_TOP3}_{sim}']:.4f}" for sim in keys.SIMILARITIES
                      if f"{s}/{keys.RTYPE_TOP3}_{sim}" in metrics)
    nan = float("nan")
    print(f"relation type top-3 on {int(metrics.get(f'{s}/{keys.N_RTYPE_PAIRS}', 0))} pairs "
          f"(chance {metrics.get(f'{s}/{keys.RTYPE_CHANCE_TOP3}', nan):.3f}): {rtype or '-'}")
    print(f"relation validity accuracy {metrics.get(f'{s}/{keys.VALIDITY_ACC}', nan):.4f} "
          f"on {int(metrics.get(f'{s}/{keys.N_VALIDITY}', 0))} instances")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(metrics, indent=2, sort_keys=True))
        print(f"metrics written to {args.out}")
    if args.outcomes:
        print(f"per-query outcomes written to {result.save(args.outcomes)}")
    return 0
