"""The quality bar: RCML vs the same backbone trained with the plain CLIP loss, over seeds.

    python -m benchmarks.quality_bar --data data/synth-default --seeds 0 1 2

Trains `tiny` RCML (beta 0.6 unless overridden) and the CLIP baseline (method=clip: the
plain CLIP loss on intra pairs, evaluated with the relation text appended to each
title) for each seed, selects each run's checkpoint by the same rule (best val/hit@5 AVG,
epoch 0 included) and prints mean +- std of val Hit@5 per similarity type and the
relative gain of RCML on AVG. Target (DESIGN §6): >= +30% relative.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

from rcml_core.eval.similarity import SIMILARITIES
from rcml_core.train.loop import train
from rcml_core.train.run_config import resolve_run_config


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def run_method(data: Path, out: Path, method_overrides: list[str], seeds: Sequence[int], common: list[str],
               preset: str) -> list[dict[str, float]]:
    results = []
    for seed in seeds:
        run_dir = out / f"seed{seed}"
        config = resolve_run_config(preset, overrides=[f"data={data}", f"out_dir={run_dir}", f"seed={seed}",
                                                       *common, *method_overrides])
        t0 = time.perf_counter()
        result = train(config, resume=False)
        best = result.history[result.best_epoch]
        row = {f"hit@5_{s}": best[f"val/hit@5_{s}"] for s in SIMILARITIES}
        row.update(best_epoch=result.best_epoch, seconds=time.perf_counter() - t0)
        print(f"  seed {seed}: val hit@5 AVG {row['hit@5_avg']:.4f} (best epoch {result.best_epoch}, "
              f"{row['seconds']:.0f}s)", flush=True)
        results.append(row)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, default=Path("runs/quality_bar"))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--preset", default="tiny")
    p.add_argument("--rcml", nargs="*", default=["beta=0.6"], help="overrides for the RCML runs")
    p.add_argument("--methods", nargs="+", default=["rcml", "clip"], choices=["rcml", "clip"])
    p.add_argument("overrides", nargs="*", help="overrides for both methods (e.g. epochs=6)")
    args = p.parse_args(argv)
    data = args.data.resolve()
    table = {}
    for name, extra in (("rcml", ["method=rcml", *args.rcml]), ("clip", ["method=clip"])):
        if name not in args.methods:
            continue
        print(f"{name}:", flush=True)
        table[name] = run_method(data, args.out.resolve() / name, extra, args.seeds, list(args.overrides), args.preset)
    print(f"\nval Hit@5, mean +- std over seeds {args.seeds} (data {data})")
    print(f"{'method':<6} " + " ".join(f"{s.upper():>15}" for s in SIMILARITIES))
    summary = {}
    for name, rows in table.items():
        stats = {s: _mean_std([r[f"hit@5_{s}"] for r in rows]) for s in SIMILARITIES}
        summary[name] = stats
        print(f"{name:<6} " + " ".join(f"{m:>8.4f}+-{sd:<6.4f}" for m, sd in stats.values()))
    gain = {}
    if {"rcml", "clip"} <= set(summary):
        gain = {s: summary["rcml"][s][0] / summary["clip"][s][0] - 1 for s in SIMILARITIES}
        print("relative gain " + " ".join(f"{s.upper()} {g:+.1%}" for s, g in gain.items()))
        print(f"target: AVG >= +30% -> {'met' if gain['avg'] >= 0.30 else 'NOT met'}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "quality_bar.json").write_text(json.dumps({"runs": table, "relative_gain": gain}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
