"""Descriptive statistics of a dataset for `rcml data check`, and the manifest counts
they must agree with."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rcml_core.data.format.schema import EVAL_SPLITS, SPLITS, relation_type_file, retrieval_file, validity_file

TEXT_WIDTH = 100


@dataclass(frozen=True)
class SplitStats:
    items: int
    edges: int  # (pair, relation) rows
    pairs: int  # distinct related pairs
    relations: int  # distinct inter relations with at least one edge
    degree_mean: float  # distinct neighbours per item of the split (isolated items count as 0)
    degree_median: float
    degree_p90: float
    degree_max: int


@dataclass(frozen=True)
class DatasetStats:
    splits: dict[str, SplitStats]
    relations: int  # inter relations in relations.parquet
    edges_per_relation: tuple[tuple[int, str, int], ...]  # (relation id, text, edges in all splits)
    eval_sizes: dict[str, int]  # by eval file, absent files omitted

    def manifest_counts(self) -> dict:
        """The subset of manifest["counts"] that the tables determine."""
        counts = {
            "items": {**{s: self.splits[s].items for s in SPLITS}, "total": sum(v.items for v in self.splits.values())},
            "edges": {**{s: self.splits[s].edges for s in SPLITS}, "total": sum(v.edges for v in self.splits.values())},
            "pairs": {s: self.splits[s].pairs for s in SPLITS},
            "relations": self.relations,
        }
        groups = (
            ("retrieval_queries", retrieval_file, EVAL_SPLITS),
            ("relation_type_pairs", relation_type_file, EVAL_SPLITS),
            ("validity_instances", validity_file, SPLITS),
        )
        for key, file_of, splits in groups:
            if all(file_of(s) in self.eval_sizes for s in splits):
                counts[key] = {s: self.eval_sizes[file_of(s)] for s in splits}
        return counts

    def lines(self) -> list[str]:
        out = [f"{'split':<6} {'items':>7} {'edges':>8} {'pairs':>8} {'rels':>5}   degree mean / median / p90 / max"]
        for s in SPLITS:
            v = self.splits[s]
            out.append(
                f"{s:<6} {v.items:>7} {v.edges:>8} {v.pairs:>8} {v.relations:>5}   "
                f"{v.degree_mean:.2f} / {v.degree_median:g} / {v.degree_p90:g} / {v.degree_max}"
            )
        out.append(f"edges per relation ({self.relations} inter relations):")
        for rid, text, n in self.edges_per_relation:
            short = text if len(text) <= TEXT_WIDTH else text[: TEXT_WIDTH - 3] + "..."
            out.append(f"  {rid:>3} {n:>8}  {short}")
        out.append("eval sets: " + ", ".join(f"{k.split('/')[-1].removesuffix('.parquet')} {n}" for k, n in self.eval_sizes.items()))
        return out


def _split_stats(items: pd.DataFrame, edges: pd.DataFrame, split: str) -> SplitStats:
    ids = items.loc[items["split"] == split, "item_id"].astype(str).to_numpy()
    e = edges[edges["split"] == split]
    pairs = e[["src", "dst"]].drop_duplicates()
    ends = pd.concat([pairs["src"], pairs["dst"]]).astype(str)
    degree = ends.value_counts().reindex(ids, fill_value=0).to_numpy(dtype=np.int64)  # (N_split,)
    has = len(degree) > 0
    return SplitStats(
        items=len(ids),
        edges=len(e),
        pairs=len(pairs),
        relations=int(e["relation_id"].nunique()),
        degree_mean=float(degree.mean()) if has else 0.0,
        degree_median=float(np.median(degree)) if has else 0.0,
        degree_p90=float(np.percentile(degree, 90)) if has else 0.0,
        degree_max=int(degree.max()) if has else 0,
    )


def dataset_stats(items: pd.DataFrame, relations: pd.DataFrame, edges: pd.DataFrame, tables: dict) -> DatasetStats:
    """tables: every readable table by relative file name (eval sizes come from it)."""
    per_rel = edges["relation_id"].value_counts()
    inter = relations[relations["kind"] == "inter"].sort_values("relation_id")
    eval_files = [retrieval_file(s) for s in EVAL_SPLITS] + [relation_type_file(s) for s in EVAL_SPLITS]
    eval_files += [validity_file(s) for s in SPLITS]
    return DatasetStats(
        splits={s: _split_stats(items, edges, s) for s in SPLITS},
        relations=len(inter),
        edges_per_relation=tuple(
            (int(r), str(t), int(per_rel.get(r, 0))) for r, t in zip(inter["relation_id"], inter["text"])
        ),
        eval_sizes={f: len(tables[f]) for f in eval_files if f in tables},
    )
