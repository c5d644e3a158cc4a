"""`rcml compare RUN_A RUN_B [RUN_C ...]`: is one configuration really better than another?

Prints the params side by side (differences marked `*`) and, for every Hit@k / MRR outcome, each
configuration minus the first with a paired 95 % bootstrap interval over the same queries (distinct query
pairs resampled as clusters, seeds resampled jointly when both have the same seeds), a two-sided p-value
and, with more than two configurations, its Holm adjustment over the comparisons (tracking.compare).

A run id of a sweep trial stands for its configuration: its sibling runs with the other seeds are pooled
(`--no-expand-seeds` keeps the one run); `ID1,ID2,ID3` names a configuration's seed runs explicitly.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
STORE_HELP = ("MLflow tracking URI (default: MLFLOW_TRACKING_URI, else the local store <home>/mlflow.db "
              "that the sweeps write)")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("compare", help="compare configurations run by run: params, paired CIs, p-values",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", metavar="RUN", help="MLflow run id (or ID1,ID2,... : one configuration's seeds)")
    p.add_argument("--tracking-uri", help=STORE_HELP)
    p.add_argument("--home", type=Path, help="sweep home folder whose mlflow.db to read (default: $RCML_HOME or "
                                             "the project folder)")
    p.add_argument("--outcomes", default="auto", choices=["auto", "test", "val", "selection-val"],
                   help="which per-query outcomes to compare (auto: test when every run has them, else val, "
                        "else the val selection queries)")
    p.add_argument("--metric", action="append", default=None, metavar="NAME",
                   help="only these outcomes, by name or prefix (hit@5, mrr_avg; repeatable; default: every "
                        "Hit@k and MRR)")
    p.add_argument("--no-expand-seeds", action="store_true", help="compare exactly the runs given")
    p.add_argument("--all-params", action="store_true", help="list the params that are equal too")
    p.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default 2000)")
    p.add_argument("--out", type=Path, help="also write params.csv and differences.csv to this folder")
    p.set_defaults(func=run)


def mlflow_client(args: argparse.Namespace):
    """The MlflowClient of --tracking-uri, else of MLFLOW_TRACKING_URI, else of the store in --home."""
    import os

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from mlflow.tracking import MlflowClient

    from cluster.paths import default_home
    from tracking.store import resolve_tracking

    uri = (args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", "").strip()
           or resolve_tracking(args.home or default_home()).uri)
    return MlflowClient(uri)


def _signed(x: float) -> str:
    return "nan" if math.isnan(x) else f"{x:+.4f}"


def lines_for(comparison, all_params: bool = False) -> list[str]:
    """The terminal rendering of a tracking.compare_runs.Comparison."""
    groups, table, params = comparison.groups, comparison.differences, comparison.params
    first = groups[0]
    out = [f"compared on outcomes/{comparison.outcomes_file}.npz: {int(table['n_queries'].iloc[0])} queries over "
           f"{int(table['n_pairs'].iloc[0])} distinct item pairs"]
    for letter, g in zip(LETTERS, groups):
        out.append(f"  {letter} = {g.label}: run(s) {' '.join(r.info.run_id[:8] for r in g.runs)}, seed(s) "
                   f"{' '.join(map(str, g.seeds))}")
    differing = params[params["differs"] == "*"]
    shown = params if all_params else differing
    out.append(f"params: {len(differing)} of {len(params)} differ" + ("" if all_params else
                                                                       " (--all-params lists all)"))
    labels = [g.label for g in groups]
    width = max([len(p) for p in shown["param"]] + [5])
    col = max(12, *(len(label) for label in labels))
    out.append("    " + f"{'param':<{width}}  " + "  ".join(f"{label:>{col}}" for label in labels))
    for _, row in shown.iterrows():
        out.append(f"  {row['differs'] or ' '} {row['param']:<{width}}  " +
                   "  ".join(f"{str(row[label])[:col]:>{col}}" for label in labels))
    m = len(groups) - 1
    paired = "seeds paired" if bool(table["seeds_paired"].iloc[0]) else "seeds resampled per configuration"
    holm = f", Holm-adjusted over the {m} comparisons of each metric" if m > 1 else ""
    out.append(f"differences against A; 95% paired bootstrap CI over distinct "
               f"query pairs, {paired}; p two-sided{holm}; * significant at 0.05")
    name_w = max(len(n) for n in table["metric"])
    for letter, label in zip(LETTERS[1:], labels[1:]):
        rows = table[table["config"] == label]
        out.append(f"  {letter} - A: {label} - {first.label}")
        out.append(f"    {'metric':<{name_w}}  {'A':>7}  {letter:>7}  {'diff':>8}  {'95% CI':>19}  {'p':>6}"
                   + (f"  {'p_holm':>6}" if m > 1 else ""))
        for _, r in rows.iterrows():
            p_shown = f"  {r['p_holm']:6.3f}" if m > 1 else ""
            out.append(f"    {r['metric']:<{name_w}}  {r['mean_reference']:7.4f}  {r['mean']:7.4f}  "
                       f"{_signed(r['diff']):>8}  [{_signed(r['ci_lo'])}, {_signed(r['ci_hi'])}]  {r['p']:6.3f}"
                       f"{p_shown}  {'*' if r['significant'] else ''}".rstrip())
    return out


def run(args: argparse.Namespace) -> int:
    from rcml_core.errors import RCMLError
    from tracking.compare_runs import compare_runs

    if len(args.runs) > len(LETTERS):
        raise RCMLError(f"compare takes at most {len(LETTERS)} configurations, got {len(args.runs)}")
    if args.resamples < 100:
        raise RCMLError(f"--resamples must be at least 100, got {args.resamples}")
    comparison = compare_runs(mlflow_client(args), args.runs, outcomes=args.outcomes,
                              expand_seeds=not args.no_expand_seeds, metrics=args.metric, n_resamples=args.resamples)
    for line in lines_for(comparison, args.all_params):
        print(line)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        comparison.params.to_csv(args.out / "params.csv", index=False)
        comparison.differences.to_csv(args.out / "differences.csv", index=False)
        print(f"written: {args.out / 'params.csv'}, {args.out / 'differences.csv'}")
    return 0
