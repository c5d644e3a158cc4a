"""The quality bar: TEST numbers of val-selected checkpoints for RCML, the CLIP baselines and the floor.

    python -m benchmarks.quality_bar --data data/synth-default --seeds 0 1 2
    python -m benchmarks.quality_bar --data DIR --seeds 0 1 2 --epochs 6 --variant no_edge_text no_edge_text=true

Rows, all on the same fixed test queries (docs/evaluation.md):
- RCML (`method=rcml` plus --rcml overrides, beta 0.6 by default) and each --variant (RCML plus its overrides);
- CLIP-concat (`method=clip`: plain CLIP loss on intra pairs, the relation text appended to each title at
  evaluation, the paper's baseline) and CLIP fine-tuned (`method=clip_plain`: the same training, evaluated
  on its own embeddings, the relation ignored); each is selected on its own protocol's val Hit@5;
- the training-free score (zA.zr)(zB.zr) on each seed's untrained backbone;
- the model-free reference scorers fitted on train edges (category popularity, category pair, category
  pair | relation), scored in expectation under random tie-breaking.

Every model run trains with the preset (and the given overrides), keeps its best checkpoint by val Hit@5
AVG (epoch 0 included) and is evaluated once on test. Per row and similarity type: mean ± std over seeds
and the 95 % interval pooled over seeds (each query averaged over seeds, then bootstrapped over distinct
query pairs), with the query and pair counts. Then RCML's relative gain over each CLIP row, the best
reference scorer / RCML, each variant / RCML, and the targets (best reference <= 0.75 x RCML, RCML >=
1.30 x the better CLIP row, no_edge_text <= 0.90 x RCML, the TT and II interval above chance). The JSON
(quality_bar.json in --out) has the layout of `summarise`.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from rcml_core.eval import keys
from rcml_core.eval.results import EvalResult, seed_table
from rcml_core.train.loop import evaluate_run, train
from rcml_core.train.run_config import resolve_run_config
from rcml_core.train.session import BACKBONE_DIR, load_checkpoint_session

SPLIT = "test"
SIMS = keys.SIMILARITIES
MODEL_ROWS = {"rcml": "RCML", "clip_concat": "CLIP-concat", "clip_plain": "CLIP fine-tuned"}
FLOOR_ROWS = {"training_free": keys.FREE, "ref_pop": keys.REF_POP, "ref_cat": keys.REF_CAT,
              "ref_catrel": keys.REF_CATREL}
TARGETS = {"best_reference_over_rcml": 0.75, "rcml_over_best_clip": 1.30, "no_edge_text_over_rcml": 0.90}


@dataclass(frozen=True)
class BarSettings:
    preset: str
    seeds: tuple[int, ...]
    out: Path  # run folders go to <out>/<row>/seed<k>
    tasks: tuple[str, ...] = ("retrieval",)


def run_model(name: str, overrides: list[str], settings: BarSettings,
              training_free: bool) -> tuple[list[EvalResult], list[dict]]:
    """Train `overrides` per seed, evaluate each best (val-selected) checkpoint on test: (results, run notes)."""
    results, runs = [], []
    for seed in settings.seeds:
        config = resolve_run_config(settings.preset, overrides=[*overrides, f"seed={seed}",
                                                                f"out_dir={settings.out / name / f'seed{seed}'}"])
        t0 = time.perf_counter()
        trained = train(config, resume=False, final_splits=())
        session = load_checkpoint_session(trained.best_checkpoint, device=config.train.device)
        result = evaluate_run(session, SPLIT, trained.best_checkpoint / BACKBONE_DIR, training_free=training_free,
                              tasks=settings.tasks)
        best = trained.history[trained.best_epoch]
        note = {"seed": seed, "best_epoch": trained.best_epoch, "val_hit@5": best[keys.SELECTION_KEY],
                "test_hit@5_avg": result.metrics[keys.metric_key(SPLIT, keys.PRIMARY_METRIC, "avg")],
                "seconds": round(time.perf_counter() - t0, 1)}
        print(f"  {name} seed {seed}: best epoch {note['best_epoch']} (val hit@5 {note['val_hit@5']:.4f}), "
              f"test hit@5 AVG {note['test_hit@5_avg']:.4f} ({note['seconds']:.0f}s)", flush=True)
        results.append(result)
        runs.append(note)
    return results, runs


def _stats(table: Mapping[str, float], key: str) -> dict[str, float]:
    lo, hi = keys.ci_keys(key)
    return {"mean": table.get(key, math.nan), "std": table.get(keys.std_key(key), math.nan),
            "ci_lo": table.get(lo, math.nan), "ci_hi": table.get(hi, math.nan)}


def _row(table: Mapping[str, float], prefix: str) -> dict:
    """{metric: {sim: {mean, std, ci_lo, ci_hi}}, n_queries, n_pairs, n_seeds} of one scorer; a model-free
    scorer repeats its one value under every similarity type."""
    row: dict = {}
    for metric in keys.RANK_METRICS:
        row[metric] = {sim: _stats(table, keys.metric_key(SPLIT, metric, None if prefix in keys.REFERENCES else sim,
                                                          prefix)) for sim in SIMS}
    row.update(n_queries=table.get(keys.count_key(SPLIT, keys.N_QUERIES, prefix), math.nan),
               n_pairs=table.get(keys.count_key(SPLIT, keys.N_PAIRS, prefix), math.nan),
               n_seeds=table.get(f"{SPLIT}/{keys.N_SEEDS}", math.nan))
    return row


def _avg(rows: Mapping[str, dict], name: str, sim: str = "avg") -> float:
    return rows[name][keys.PRIMARY_METRIC][sim]["mean"]


def summarise(model_results: Mapping[str, list[EvalResult]], labels: Mapping[str, str], n_candidates: int) -> dict:
    """The quality-bar document from each model row's per-seed test results (first row: RCML).

    {"split", "rows": {name: {"label", hit@1/hit@5/hit@10/mrr: {sim: {mean, std, ci_lo, ci_hi}}, n_queries,
    n_pairs, n_seeds}}, "relative_gain": {"vs_clip_concat"|"vs_clip_plain"|"vs_best_clip": {sim: RCML / CLIP - 1}},
    "best_reference_over_rcml": {"scorer", sim: ratio}, "variant_over_rcml": {name: {sim: ratio}},
    "targets": {name: {"value", "target", "met"}}, "chance": {metric: k / candidates}, "metrics": {name: flat}}
    """
    tables = {name: seed_table(results) for name, results in model_results.items()}
    first = next(iter(model_results))
    rows = {name: {"label": labels[name], **_row(t, keys.MODEL)} for name, t in tables.items()}
    floor_source = tables[first]  # the training-free score and the reference scorers ride on RCML's evaluation
    for name, prefix in FLOOR_ROWS.items():
        if keys.metric_key(SPLIT, keys.PRIMARY_METRIC, None if prefix in keys.REFERENCES else "avg", prefix) \
                in floor_source:
            rows[name] = {"label": keys.LABELS[prefix], **_row(floor_source, prefix)}
    doc: dict = {"split": SPLIT, "rows": rows, "metrics": tables,
                 "chance": {f"hit@{k}": min(1.0, k / n_candidates) for k in keys.HIT_KS}}
    ratio = lambda a, b: a / b if b else math.nan  # noqa: E731
    clips = [c for c in ("clip_concat", "clip_plain") if c in rows]
    if first in rows and clips:
        gain = {f"vs_{c}": {s: ratio(_avg(rows, first, s), _avg(rows, c, s)) - 1 for s in SIMS} for c in clips}
        gain["vs_best_clip"] = {s: ratio(_avg(rows, first, s), max(_avg(rows, c, s) for c in clips)) - 1 for s in SIMS}
        doc["relative_gain"] = gain
    refs = [r for r in ("ref_pop", "ref_cat", "ref_catrel") if r in rows]
    if refs:
        best = max(refs, key=lambda r: _avg(rows, r))
        doc["best_reference_over_rcml"] = {"scorer": best, **{s: ratio(_avg(rows, best, s), _avg(rows, first, s))
                                                              for s in SIMS}}
    variants = [n for n in model_results if n not in MODEL_ROWS]
    doc["variant_over_rcml"] = {v: {s: ratio(_avg(rows, v, s), _avg(rows, first, s)) for s in SIMS} for v in variants}
    doc["targets"] = _targets(doc, rows, first)
    return doc


def _targets(doc: dict, rows: dict, first: str) -> dict:
    out = {}
    check = lambda value, target, le: {"value": value, "target": f"{'<=' if le else '>='} {target}",  # noqa: E731
                                       "met": bool(value <= target if le else value >= target)}
    if "best_reference_over_rcml" in doc:
        out["best_reference_over_rcml_avg"] = check(doc["best_reference_over_rcml"]["avg"],
                                                    TARGETS["best_reference_over_rcml"], True)
    if "relative_gain" in doc:
        out["rcml_over_best_clip_avg"] = check(doc["relative_gain"]["vs_best_clip"]["avg"] + 1,
                                               TARGETS["rcml_over_best_clip"], False)
    if "no_edge_text" in doc["variant_over_rcml"]:
        out["no_edge_text_over_rcml_avg"] = check(doc["variant_over_rcml"]["no_edge_text"]["avg"],
                                                  TARGETS["no_edge_text_over_rcml"], True)
    chance = doc["chance"][keys.PRIMARY_METRIC]
    for sim in ("tt", "ii"):
        lo = rows[first][keys.PRIMARY_METRIC][sim]["ci_lo"]
        out[f"{sim}_ci_lo_above_chance"] = {"value": lo, "target": f"> {chance:.4f}", "met": bool(lo > chance)}
    return out


def print_summary(doc: dict) -> None:
    rows = doc["rows"]
    first_row = next(iter(rows.values()))
    print(f"\n{SPLIT} Hit@5 of val-selected checkpoints: mean ± std over seeds [pooled 95% CI over distinct pairs]; "
          f"{int(first_row['n_queries'])} queries over {int(first_row['n_pairs'])} pairs, "
          f"{int(first_row['n_seeds'])} seed(s); chance {doc['chance']['hit@5']:.4f}")
    width = max(len(r["label"]) for r in rows.values())
    print(f"{'':<{width}}  " + "  ".join(f"{s.upper():<31}" for s in SIMS))
    for row in rows.values():
        cells = [row[keys.PRIMARY_METRIC][s] for s in SIMS]
        print(f"{row['label']:<{width}}  " + "  ".join(
            f"{c['mean']:.3f} ± {c['std']:.3f} [{c['ci_lo']:.3f}, {c['ci_hi']:.3f}]" for c in cells))
    for name, gain in doc.get("relative_gain", {}).items():
        print(f"RCML relative gain {name}: " + " ".join(f"{s.upper()} {g:+.1%}" for s, g in gain.items()))
    if "best_reference_over_rcml" in doc:
        b = doc["best_reference_over_rcml"]
        print(f"best reference ({rows[b['scorer']]['label']}) / RCML: " +
              " ".join(f"{s.upper()} {b[s]:.2f}" for s in SIMS))
    for name, r in doc["variant_over_rcml"].items():
        print(f"{name} / RCML: " + " ".join(f"{s.upper()} {v:.2f}" for s, v in r.items()))
    for name, t in doc["targets"].items():
        print(f"target {name}: {t['value']:.4f} {t['target']} -> {'met' if t['met'] else 'NOT met'}")


def _variant(text: list[str]) -> tuple[str, list[str]]:
    name, *overrides = text
    if not overrides or any("=" not in o for o in overrides) or "=" in name or name in MODEL_ROWS:
        raise argparse.ArgumentTypeError(f"--variant NAME KEY=VALUE...: got {text}")
    return name, overrides


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, default=Path("runs/quality_bar"))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--preset", default="tiny")
    p.add_argument("--epochs", type=int, help="epochs per run (default: the preset's)")
    p.add_argument("--max-steps-per-epoch", type=int, help="cap steps per epoch (quick checks)")
    p.add_argument("--rcml", nargs="*", default=["beta=0.6"], help="overrides for the RCML runs and its variants")
    p.add_argument("--variant", nargs="+", action="append", default=[], metavar=("NAME", "KEY=VALUE"),
                   help="an extra RCML row: a name and its overrides (e.g. --variant no_edge_text no_edge_text=true)")
    p.add_argument("--methods", nargs="+", default=list(MODEL_ROWS), choices=list(MODEL_ROWS))
    p.add_argument("--all-tasks", action="store_true", help="also relation type and validity (slower)")
    p.add_argument("overrides", nargs="*", help="overrides for every run (e.g. batch_size=32); give them right after "
                                                "--data, since --seeds and --variant take every word that follows")
    args = p.parse_args(argv)
    try:
        variants = dict(_variant(v) for v in args.variant)
    except argparse.ArgumentTypeError as exc:
        p.error(str(exc))
    data = args.data.resolve()
    common = [f"data={data}", *args.overrides]
    common += [f"epochs={args.epochs}"] if args.epochs is not None else []
    common += [f"max_steps_per_epoch={args.max_steps_per_epoch}"] if args.max_steps_per_epoch else []
    plan = {"rcml": ["method=rcml", *args.rcml], "clip_concat": ["method=clip"], "clip_plain": ["method=clip_plain"]}
    plan = {n: o for n, o in plan.items() if n in args.methods or n == "rcml"}
    plan.update({n: ["method=rcml", *args.rcml, *o] for n, o in variants.items()})
    settings = BarSettings(args.preset, tuple(args.seeds), args.out.resolve(),
                           ("retrieval", "relation_type", "validity") if args.all_tasks else ("retrieval",))
    results, runs = {}, {}
    for name, overrides in plan.items():
        print(f"{name}: {' '.join(overrides)}", flush=True)
        results[name], runs[name] = run_model(name, [*common, *overrides], settings, training_free=name == "rcml")
    n_candidates = _candidates(data)
    doc = summarise(results, {**MODEL_ROWS, **{v: f"RCML {v}" for v in variants}}, n_candidates)
    doc.update(data=str(data), seeds=list(args.seeds), preset=args.preset, overrides=list(args.overrides),
               plan=plan, runs=runs, n_candidates=n_candidates)
    print_summary(doc)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "quality_bar.json"
    path.write_text(json.dumps(_json_safe(doc), indent=2, default=str))
    print(f"written: {path}")
    return 0


def _json_safe(value):
    """NaN / inf -> None, so the file is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _candidates(data: Path) -> int:
    from rcml_core.data.io import load_dataset

    return int(load_dataset(data).retrieval[SPLIT].candidates.shape[1])


if __name__ == "__main__":
    raise SystemExit(main())
