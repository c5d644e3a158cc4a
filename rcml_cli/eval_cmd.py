"""`rcml eval --checkpoint PATH --data DIR --split test`: every metric of a saved checkpoint."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rcml_core.eval.similarity import SIMILARITIES


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("eval", help="evaluate a checkpoint on a split (paper 4.3's three tasks)")
    p.add_argument("--checkpoint", type=Path, required=True, help="a checkpoint folder (runs/x/checkpoints/best)")
    p.add_argument("--data", type=Path, help="dataset folder (default: the one the checkpoint was trained on)")
    p.add_argument("--split", default="test", choices=["val", "test"])
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--out", type=Path, help="write the metrics as JSON to this file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rcml_core.train.loop import evaluate_checkpoint

    metrics = evaluate_checkpoint(args.checkpoint, split=args.split, data=args.data, device=args.device)
    s = args.split
    print(f"{'similarity':<10} {'hit@1':>7} {'hit@5':>7} {'hit@10':>7} {'mrr':>7} {'rtype@3':>8}")
    for sim in SIMILARITIES:
        row = [metrics.get(f"{s}/{k}_{sim}", float("nan")) for k in ("hit@1", "hit@5", "hit@10", "mrr", "rtype_top3")]
        print(f"{sim.upper():<10} " + " ".join(f"{v:>7.4f}" for v in row[:4]) + f" {row[4]:>8.4f}")
    print(f"queries {int(metrics[f'{s}/n_queries'])}; relation-type pairs {int(metrics.get(f'{s}/n_rtype_pairs', 0))} "
          f"(chance top-3 {metrics.get(f'{s}/rtype_random_top3', float('nan')):.3f}); validity accuracy "
          f"{metrics.get(f'{s}/validity_acc', float('nan')):.4f} on {int(metrics.get(f'{s}/n_validity', 0))}")
    if f"{s}/free_hit@5" in metrics:
        print(f"training-free score (zA.zr)(zB.zr): hit@5 AVG {metrics[f'{s}/free_hit@5']:.4f}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(metrics, indent=2, sort_keys=True))
        print(f"metrics written to {args.out}")
    return 0
