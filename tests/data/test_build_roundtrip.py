"""build_dataset -> load_dataset round trip on the tiny hand-made catalog."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tiny_catalog import tiny_interactions, tiny_items

from rcml_core.data.build import BuildConfig, build_dataset
from rcml_core.data.io import content_hash, load_dataset, read_manifest
from rcml_core.data.records import SkipLog
from rcml_core.data.schema import INTRA_RELATION_TEXT, SPLITS

SOURCE = {"kind": "synth", "params": {"test": True}, "files": []}


def tiny_config(**overrides) -> BuildConfig:
    base = dict(name="tiny", n_clusters=3, n_negatives=3, split_fractions=(0.6, 0.2, 0.2))
    return BuildConfig(**{**base, **overrides})


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("src-images")


def test_built_dataset_loads_back_with_every_table_and_index_array(image_dir: Path, tmp_path: Path) -> None:
    items, inter = tiny_items(image_dir), tiny_interactions()
    manifest = build_dataset(items, inter, tmp_path / "ds", tiny_config(), SOURCE, SkipLog(), progress=False)
    ds = load_dataset(tmp_path / "ds")

    assert ds.manifest == manifest == read_manifest(tmp_path / "ds")
    assert manifest.content_hash == content_hash(tmp_path / "ds")
    assert manifest.source["kind"] == "synth" and manifest.source["build"]["n_clusters"] == 3
    assert ds.n_items == 60 and sorted(ds.items["item_id"]) == list(ds.items["item_id"])
    assert ds.relations["text"].iat[0] == INTRA_RELATION_TEXT
    assert list(ds.relations["kind"]) == ["intra", "inter", "inter", "inter"]
    assert all(t.startswith("Co-purchased by people who") for t in ds.relations["text"].iloc[1:])
    assert (ds.edges["src"] < ds.edges["dst"]).all()
    assert ds.items["item_id"].to_numpy()[ds.edges["src_idx"]].tolist() == ds.edges["src"].tolist()
    for i in range(ds.n_items):
        assert ds.image_path(i).is_file()
    for split in ("val", "test"):
        r = ds.retrieval[split]
        assert r.candidates.shape == (len(r), 4) and len(r) == manifest.counts["retrieval_queries"][split]
        assert ds.relation_type[split].true[:, 1:].any(axis=1).all()
    for split in SPLITS:
        assert ds.validity[split].label.sum() * 2 == len(ds.validity[split])
    assert manifest.counts["items"] == {"train": 36, "val": 12, "test": 12, "total": 60}
    assert manifest.counts["repeat_interactions_merged"] == len(inter) - len(inter.drop_duplicates(["user_id", "item_id"]))
    assert np.isin(ds.edges["relation_id"], [1, 2, 3]).all()
