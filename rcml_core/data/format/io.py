"""Loading a canonical dataset folder into the typed views of `schema.py`.

`load_dataset` checks the manifest (present, right schema version), the required
files and their column schemas, maps item ids to row indices and turns the evaluation
tables into index arrays. It trusts the invariants that `check_dataset` verifies in
full (the loader only checks what it needs to build correct arrays).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rcml_core.data.format.image_paths import require_images_inside
from rcml_core.data.format.schema import (
    EDGES_FILE,
    EDGES_SCHEMA,
    EVAL_SPLITS,
    ITEMS_FILE,
    ITEMS_SCHEMA,
    MANIFEST_FILE,
    RELATION_TYPE_SCHEMA,
    RELATIONS_FILE,
    RELATIONS_SCHEMA,
    RETRIEVAL_SCHEMA,
    SCHEMA_VERSION,
    SPLITS,
    VALIDITY_SCHEMA,
    Manifest,
    RelationalDataset,
    RelationTypeSet,
    RetrievalSet,
    ValiditySet,
    relation_type_file,
    retrieval_file,
    validity_file,
)
from rcml_core.errors import DataError

MANIFEST_KEYS: tuple[str, ...] = tuple(f.name for f in fields(Manifest))


def table_files() -> list[tuple[str, pa.Schema]]:
    """Every table of a dataset with its schema, in the fixed order the content hash uses."""
    files = [(ITEMS_FILE, ITEMS_SCHEMA), (RELATIONS_FILE, RELATIONS_SCHEMA), (EDGES_FILE, EDGES_SCHEMA)]
    files += [(retrieval_file(s), RETRIEVAL_SCHEMA) for s in EVAL_SPLITS]
    files += [(relation_type_file(s), RELATION_TYPE_SCHEMA) for s in EVAL_SPLITS]
    files += [(validity_file(s), VALIDITY_SCHEMA) for s in SPLITS]
    return files


def read_manifest(root: Path | str) -> Manifest:
    """The manifest of a dataset folder; DataError if missing, unreadable or of another schema version."""
    path = Path(root) / MANIFEST_FILE
    if not path.is_file():
        raise DataError(f"{path}: no manifest; {Path(root)} is not a dataset folder (or its build did not finish)")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: unreadable manifest ({exc})") from exc
    if not isinstance(raw, dict):
        raise DataError(f"{path}: manifest must be a JSON object")
    missing = [k for k in MANIFEST_KEYS if k not in raw]
    if missing:
        raise DataError(f"{path}: manifest lacks {missing}")
    if raw["schema_version"] != SCHEMA_VERSION:
        raise DataError(
            f"{path}: schema_version is {raw['schema_version']!r}, this code reads {SCHEMA_VERSION!r}; "
            "rebuild the dataset with this version"
        )
    return Manifest(**{k: raw[k] for k in MANIFEST_KEYS})


def _hash_file(h: "hashlib._Hash", root: Path, rel: str) -> None:
    path = root / rel
    try:
        size = path.stat().st_size
        h.update(f"{rel}\0{size}\0".encode("utf-8"))
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError as exc:
        raise DataError(f"{path}: cannot read for the content hash ({exc})") from exc


def content_hash(root: Path | str) -> str:
    """sha256 over every table file (fixed order) then every item image (item order).

    Each file contributes its relative path, its size and its bytes, so a renamed,
    truncated or edited file changes the hash. The manifest and caches are not hashed.
    """
    root = Path(root)
    h = hashlib.sha256()
    for rel, _ in table_files():
        _hash_file(h, root, rel)
    items = pq.read_table(root / ITEMS_FILE, columns=["item_id", "image"]).to_pandas()
    require_images_inside(root, items, ITEMS_FILE)  # never hash (read) a file outside the dataset
    for rel in items["image"].tolist():
        _hash_file(h, root, rel)
    return h.hexdigest()


def read_table(root: Path, rel: str, schema: pa.Schema) -> pa.Table:
    """Read one table; DataError naming the file if it is missing, unreadable or has other columns/types."""
    path = root / rel
    if not path.is_file():
        raise DataError(f"{path}: required file is missing")
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"{path}: unreadable Parquet ({exc})") from exc
    got = table.schema.remove_metadata()
    if not got.equals(schema):
        want = ", ".join(f"{f.name}: {f.type}" for f in schema)
        have = ", ".join(f"{f.name}: {f.type}" for f in got)
        raise DataError(f"{path}: columns are ({have}); expected ({want})")
    return table


def _indices(index: pd.Index, ids: np.ndarray, where: str) -> np.ndarray:
    """(n,) int64 row indices of `ids`; DataError naming the first unknown id."""
    idx = index.get_indexer(ids)
    if (idx < 0).any():
        raise DataError(f"{where}: item {ids[np.flatnonzero(idx < 0)[0]]!r} is not in {ITEMS_FILE}")
    return idx.astype(np.int64)


def _column_indices(index: pd.Index, table: pa.Table, column: str, where: str) -> np.ndarray:
    """(n,) int64 row indices of the item ids in a string column of `table`."""
    return _indices(index, table.column(column).to_numpy(), where)


def _retrieval(root: Path, split: str, index: pd.Index) -> RetrievalSet:
    where = str(root / retrieval_file(split))
    t = read_table(root, retrieval_file(split), RETRIEVAL_SCHEMA)
    negatives = t.column("negatives").combine_chunks()
    lengths = pc.list_value_length(negatives).to_numpy(zero_copy_only=False)
    n_neg = int(lengths[0]) if len(lengths) else 0
    if len(lengths) and (lengths != n_neg).any():
        raise DataError(f"{where}: queries have different numbers of negatives ({sorted(set(lengths.tolist()))})")
    neg_ids = negatives.flatten().to_numpy(zero_copy_only=False)
    neg = _indices(index, neg_ids, where).reshape(len(t), n_neg)  # (Q, n_neg)
    pos = _column_indices(index, t, "dst", where)  # (Q,)
    return RetrievalSet(
        split=split,
        src=_column_indices(index, t, "src", where),
        relation=t.column("relation_id").to_numpy().astype(np.int64),
        candidates=np.concatenate([pos[:, None], neg], axis=1),  # (Q, 1 + n_neg), positive first
    )


def _relation_type(root: Path, split: str, index: pd.Index, n_relations: int) -> RelationTypeSet:
    where = str(root / relation_type_file(split))
    t = read_table(root, relation_type_file(split), RELATION_TYPE_SCHEMA)
    ids = t.column("relation_ids").combine_chunks()
    flat = ids.flatten().to_numpy().astype(np.int64)
    if len(flat) and (flat.min() < 0 or flat.max() >= n_relations):
        raise DataError(f"{where}: relation ids must lie in [0, {n_relations}), found {flat.min()}..{flat.max()}")
    lengths = pc.list_value_length(ids).to_numpy(zero_copy_only=False).astype(np.int64)
    true = np.zeros((len(t), n_relations), dtype=bool)  # (P, R)
    true[np.repeat(np.arange(len(t)), lengths), flat] = True
    return RelationTypeSet(split=split, src=_column_indices(index, t, "src", where),
                           dst=_column_indices(index, t, "dst", where), true=true)


def _validity(root: Path, split: str, index: pd.Index) -> ValiditySet:
    where = str(root / validity_file(split))
    t = read_table(root, validity_file(split), VALIDITY_SCHEMA)
    return ValiditySet(
        split=split,
        src=_column_indices(index, t, "src", where),
        dst=_column_indices(index, t, "dst", where),
        relation=t.column("relation_id").to_numpy().astype(np.int64),
        label=t.column("label").to_numpy().astype(np.int64),
    )


def load_dataset(root: Path | str) -> RelationalDataset:
    """Load a dataset folder written by `build_dataset` (see schema.py for the layout)."""
    root = Path(root)
    manifest = read_manifest(root)
    items = read_table(root, ITEMS_FILE, ITEMS_SCHEMA).to_pandas()
    index = pd.Index(items["item_id"].to_numpy(dtype=object))
    if not index.is_unique:
        dup = index[index.duplicated()][0]
        raise DataError(f"{root / ITEMS_FILE}: item_id {dup!r} appears more than once")
    require_images_inside(root, items, ITEMS_FILE)
    bad_split = ~items["split"].isin(SPLITS)
    if bad_split.any():
        raise DataError(f"{root / ITEMS_FILE}: item {items['item_id'][bad_split].iat[0]!r} has split outside {SPLITS}")
    empty = [s for s in SPLITS if not (items["split"] == s).any()]
    if empty:
        raise DataError(f"{root / ITEMS_FILE}: no items in split(s) {empty}; every split of {SPLITS} is required")
    relations = read_table(root, RELATIONS_FILE, RELATIONS_SCHEMA).to_pandas().sort_values("relation_id")
    relations = relations.reset_index(drop=True)
    if not np.array_equal(relations["relation_id"].to_numpy(), np.arange(len(relations))):
        raise DataError(f"{root / RELATIONS_FILE}: relation ids must be 0..{len(relations) - 1} without gaps")
    edges = read_table(root, EDGES_FILE, EDGES_SCHEMA).to_pandas()
    edges["src_idx"] = _indices(index, edges["src"].to_numpy(dtype=object), str(root / EDGES_FILE))
    edges["dst_idx"] = _indices(index, edges["dst"].to_numpy(dtype=object), str(root / EDGES_FILE))
    return RelationalDataset(
        root=root,
        manifest=manifest,
        items=items,
        relations=relations,
        edges=edges,
        retrieval={s: _retrieval(root, s, index) for s in EVAL_SPLITS},
        relation_type={s: _relation_type(root, s, index, len(relations)) for s in EVAL_SPLITS},
        validity={s: _validity(root, s, index) for s in SPLITS},
    )
