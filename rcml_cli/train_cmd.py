"""`rcml train --data DIR [--preset tiny|clip-vit-b32] [--config FILE.yaml] [key=value ...]`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rcml_core.eval import keys
from rcml_core.runtime.layout import METRICS_FILE
from rcml_core.runtime.run_config import ALIASES, PRESETS
from rcml_core.writable import require_writable

EPILOG = (
    "overrides: key=value, either a dotted path (optim.lr=1e-4, model.summary_mix=logit) or a short key: "
    + ", ".join(sorted(ALIASES) + ["seed", "out_dir", "method", "data"])
    + ".  Example: rcml train --data data/synth --preset tiny beta=1.0 no_inter_edges=true seed=1 out_dir=runs/x"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="train one RCML (or CLIP baseline) configuration",
                              epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, help="canonical dataset folder (rcml data ...)")
    p.add_argument("--preset", default="tiny", choices=sorted(PRESETS), help="defaults for the backbone and optimiser")
    p.add_argument("--config", type=Path, help="YAML file with config sections (backbone, model, loss, optim, ...)")
    p.add_argument("--no-resume", action="store_true", help="start over even if out_dir holds a checkpoint")
    p.add_argument("--test", action="store_true", help="also evaluate the selected checkpoint on the test split")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    p.set_defaults(func=run)


def _print_epoch(epoch: int, metrics: dict[str, float], checkpoint: Path | None) -> None:
    parts = [f"epoch {epoch:>2}"]
    if "train/loss" in metrics:
        parts.append(f"loss {metrics['train/loss']:.4f}")
    parts.append(f"val hit@5 {metrics[keys.SELECTION_METRIC]:.4f}")
    parts += [f"{s} {metrics[keys.metric_key('val', keys.PRIMARY_METRIC, s)]:.3f}" for s in keys.SIMILARITIES[:-1]]
    if "time/epoch_s" in metrics:
        parts.append(f"{metrics['time/epoch_s']:.1f}s")
    print("  ".join(parts), flush=True)


def run(args: argparse.Namespace) -> int:
    from rcml_core.train.loop import train
    from rcml_core.runtime.run_config import resolve_run_config

    overrides = list(args.overrides)
    if args.data is not None:
        overrides.append(f"data={args.data.resolve()}")
    config = resolve_run_config(args.preset, args.config, overrides)
    require_writable(Path(config.out_dir), "out_dir")  # before the data and the model are built
    print(f"rcml train: method {config.method}, ablation {config.ablation.name}, beta {config.effective_model.beta}, "
          f"data {config.data}, out_dir {config.out_dir}", flush=True)
    splits = ("val", "test") if args.test else ("val",)
    result = train(config, on_epoch_end=_print_epoch, resume=not args.no_resume, final_splits=splits)
    print(f"best epoch {result.best_epoch} ({result.status}); checkpoint {result.best_checkpoint}")
    for split, metrics in result.final.items():
        shown = [*keys.RANK_METRICS, keys.outcome_name(keys.RTYPE_TOP3, keys.AVG), keys.VALIDITY_ACC]
        print(f"{split}: " + "  ".join(f"{k} {metrics[f'{split}/{k}']:.4f}" for k in shown
                                       if f"{split}/{k}" in metrics))
    print(f"metrics: {result.run_dir / METRICS_FILE}")
    truncated = json.loads((result.run_dir / METRICS_FILE).read_text())["data"]
    if truncated["titles_truncated"] or truncated["relations_truncated"]:
        print(f"note: texts longer than {config.backbone.max_text_tokens} tokens were truncated: "
              f"{truncated['titles_truncated']} titles, {truncated['relations_truncated']} relation texts")
    return 0
