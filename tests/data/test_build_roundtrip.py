"""build_dataset -> load_dataset: round trip, splits, eval sets, determinism, atomic writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tiny_catalog import build_tiny, tiny_interactions, tiny_items

from rcml_core.data.build import dataset as build_module
from rcml_core.data.format import store
from rcml_core.data.format.io import content_hash, load_dataset, read_manifest
from rcml_core.data.format.schema import INTRA_RELATION_TEXT, SPLITS
from rcml_core.errors import DataError


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("src-images")


@pytest.fixture(scope="module")
def built(image_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("built") / "ds"
    build_tiny(out, image_dir)
    return load_dataset(out)


def _related(ds) -> dict[int, set[int]]:
    nbrs: dict[int, set[int]] = {}
    for a, b in zip(ds.edges["src_idx"], ds.edges["dst_idx"]):
        nbrs.setdefault(a, set()).add(b)
        nbrs.setdefault(b, set()).add(a)
    return nbrs


def test_built_dataset_loads_back_with_every_table_and_index_array(image_dir: Path, tmp_path: Path) -> None:
    inter = tiny_interactions()
    manifest = build_tiny(tmp_path / "ds", image_dir, interactions=inter)
    ds = load_dataset(tmp_path / "ds")

    assert ds.manifest == manifest == read_manifest(tmp_path / "ds")
    assert manifest.content_hash == content_hash(tmp_path / "ds")
    assert manifest.source["kind"] == "synth" and manifest.source["build"]["n_clusters"] == 3
    assert ds.n_items == 60 and sorted(ds.items["item_id"]) == list(ds.items["item_id"])
    assert ds.relations["text"].iat[0] == INTRA_RELATION_TEXT
    assert list(ds.relations["kind"]) == ["intra", "inter", "inter", "inter"]
    assert all(t.startswith("Co-purchased by people who") for t in ds.relations["text"].iloc[1:])
    assert ds.items["item_id"].to_numpy()[ds.edges["src_idx"]].tolist() == ds.edges["src"].tolist()
    assert all(ds.image_path(i).is_file() for i in range(ds.n_items))
    for split in ("val", "test"):
        r = ds.retrieval[split]
        assert r.candidates.shape == (len(r), 4) and len(r) == manifest.counts["retrieval_queries"][split]
        assert ds.relation_type[split].true[:, 1:].any(axis=1).all()
    assert manifest.counts["items"] == {"train": 36, "val": 12, "test": 12, "total": 60}
    assert manifest.counts["repeat_interactions_merged"] == len(inter) - len(inter.drop_duplicates(["user_id", "item_id"]))
    assert manifest.counts["edges"]["total"] == len(ds.edges)
    assert np.isin(ds.edges["relation_id"], [1, 2, 3]).all()


def test_each_item_is_in_exactly_one_split_and_edges_stay_inside_one_split(built) -> None:
    split_of = dict(zip(built.items["item_id"], built.items["split"]))
    assert set(split_of.values()) == set(SPLITS) and built.items["item_id"].is_unique
    assert [split_of[s] for s in built.edges["src"]] == list(built.edges["split"])
    assert [split_of[d] for d in built.edges["dst"]] == list(built.edges["split"])
    assert (built.edges["src"] < built.edges["dst"]).all()
    assert built.manifest.counts["cross_split_edges_dropped"] > 0


def test_same_seed_gives_identical_tables_and_another_seed_other_splits(image_dir: Path, tmp_path: Path) -> None:
    a = build_tiny(tmp_path / "a", image_dir, seed=3)
    shuffled_items = tiny_items(image_dir).sample(frac=1.0, random_state=1)  # input order must not matter
    b = build_tiny(tmp_path / "b", image_dir, items=shuffled_items, seed=3)
    c = build_tiny(tmp_path / "c", image_dir, seed=4)
    assert a.content_hash == b.content_hash
    assert a.content_hash != c.content_hash
    split_a = load_dataset(tmp_path / "a").items["split"]
    split_c = load_dataset(tmp_path / "c").items["split"]
    assert (split_a != split_c).any()


def test_retrieval_negatives_are_unrelated_to_the_query_and_in_its_split(built) -> None:
    nbrs, split = _related(built), built.items["split"].to_numpy()
    edge_set = {(a, b, r) for a, b, r in zip(built.edges["src_idx"], built.edges["dst_idx"], built.edges["relation_id"])}
    for name in ("val", "test"):
        r = built.retrieval[name]
        assert len(r) > 0
        for a, rel, cands in zip(r.src, r.relation, r.candidates):
            pos, negs = cands[0], cands[1:]
            assert (min(a, pos), max(a, pos), rel) in edge_set  # item index order = id order, so src < dst
            assert len(set(negs.tolist())) == len(negs) and a not in negs and pos not in negs
            assert not nbrs.get(a, set()).intersection(negs.tolist())
            assert (split[cands] == name).all() and split[a] == name


def test_validity_labels_are_exactly_balanced_and_true_iff_the_edge_exists(built) -> None:
    edge_set = {(a, b, r) for a, b, r in zip(built.edges["src_idx"], built.edges["dst_idx"], built.edges["relation_id"])}
    for name in SPLITS:
        v = built.validity[name]
        assert len(v) > 0 and 2 * v.label.sum() == len(v)
        holds = [(min(a, b), max(a, b), r) in edge_set for a, b, r in zip(v.src, v.dst, v.relation)]
        assert holds == (v.label == 1).tolist()
        assert set(v.relation.tolist()) <= set(built.inter_relation_ids.tolist())


def test_relation_type_pairs_carry_exactly_the_relations_of_their_edges(built) -> None:
    for name in ("val", "test"):
        rt = built.relation_type[name]
        e = built.split_edges(name)
        for a, b, row in zip(rt.src, rt.dst, rt.true):
            carried = set(e.loc[(e["src_idx"] == a) & (e["dst_idx"] == b), "relation_id"].tolist())
            assert set(np.flatnonzero(row).tolist()) == carried


def test_existing_output_folder_is_refused_without_overwrite_and_replaced_with_it(image_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    first = build_tiny(out, image_dir, seed=1)
    with pytest.raises(DataError, match="already exists"):
        build_tiny(out, image_dir, seed=2)
    second = build_tiny(out, image_dir, seed=2, overwrite=True)
    assert read_manifest(out) == second != first
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]  # no staging or old folder left


def test_overwrite_refuses_a_folder_that_is_not_a_dataset(image_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "precious"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(DataError, match="not a dataset"):
        build_tiny(out, image_dir, overwrite=True)
    assert (out / "notes.txt").read_text() == "keep me"


def test_a_failure_mid_build_leaves_no_loadable_folder_and_no_staging(image_dir: Path, tmp_path: Path, monkeypatch) -> None:
    real_write = store.write_table
    calls = []

    def failing_write(frame: pd.DataFrame, schema, path: Path) -> None:
        calls.append(path.name)
        if len(calls) == 3:  # items and relations written, edges fail
            raise OSError("disk full (injected)")
        real_write(frame, schema, path)

    monkeypatch.setattr(build_module, "write_table", failing_write)
    with pytest.raises(OSError, match="injected"):
        build_tiny(tmp_path / "ds", image_dir)
    assert calls == ["items.parquet", "relations.parquet", "edges.parquet"]
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(DataError, match="no manifest"):
        load_dataset(tmp_path / "ds")


def test_a_failed_overwrite_keeps_the_previous_dataset(image_dir: Path, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "ds"
    first = build_tiny(out, image_dir, seed=1)
    monkeypatch.setattr(build_module, "place_image", lambda src, dst: (_ for _ in ()).throw(OSError("injected")))
    with pytest.raises(OSError, match="injected"):
        build_tiny(out, image_dir, seed=2, overwrite=True)
    assert load_dataset(out).manifest == first
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]


def test_too_few_items_for_an_eval_split_says_how_many_are_needed(image_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"split 'val' has 3 items but needs at least 12"):
        build_tiny(tmp_path / "ds", image_dir, n_negatives=10, split_fractions=(0.9, 0.05, 0.05))
    assert not (tmp_path / "ds").exists()


def test_image_file_names_stay_inside_the_images_folder_and_never_collide() -> None:
    names = [store.image_name(i, ".PNG") for i in ("B00X1", "../up/escape", "a/b", "a_b", ".hidden")]
    assert names[0] == "B00X1.png" and names[3] == "a_b.png"
    assert all("/" not in n and not n.startswith(".") for n in names)
    assert len(set(names)) == len(names)
