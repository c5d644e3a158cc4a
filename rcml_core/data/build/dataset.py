"""`build_dataset`: the one path from behaviour data to a canonical dataset folder.

Readers (synthetic generator, Amazon, Goodreads) produce two frames — items and
interactions — and call this. It cleans the records (clean.py; bad ones through the
caller's `SkipLog`), derives relations from user clusters (relations.py, relation_text.py),
splits items disjointly (splits.py), draws the fixed evaluation sets (evalsets.py),
copies the images, and writes everything atomically (format/store.py), the manifest last.

Manifest "counts" (every interaction row is accounted for: interaction_rows = bad
interaction records + interaction_rows_dropped_with_skipped_items +
repeat_interactions_merged + interactions):

    items, edges                      {train, val, test, total}; edges are (pair, relation) rows
    pairs                             distinct related pairs per split
    relations                         inter relations kept (the intra one not counted)
    users / users_clustered           users with a valid interaction / with >= 2 items (clustered)
    users_clustering_fitted_on        users with >= 2 train items, whose train purchases fitted the clusters
                                      (cluster_fit "train")
    interaction_rows, interactions    input rows / distinct (user, item) kept
    repeat_interactions_merged        repeated (user, item) rows merged (repeat purchases)
    interaction_rows_dropped_with_skipped_items
    cross_split_edges_dropped         (pair, relation) rows whose endpoints fell in different splits
    retrieval_queries, retrieval_queries_dropped_no_negatives, relation_type_pairs  {val, test}
    validity_instances                {train, val, test}

The manifest's "source" is the caller's dict plus "build": the BuildConfig used.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from PIL import Image
from tqdm.auto import tqdm

from rcml_core.data.build import evalsets, splits
from rcml_core.data.format.io import content_hash
from rcml_core.data.format.skips import SkipLog
from rcml_core.data.build.relation_text import describe_clusters
from rcml_core.data.build.relations import cluster_users, co_purchase_edges, user_profiles
from rcml_core.data.format import schema
from rcml_core.data.format.store import check_destination, image_name, place_image, staged_dir, write_json, write_table
from rcml_core.data.build.clean import InteractionStats, clean_interactions, validate_items
from rcml_core.config import check_choice, check_fractions, check_range, check_text
from rcml_core.errors import ConfigError, DataError

# Separate random streams per purpose, so changing one eval set never shifts another.
_STREAM = {"retrieval": 1, "relation_type": 2, "validity": 3}
CLUSTER_FITS = ("train", "all")


@dataclass(frozen=True)
class BuildConfig:
    name: str  # dataset name stored in the manifest
    n_clusters: int = 10  # k for user clustering (Amazon 10, Goodreads 8)
    relation_verb: str = "Co-purchased"  # "Co-read" for Goodreads; starts every inter relation text
    max_pairs_per_user: int = 50  # cap on co-purchase pairs contributed by one user (seeded sample)
    min_pair_support: int = 1  # keep (pair, relation) only if >= this many users support it
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)  # train, val, test (item-disjoint)
    n_negatives: int = 20  # retrieval negatives per query (21-way)
    max_queries_per_split: int = 2000  # retrieval queries per eval split (seeded subsample)
    max_relation_type_pairs: int = 2000  # relation-type pairs per eval split
    max_validity_per_split: int = 4000  # validity instances per split (half positive)
    seed: int = 0
    # Users are clustered on what they bought: the category shares and, for the item attributes named
    # here (keys of the items' `attributes` dicts, e.g. Amazon's "Color"), how much their items agree on
    # each (relations.attribute_agreement, scaled by behaviour_weight). The relation texts then lead with
    # that behaviour ("people who keep to one colour, ..."). Empty: categories only (the paper's setting).
    behaviour_attributes: tuple[str, ...] = ()
    behaviour_weight: float = 1.0
    # "train": KMeans is fitted on the users' train-split purchases only (users with >= 2 train items keep
    # that cluster; the others are assigned to the nearest one by their whole history), so no val/test
    # item shapes the relations; "all": the clustering sees every purchase (datasets built before 2026-12-06).
    cluster_fit: str = "train"

    def __post_init__(self) -> None:
        check_text("BuildConfig.name", self.name)
        check_text("BuildConfig.relation_verb", self.relation_verb)
        check_range("BuildConfig.n_clusters", self.n_clusters, 1, 10_000, integer=True)
        for name, low in (("max_pairs_per_user", 1), ("min_pair_support", 1), ("n_negatives", 1),
                          ("max_queries_per_split", 1), ("max_relation_type_pairs", 1), ("max_validity_per_split", 2)):
            check_range(f"BuildConfig.{name}", getattr(self, name), low, integer=True)
        check_range("BuildConfig.seed", self.seed, 0, 2**63 - 1, integer=True)
        object.__setattr__(self, "split_fractions", check_fractions("BuildConfig.split_fractions", self.split_fractions))
        attrs = self.behaviour_attributes
        if isinstance(attrs, str) or not all(isinstance(a, str) and a.strip() for a in attrs) or len(set(attrs)) != len(attrs):
            raise ConfigError(f"BuildConfig.behaviour_attributes must be distinct non-empty names, got {attrs!r}")
        object.__setattr__(self, "behaviour_attributes", tuple(attrs))
        check_range("BuildConfig.behaviour_weight", self.behaviour_weight, 0, None, low_open=True)
        check_choice("BuildConfig.cluster_fit", self.cluster_fit, CLUSTER_FITS)


def _item_attributes(items: pd.DataFrame, names: tuple[str, ...]) -> pd.DataFrame | None:
    """(N, A) the named attributes per item_id (NaN where an item does not state one), or None."""
    if not names:
        return None
    if "attributes" not in items:
        raise DataError(f"BuildConfig.behaviour_attributes={list(names)} but the items have no 'attributes' column")
    rows = [{n: d.get(n) for n in names} if isinstance(d, dict) else {} for d in items["attributes"]]
    table = pd.DataFrame(rows, index=pd.Index(items["item_id"].to_numpy()), columns=list(names))
    if table.notna().sum().min() == 0:
        empty = [n for n in names if table[n].notna().sum() == 0]
        raise DataError(f"no item states the behaviour attribute(s) {empty}; attributes seen: "
                        f"{sorted({k for d in items['attributes'] if isinstance(d, dict) for k in d})[:20]}")
    return table


def _check_source(source: dict) -> dict:
    if not isinstance(source, dict) or not isinstance(source.get("kind"), str) or not source["kind"]:
        raise ConfigError(f"source must be a dict with a non-empty 'kind' (synth|amazon|goodreads), got {source!r}")
    try:
        json.dumps(source)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"source must be JSON-serialisable for the manifest ({exc})") from exc
    return dict(source)


def _relations(
    inter: pd.DataFrame, items: pd.DataFrame, split_of: pd.Series, config: BuildConfig, skips: SkipLog, progress: bool
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """(relations table, edges, profiled-user counts). Clusters left without users or edges are
    reported as "empty_cluster" and dropped; the remaining relation ids are renumbered 1..K."""
    category = items.set_index("item_id")["profile_category"]
    attributes = _item_attributes(items, config.behaviour_attributes)
    profiles = user_profiles(inter, category, item_attributes=attributes)
    fit_on = None
    if config.cluster_fit == "train":
        train_ids = split_of.index[split_of.to_numpy() == "train"]
        fit_on = user_profiles(inter[inter["item_id"].isin(train_ids)], category, item_attributes=attributes,
                               categories=profiles.categories)
    clusters = cluster_users(profiles, config.n_clusters, config.seed, config.behaviour_weight, fit_on=fit_on)
    texts = describe_clusters(clusters.centroids, profiles.categories, config.relation_verb, clusters.agreement,
                              [a.lower() for a in profiles.attributes])
    user_rel = pd.Series(clusters.labels + 1, index=pd.Index(profiles.user_ids, dtype=object))
    edges = co_purchase_edges(
        inter, user_rel, config.max_pairs_per_user, config.min_pair_support, config.seed, progress
    )
    n_edges = edges["relation_id"].value_counts()
    new_id: dict[int, int] = {}
    rows = [(schema.INTRA_RELATION_ID, schema.INTRA_RELATION_TEXT, "intra", 0)]
    for k, text in enumerate(texts):
        rid = k + 1
        if clusters.sizes[k] == 0 or n_edges.get(rid, 0) == 0:
            why = "has no users" if clusters.sizes[k] == 0 else (
                f"has {clusters.sizes[k]} users but no co-purchase pair with support >= {config.min_pair_support}"
            )
            skips.bad("empty_cluster", f"cluster {k} ({text[:80]}...)", f"{why}; its relation is dropped")
            continue
        new_id[rid] = len(rows)
        rows.append((len(rows), text, "inter", int(clusters.sizes[k])))
    relations = pd.DataFrame(rows, columns=["relation_id", "text", "kind", "n_users"])
    edges = edges[edges["relation_id"].isin(list(new_id))].copy()
    edges["relation_id"] = edges["relation_id"].map(new_id).astype(np.int32)
    users = {"users_clustered": len(profiles.user_ids)}
    if fit_on is not None:
        users["users_clustering_fitted_on"] = len(fit_on.user_ids)
    return relations, edges.reset_index(drop=True), users


def _image_suffix(path: Path) -> str:
    if path.suffix:
        return path.suffix.lower()
    with Image.open(path) as im:
        return "." + (im.format or "img").lower()


def _items_table(items: pd.DataFrame, split_of: pd.Series) -> pd.DataFrame:
    table = items.sort_values("item_id", kind="stable").reset_index(drop=True)
    table["split"] = split_of.reindex(table["item_id"].to_numpy()).to_numpy()
    table["image"] = [
        f"{schema.IMAGES_DIR}/{image_name(i, _image_suffix(Path(p)))}"
        for i, p in zip(table["item_id"], table["image_path"])
    ]
    return table


@dataclass(frozen=True)
class _EvalTables:
    tables: dict[str, tuple[pa.Schema, pd.DataFrame]]  # relative file -> (schema, rows)
    dropped_queries: dict[str, int]  # retrieval queries dropped for lack of unrelated items, by split

    def size(self, rel: str) -> int:
        return len(self.tables[rel][1])


def _eval_sets(items: pd.DataFrame, edges: pd.DataFrame, relations: pd.DataFrame, config: BuildConfig) -> _EvalTables:
    inter_ids = relations.loc[relations["kind"] == "inter", "relation_id"].to_numpy(dtype=np.int64)
    tables: dict[str, tuple[pa.Schema, pd.DataFrame]] = {}
    dropped: dict[str, int] = {}
    for s_no, split in enumerate(schema.SPLITS):
        graph = evalsets.SplitGraph.from_frames(
            items.loc[items["split"] == split, "item_id"].to_numpy(), edges[edges["split"] == split]
        )

        def rng(purpose: str, s_no: int = s_no) -> np.random.Generator:
            return np.random.default_rng([config.seed, s_no, _STREAM[purpose]])

        if split in schema.EVAL_SPLITS:
            frame, dropped[split] = evalsets.retrieval_set(
                graph, config.n_negatives, config.max_queries_per_split, rng("retrieval")
            )
            tables[schema.retrieval_file(split)] = (schema.RETRIEVAL_SCHEMA, frame)
            pairs = evalsets.relation_type_set(graph, config.max_relation_type_pairs, rng("relation_type"))
            tables[schema.relation_type_file(split)] = (schema.RELATION_TYPE_SCHEMA, pairs)
        validity = evalsets.validity_set(graph, inter_ids, config.max_validity_per_split, rng("validity"))
        tables[schema.validity_file(split)] = (schema.VALIDITY_SCHEMA, validity)
    return _EvalTables(tables, dropped)


def _counts(
    items: pd.DataFrame,
    edges: pd.DataFrame,
    relations: pd.DataFrame,
    inter: pd.DataFrame,
    istats: InteractionStats,
    users_clustered: dict[str, int],
    cross_dropped: int,
    evals: _EvalTables,
) -> dict:
    per_split = lambda frame: {s: int((frame["split"] == s).sum()) for s in schema.SPLITS}  # noqa: E731
    return {
        "items": {**per_split(items), "total": len(items)},
        "edges": {**per_split(edges), "total": len(edges)},
        "pairs": {s: int(edges.loc[edges["split"] == s, ["src", "dst"]].drop_duplicates().shape[0])
                  for s in schema.SPLITS},
        "relations": int((relations["kind"] == "inter").sum()),
        "users": int(inter["user_id"].nunique()),
        **users_clustered,
        "interaction_rows": istats.rows_in,
        "interactions": istats.rows_out,
        "repeat_interactions_merged": istats.repeat_merged,
        "interaction_rows_dropped_with_skipped_items": istats.dropped_with_skipped_items,
        "cross_split_edges_dropped": cross_dropped,
        "retrieval_queries": {s: evals.size(schema.retrieval_file(s)) for s in schema.EVAL_SPLITS},
        "retrieval_queries_dropped_no_negatives": dict(evals.dropped_queries),
        "relation_type_pairs": {s: evals.size(schema.relation_type_file(s)) for s in schema.EVAL_SPLITS},
        "validity_instances": {s: evals.size(schema.validity_file(s)) for s in schema.SPLITS},
    }


def build_dataset(
    items: pd.DataFrame,
    interactions: pd.DataFrame,
    out_dir: Path,
    config: BuildConfig,
    source: dict,
    skips: SkipLog,
    overwrite: bool = False,
    progress: bool = True,
) -> schema.Manifest:
    """Build the canonical dataset at `out_dir` and return its manifest.

    items: item_id, text, image_path (local file), category ("A > B"), profile_category, and
    optionally attributes (a dict per item, used only to cluster users, see BuildConfig);
    interactions: user_id, item_id (optional timestamp, unused). Bad records go through
    `skips`; a failure leaves no new folder behind (the previous one, if any, stays).
    The manifest's source gets a "build" entry holding `config`.
    """
    out_dir = Path(out_dir)
    if not isinstance(config, BuildConfig):
        raise ConfigError(f"config must be a BuildConfig, got {type(config).__name__}")
    # Through JSON so the returned manifest equals the one read back (tuples become lists).
    source = json.loads(json.dumps({**_check_source(source), "build": asdict(config)}))
    check_destination(out_dir, overwrite)  # fail before the long steps
    valid = validate_items(items, skips, progress)
    all_ids = set(items["item_id"].dropna().astype(str))
    inter, istats = clean_interactions(interactions, set(valid["item_id"]), all_ids, skips)
    split_of = splits.assign_splits(valid["item_id"], config.split_fractions, config.seed)
    relations, edges, users_clustered = _relations(inter, valid, split_of, config, skips, progress)
    kept = splits.keep_within_split(edges, split_of)
    splits.require_usable_splits(split_of, kept.edges, config.n_negatives)
    table = _items_table(valid, split_of)
    evals = _eval_sets(table, kept.edges, relations, config)
    counts = _counts(table, kept.edges, relations, inter, istats, users_clustered, kept.cross_split_dropped, evals)

    with staged_dir(out_dir, overwrite) as stage:
        (stage / schema.IMAGES_DIR).mkdir()
        pairs = zip(table["image_path"], table["image"])
        for src, rel in tqdm(pairs, total=len(table), desc="copy images", unit="img", disable=not progress):
            place_image(Path(src), stage / rel)
        write_table(table, schema.ITEMS_SCHEMA, stage / schema.ITEMS_FILE)
        write_table(relations, schema.RELATIONS_SCHEMA, stage / schema.RELATIONS_FILE)
        write_table(kept.edges, schema.EDGES_SCHEMA, stage / schema.EDGES_FILE)
        for rel, (table_schema, frame) in evals.tables.items():
            write_table(frame, table_schema, stage / rel)
        manifest = schema.Manifest(
            schema_version=schema.SCHEMA_VERSION,
            name=config.name,
            source=source,
            counts=counts,
            skips=skips.to_dict(),
            content_hash=content_hash(stage),
            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
        write_json(manifest.to_dict(), stage / schema.MANIFEST_FILE)  # last: its presence marks a complete build
    return manifest
