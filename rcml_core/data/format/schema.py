"""The canonical relational dataset: on-disk layout, table schemas and typed views.

A dataset is one folder per domain:

    <root>/
      manifest.json                 schema version, source + parameters, counts, skips, content hash
      items.parquet                 ITEMS_SCHEMA      one row per item; row order = item index
      relations.parquet             RELATIONS_SCHEMA  relation 0 is the intra-sample relation
      edges.parquet                 EDGES_SCHEMA      inter-sample edges, undirected, one row per (pair, relation)
      eval/retrieval-{val,test}.parquet        RETRIEVAL_SCHEMA      21-way relation-guided retrieval
      eval/relation_type-{val,test}.parquet    RELATION_TYPE_SCHEMA  pairs with their true relation ids
      eval/validity-{train,val,test}.parquet   VALIDITY_SCHEMA       (pair, relation, label) with balanced negatives
      images/                       the item images, referenced by items.image relative to <root>

Intra-sample pairs (i, i) are implicit: every item has one under relation 0, whose
text is INTRA_RELATION_TEXT (docs/method.md, paper A.2). Edges are stored once per
unordered pair with src < dst (string order) and hold only inside one split
(splits are item-disjoint, paper 4.1).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

SCHEMA_VERSION = "1.0"
SPLITS: tuple[str, ...] = ("train", "val", "test")
EVAL_SPLITS: tuple[str, ...] = ("val", "test")

INTRA_RELATION_ID = 0
INTRA_RELATION_TEXT = "These two items represent the same product. Align their features accordingly."

MANIFEST_FILE = "manifest.json"
ITEMS_FILE = "items.parquet"
RELATIONS_FILE = "relations.parquet"
EDGES_FILE = "edges.parquet"
IMAGES_DIR = "images"
EVAL_DIR = "eval"

ITEMS_SCHEMA = pa.schema(
    [
        ("item_id", pa.string()),  # unique, non-empty
        ("text", pa.string()),  # product title / book title, non-empty
        ("image", pa.string()),  # path relative to the dataset root (under images/)
        ("category", pa.string()),  # category path, levels joined by " > "
        ("split", pa.string()),  # one of SPLITS
    ]
)
RELATIONS_SCHEMA = pa.schema(
    [
        ("relation_id", pa.int32()),  # 0 = intra; 1..K = behaviour clusters
        ("text", pa.string()),  # natural-language description
        ("kind", pa.string()),  # "intra" | "inter"
        ("n_users", pa.int64()),  # users in the cluster (0 for intra)
    ]
)
EDGES_SCHEMA = pa.schema(
    [
        ("src", pa.string()),  # item_id, src < dst
        ("dst", pa.string()),  # item_id
        ("relation_id", pa.int32()),  # an inter relation
        ("split", pa.string()),  # split of both endpoints
        ("support", pa.int32()),  # number of users of that cluster who bought both
    ]
)
RETRIEVAL_SCHEMA = pa.schema(
    [
        ("query_id", pa.int32()),
        ("src", pa.string()),  # query item A
        ("relation_id", pa.int32()),  # relation e of the held-out edge
        ("dst", pa.string()),  # the positive B
        ("negatives", pa.list_(pa.string())),  # n_negatives items of the split not related to A
    ]
)
RELATION_TYPE_SCHEMA = pa.schema(
    [
        ("pair_id", pa.int32()),
        ("src", pa.string()),
        ("dst", pa.string()),
        ("relation_ids", pa.list_(pa.int32())),  # every inter relation the pair carries
    ]
)
VALIDITY_SCHEMA = pa.schema(
    [
        ("instance_id", pa.int32()),
        ("src", pa.string()),
        ("dst", pa.string()),
        ("relation_id", pa.int32()),
        ("label", pa.int8()),  # 1: the relation holds for the pair, 0: it does not
    ]
)


def retrieval_file(split: str) -> str:
    return f"{EVAL_DIR}/retrieval-{split}.parquet"


def relation_type_file(split: str) -> str:
    return f"{EVAL_DIR}/relation_type-{split}.parquet"


def validity_file(split: str) -> str:
    return f"{EVAL_DIR}/validity-{split}.parquet"


# ---------------------------------------------------------------------------------------
# Typed views returned by the loader (rcml_core.data.format.io.load_dataset). Item references are
# integer item indices (row numbers of items.parquet) so that training and evaluation
# index tensors directly.
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Manifest:
    schema_version: str
    name: str
    source: dict  # {"kind": "synth"|"amazon"|"goodreads", "params": {...}, "files": [...]}
    counts: dict  # items/edges per split, relations, eval set sizes, dropped cross-split edges
    skips: dict  # SkipLog.to_dict()
    content_hash: str  # sha256 over tables and images
    created_at: str  # ISO 8601, UTC

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RetrievalSet:
    """Fixed 21-way relation-guided retrieval queries of one split."""

    split: str
    src: np.ndarray  # (Q,) int64 item index of A
    relation: np.ndarray  # (Q,) int64 relation id
    candidates: np.ndarray  # (Q, 1 + n_neg) int64 item indices; column 0 is the positive B

    def __len__(self) -> int:
        return int(self.src.shape[0])


@dataclass(frozen=True)
class RelationTypeSet:
    """Held-out pairs with every inter relation they carry."""

    split: str
    src: np.ndarray  # (P,) int64
    dst: np.ndarray  # (P,) int64
    true: np.ndarray  # (P, n_relations) bool, true[p, r] iff pair p carries relation r

    def __len__(self) -> int:
        return int(self.src.shape[0])


@dataclass(frozen=True)
class ValiditySet:
    """(A, B, relation) instances with binary labels."""

    split: str
    src: np.ndarray  # (V,) int64
    dst: np.ndarray  # (V,) int64
    relation: np.ndarray  # (V,) int64
    label: np.ndarray  # (V,) int64 in {0, 1}

    def __len__(self) -> int:
        return int(self.src.shape[0])


@dataclass(frozen=True)
class RelationalDataset:
    """A loaded canonical dataset. Tables are pandas frames; ids map to row indices."""

    root: Path
    manifest: Manifest
    items: pd.DataFrame  # ITEMS_SCHEMA columns, RangeIndex = item index
    relations: pd.DataFrame  # RELATIONS_SCHEMA columns, sorted by relation_id, RangeIndex = relation id
    edges: pd.DataFrame  # EDGES_SCHEMA columns plus int64 "src_idx", "dst_idx"
    retrieval: dict[str, RetrievalSet]  # by split in EVAL_SPLITS
    relation_type: dict[str, RelationTypeSet]  # by split in EVAL_SPLITS
    validity: dict[str, ValiditySet]  # by split in SPLITS

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def n_relations(self) -> int:
        """All relations, the intra one (id 0) included."""
        return len(self.relations)

    @property
    def inter_relation_ids(self) -> np.ndarray:
        return self.relations.index[self.relations["kind"] == "inter"].to_numpy(dtype=np.int64)

    def item_indices(self, split: str) -> np.ndarray:
        """(N_split,) int64 indices of the items of one split."""
        return np.flatnonzero(self.items["split"].to_numpy() == split).astype(np.int64)

    def split_edges(self, split: str) -> pd.DataFrame:
        return self.edges[self.edges["split"] == split]

    def image_path(self, item_index: int) -> Path:
        return self.root / self.items["image"].iat[item_index]
