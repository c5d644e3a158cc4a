"""`rcml data synth --out DIR`: generate the synthetic relational catalog as a canonical dataset.

Parsing only: the generator is `rcml_core.data.synth.generate_catalog`. Prints a short
summary (counts, relations, skips, time taken).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from rcml_core.data.format.io import read_table
from rcml_core.data.format.schema import RELATIONS_FILE, RELATIONS_SCHEMA, Manifest
from rcml_core.data.synth import PRESET_NAMES, generate_catalog, synth_preset
from rcml_core.writable import require_writable

_TEXT_WIDTH = 110  # relation texts are long; the summary shows their start


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "synth",
        help="generate the synthetic relational catalog (simulated store -> user clusters -> canonical dataset)",
    )
    parser.add_argument("--out", type=Path, required=True, help="dataset folder to write")
    parser.add_argument(
        "--preset",
        choices=PRESET_NAMES,
        default="default",
        help="catalog size (tiny ~150 items, small ~600, default ~3000)",
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed (default 0); same seed, same dataset")
    parser.add_argument("--items", type=int, default=None, help="number of items (overrides the preset)")
    parser.add_argument("--users", type=int, default=None, help="number of users (overrides the preset)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing dataset folder")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def _split_counts(counts: dict) -> str:
    return ", ".join(f"{s} {counts[s]}" for s in ("train", "val", "test"))


def summary_lines(manifest: Manifest, relations: pd.DataFrame, out: Path, seconds: float) -> list[str]:
    """The printed summary: counts per split, eval set sizes, each relation, skips, time."""
    c = manifest.counts
    params = manifest.source["params"]
    lines = [
        f"synth: wrote {out} in {seconds:.1f} s (seed {params['seed']}, {params['n_items']} items, "
        f"{params['n_users']} users)",
        f"items: {c['items']['total']} ({_split_counts(c['items'])})",
        f"users: {c['users']} ({c['users_clustered']} clustered); interactions: {c['interactions']}",
        f"edges: {c['edges']['total']} ({_split_counts(c['edges'])}); "
        f"cross-split edges dropped: {c['cross_split_edges_dropped']}",
        f"eval: retrieval queries val {c['retrieval_queries']['val']} / test {c['retrieval_queries']['test']}, "
        f"relation-type pairs val {c['relation_type_pairs']['val']} / test {c['relation_type_pairs']['test']}",
        f"relations: {c['relations']} inter (+ the intra relation)",
    ]
    inter = relations[relations["kind"] == "inter"]
    for rid, text, n_users in inter[["relation_id", "text", "n_users"]].itertuples(index=False):
        short = text if len(text) <= _TEXT_WIDTH else text[: _TEXT_WIDTH - 3] + "..."
        lines.append(f"  r{rid} ({n_users} users): {short}")
    skips = manifest.skips
    if not skips["total"]:
        lines.append("skipped records: none")
    else:
        lines.append(f"skipped records: {skips['total']} (policy: {skips['policy']})")
        lines.extend(f"  {reason}: {n}" for reason, n in skips["counts"].items())
    return lines


def run(args: argparse.Namespace) -> int:
    overrides = {
        field: value
        for field, value in (("seed", args.seed), ("n_items", args.items), ("n_users", args.users))
        if value is not None
    }
    config = synth_preset(args.preset, **overrides)
    require_writable(args.out.resolve().parent, f"--out {args.out}: the folder")
    start = time.perf_counter()
    manifest = generate_catalog(config, args.out, overwrite=args.overwrite, progress=not args.no_progress)
    seconds = time.perf_counter() - start
    relations = read_table(args.out, RELATIONS_FILE, RELATIONS_SCHEMA).to_pandas()
    for line in summary_lines(manifest, relations, args.out, seconds):
        print(line)
    return 0
