"""`check_dataset`: verify every invariant of a dataset folder and collect all problems.

Unlike `load_dataset`, which stops at the first thing it cannot load, this reads what
it can and reports each problem with the file and record it concerns. Checked:
manifest (present, schema version, counts, content hash), items (unique non-empty
ids, non-empty text and category, a known split, image path relative and inside the
folder with symbolic links resolved, image file present), relations (ids 0..R-1,
0 = the intra text, distinct non-empty inter texts),
edges (known endpoints in the edge's split, src < dst, known inter relation, no
duplicates, support >= 1), retrieval (A, B, negatives in A's split; (A, r, B) an
edge; negatives distinct, not A/B, unrelated to A; one negative count), relation-type
pairs (same split, relation ids exactly those of the pair's edges), validity (label 1
iff the edge exists, endpoints in one split, labels balanced).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from rcml_core.data.format.image_paths import image_path_problem
from rcml_core.data.format.stats import DatasetStats, dataset_stats
from rcml_core.data.format.io import content_hash, read_table, table_files
from rcml_core.data.format.skips import skip_summary_lines
from rcml_core.data.format.schema import (
    EDGES_FILE,
    EVAL_SPLITS,
    INTRA_RELATION_ID,
    INTRA_RELATION_TEXT,
    ITEMS_FILE,
    MANIFEST_FILE,
    RELATIONS_FILE,
    SCHEMA_VERSION,
    SPLITS,
    relation_type_file,
    retrieval_file,
    validity_file,
)
from rcml_core.errors import DataError

MAX_ROWS_PER_CHECK = 20  # rows listed per failed check; the rest are counted in one line


@dataclass(frozen=True)
class Problem:
    where: str  # file and record, e.g. "edges.parquet row 3 (I001 - I007, relation 2)"
    what: str  # what is wrong

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


@dataclass(frozen=True)
class CheckReport:
    root: Path
    problems: tuple[Problem, ...]
    stats: DatasetStats | None  # None when the core tables cannot be read
    skips: dict = field(default_factory=dict)  # as recorded in the manifest

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary_lines(self) -> list[str]:
        lines = [f"dataset {self.root}"]
        if self.stats is not None:
            lines += self.stats.lines()
        lines += skip_summary_lines(self.skips, "skipped records at build")
        return lines


class _Collector:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, where: str, what: str) -> None:
        self.problems.append(Problem(where, what))

    def rows(self, file: str, frame: pd.DataFrame, mask: np.ndarray | pd.Series, what: str, label=None,
             each: list | None = None) -> None:
        """One problem per offending row (the first MAX_ROWS_PER_CHECK, then a count); each: a message per row
        of `frame` to report instead of `what` (which then only words the count)."""
        hits = np.flatnonzero(np.asarray(mask, dtype=bool))
        for r in hits[:MAX_ROWS_PER_CHECK]:
            tag = f" ({label(frame.iloc[r])})" if label else ""
            self.add(f"{file} row {r}{tag}", what if each is None else each[r])
        if len(hits) > MAX_ROWS_PER_CHECK:
            self.add(file, f"{len(hits) - MAX_ROWS_PER_CHECK} more rows: {what}")


def _blank(s: pd.Series) -> pd.Series:
    return s.isna() | s.astype(str).str.strip().eq("")


def _edge_label(row: pd.Series) -> str:
    return f"{row['src']} - {row['dst']}, relation {row['relation_id']}"


def _check_items(c: _Collector, root: Path, items: pd.DataFrame) -> None:
    label = lambda r: f"item {r['item_id']!r}"  # noqa: E731
    c.rows(ITEMS_FILE, items, _blank(items["item_id"]), "item_id is empty")
    c.rows(ITEMS_FILE, items, items["item_id"].duplicated(keep="first"), "item_id repeats an earlier row", label)
    c.rows(ITEMS_FILE, items, _blank(items["text"]), "text is empty", label)
    c.rows(ITEMS_FILE, items, _blank(items["category"]), "category is empty", label)
    c.rows(ITEMS_FILE, items, ~items["split"].isin(SPLITS), f"split is not one of {SPLITS}", label)
    resolved = root.resolve()
    outside, missing = [], []
    for rel in items["image"].tolist():
        problem = image_path_problem(rel)
        if problem is None and resolved not in (root / rel).resolve().parents:
            problem = f"image path {rel!r} resolves outside the dataset folder (a symbolic link)"
        outside.append(problem)
        missing.append(problem is None and not (root / rel).is_file())
    c.rows(ITEMS_FILE, items, np.array([p is not None for p in outside], dtype=bool),
           "image path outside the dataset folder", label, each=outside)
    c.rows(ITEMS_FILE, items, np.array(missing, dtype=bool), "image file is missing", label)
    for split in SPLITS:
        if not (items["split"] == split).any():
            c.add(ITEMS_FILE, f"split {split!r} has no items")


def _check_relations(c: _Collector, rel: pd.DataFrame) -> None:
    ids = np.sort(rel["relation_id"].to_numpy())
    if not np.array_equal(ids, np.arange(len(rel))):
        c.add(RELATIONS_FILE, f"relation ids must be 0..{len(rel) - 1} without gaps or repeats, found {ids.tolist()}")
    intra = rel[rel["relation_id"] == INTRA_RELATION_ID]
    if len(intra) != 1 or intra["kind"].iat[0] != "intra" or intra["text"].iat[0] != INTRA_RELATION_TEXT:
        c.add(RELATIONS_FILE, f"relation {INTRA_RELATION_ID} must be the intra relation with text {INTRA_RELATION_TEXT!r}")
    inter = rel[rel["relation_id"] != INTRA_RELATION_ID]
    label = lambda r: f"relation {r['relation_id']}"  # noqa: E731
    c.rows(RELATIONS_FILE, inter, inter["kind"] != "inter", "kind must be 'inter' for relation ids > 0", label)
    c.rows(RELATIONS_FILE, inter, _blank(inter["text"]), "relation text is empty", label)
    c.rows(RELATIONS_FILE, inter, inter["text"].duplicated(keep="first"), "relation text repeats another relation's", label)
    if len(inter) == 0:
        c.add(RELATIONS_FILE, "no inter relation")


def _check_edges(c: _Collector, edges: pd.DataFrame, split_of: pd.Series, inter_ids: set[int]) -> None:
    s_src = split_of.reindex(edges["src"].to_numpy()).to_numpy()
    s_dst = split_of.reindex(edges["dst"].to_numpy()).to_numpy()
    unknown = pd.isna(s_src) | pd.isna(s_dst)
    c.rows(EDGES_FILE, edges, unknown, "endpoint is not an item", _edge_label)
    c.rows(EDGES_FILE, edges, ~unknown & ((s_src != edges["split"]) | (s_dst != edges["split"])),
           "endpoints are not both in the edge's split", _edge_label)  # fmt: skip
    c.rows(EDGES_FILE, edges, ~(edges["src"] < edges["dst"]), "src must sort before dst", _edge_label)
    c.rows(EDGES_FILE, edges, ~edges["relation_id"].isin(list(inter_ids)), "relation id is not an inter relation", _edge_label)
    c.rows(EDGES_FILE, edges, edges.duplicated(["src", "dst", "relation_id"]), "edge repeats an earlier row", _edge_label)
    c.rows(EDGES_FILE, edges, edges["support"] < 1, "support must be >= 1", _edge_label)


class _Graph:
    """Edge look-ups for the eval-set checks: pair keys and neighbour sets."""

    def __init__(self, edges: pd.DataFrame) -> None:
        pairs = [(min(a, b), max(a, b)) for a, b in zip(edges["src"].astype(str), edges["dst"].astype(str))]
        rels = edges["relation_id"].astype(int).tolist()
        self.triples = {(x, y, r) for (x, y), r in zip(pairs, rels)}
        self.pair_rel: dict[tuple[str, str], set[int]] = {}
        self.nbrs: dict[str, set[str]] = {}
        for (x, y), r in zip(pairs, rels):
            self.pair_rel.setdefault((x, y), set()).add(r)
            self.nbrs.setdefault(x, set()).add(y)
            self.nbrs.setdefault(y, set()).add(x)

    def has(self, x: str, y: str, r: int) -> bool:
        return (min(x, y), max(x, y), r) in self.triples


def _check_retrieval(c: _Collector, file: str, t: pd.DataFrame, split: str, split_of: pd.Series, g: _Graph) -> None:
    lengths = t["negatives"].map(len)
    if len(t) and lengths.nunique() != 1:
        c.add(file, f"queries have different numbers of negatives: {sorted(lengths.unique().tolist())}")
    bad: dict[str, list[int]] = {}
    for r, (a, rel, b, negs) in enumerate(zip(t["src"], t["relation_id"], t["dst"], t["negatives"])):
        negs = [str(x) for x in negs]
        checks = {
            f"query item or positive is not an item of split {split!r}": split_of.get(a) != split or split_of.get(b) != split,
            "(A, relation, B) is not an edge": not g.has(a, b, int(rel)),
            f"a negative is not an item of split {split!r}": any(split_of.get(n) != split for n in negs),
            "negatives are not distinct or include A or B": len(set(negs)) != len(negs) or a in negs or b in negs,
            "a negative is related to A": bool(g.nbrs.get(a, set()).intersection(negs)),
        }
        for what, failed in checks.items():
            if failed:
                bad.setdefault(what, []).append(r)
    for what, rows in bad.items():
        mask = np.zeros(len(t), dtype=bool)
        mask[rows] = True
        c.rows(file, t, mask, what, lambda row: f"query {row['query_id']}: {row['src']} -> {row['dst']}")


def _check_relation_type(c: _Collector, file: str, t: pd.DataFrame, split: str, split_of: pd.Series, g: _Graph) -> None:
    wrong_split, wrong_rel = [], []
    for a, b, rels in zip(t["src"], t["dst"], t["relation_ids"]):
        wrong_split.append(split_of.get(a) != split or split_of.get(b) != split)
        wrong_rel.append(set(int(x) for x in rels) != g.pair_rel.get((min(a, b), max(a, b)), set()))
    label = lambda row: f"pair {row['pair_id']}: {row['src']} - {row['dst']}"  # noqa: E731
    c.rows(file, t, np.array(wrong_split), f"pair is not inside split {split!r}", label)
    c.rows(file, t, np.array(wrong_rel), "relation ids differ from the pair's edges", label)


def _check_validity(c: _Collector, file: str, t: pd.DataFrame, split: str, split_of: pd.Series, g: _Graph) -> None:
    holds = np.array([g.has(a, b, int(r)) for a, b, r in zip(t["src"], t["dst"], t["relation_id"])], dtype=bool)
    in_split = (split_of.reindex(t["src"].to_numpy()).to_numpy() == split) & (
        split_of.reindex(t["dst"].to_numpy()).to_numpy() == split
    )
    label = lambda row: f"instance {row['instance_id']}: {row['src']} - {row['dst']}, relation {row['relation_id']}"  # noqa: E731
    c.rows(file, t, holds != (t["label"].to_numpy() == 1), "label disagrees with the edges", label)
    c.rows(file, t, ~in_split, f"pair is not inside split {split!r}", label)
    c.rows(file, t, ~t["label"].isin([0, 1]), "label must be 0 or 1", label)
    n_pos = int((t["label"] == 1).sum())
    if n_pos * 2 != len(t):
        c.add(file, f"labels are not balanced: {n_pos} positive of {len(t)}")


def _check_manifest(c: _Collector, root: Path, manifest: dict, stats: DatasetStats) -> None:
    if manifest.get("schema_version") != SCHEMA_VERSION:
        c.add(MANIFEST_FILE, f"schema_version is {manifest.get('schema_version')!r}, expected {SCHEMA_VERSION!r}")
    counts = manifest.get("counts", {})
    for key, actual in stats.manifest_counts().items():
        if counts.get(key) != actual:
            c.add(MANIFEST_FILE, f"counts.{key} is {counts.get(key)!r} but the tables hold {actual!r}")
    try:
        actual_hash = content_hash(root)
    except DataError as exc:
        c.add(MANIFEST_FILE, f"content hash cannot be computed: {exc}")
        return
    if manifest.get("content_hash") != actual_hash:
        c.add(MANIFEST_FILE, f"content_hash {manifest.get('content_hash')!r} does not match the files ({actual_hash!r})")


def check_dataset(root: Path | str) -> CheckReport:
    """Check every invariant; the report lists all problems found (empty when the dataset is valid)."""
    root = Path(root)
    c = _Collector()
    manifest: dict = {}
    try:
        manifest = json.loads((root / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        c.add(MANIFEST_FILE, f"missing or unreadable ({exc})")
    tables: dict[str, pd.DataFrame] = {}
    for rel, schema in table_files():
        try:
            tables[rel] = read_table(root, rel, schema).to_pandas()
        except DataError as exc:
            c.add(rel, str(exc))
    core = (ITEMS_FILE, RELATIONS_FILE, EDGES_FILE)
    if not all(k in tables for k in core):
        return CheckReport(root, tuple(c.problems), None, manifest.get("skips", {}))
    items, rel, edges = (tables[k] for k in core)
    _check_items(c, root, items)
    _check_relations(c, rel)
    split_of = items.drop_duplicates("item_id").set_index("item_id")["split"]
    _check_edges(c, edges, split_of, set(rel.loc[rel["relation_id"] != INTRA_RELATION_ID, "relation_id"].tolist()))
    g = _Graph(edges)
    for split in SPLITS:
        evals = ((retrieval_file(split), _check_retrieval), (relation_type_file(split), _check_relation_type))
        for file, fn in (*(evals if split in EVAL_SPLITS else ()), (validity_file(split), _check_validity)):
            if file in tables:
                fn(c, file, tables[file], split, split_of, g)
    stats = dataset_stats(items, rel, edges, tables)
    if manifest:
        _check_manifest(c, root, manifest, stats)
    return CheckReport(root, tuple(c.problems), stats, manifest.get("skips", {}))
