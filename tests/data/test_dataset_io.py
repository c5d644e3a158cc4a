"""load_dataset / read_manifest: version, files and column schemas are checked with clear errors."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tiny_catalog import build_tiny, write_png

from rcml_core.data.build.dataset import BuildConfig
from rcml_core.data.format.io import load_dataset, read_manifest
from rcml_core.data.format.schema import EDGES_FILE, MANIFEST_FILE, SCHEMA_VERSION, retrieval_file
from rcml_core.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("io") / "ds"
    build_tiny(out, tmp_path_factory.mktemp("src-images"))
    return out


def _copy(dataset: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(dataset, tmp_path / "copy"))


def test_a_manifest_of_another_schema_version_is_refused_naming_file_found_and_expected(dataset: Path, tmp_path: Path) -> None:
    root = _copy(dataset, tmp_path)
    manifest = json.loads((root / MANIFEST_FILE).read_text())
    manifest["schema_version"] = "0.9"
    (root / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(DataError) as err:
        load_dataset(root)
    msg = str(err.value)
    assert str(root / MANIFEST_FILE) in msg and "'0.9'" in msg and repr(SCHEMA_VERSION) in msg


def test_a_folder_without_manifest_is_not_a_dataset(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no manifest"):
        read_manifest(tmp_path)


def test_a_missing_table_is_named(dataset: Path, tmp_path: Path) -> None:
    root = _copy(dataset, tmp_path)
    (root / retrieval_file("test")).unlink()
    with pytest.raises(DataError, match=r"retrieval-test\.parquet: required file is missing"):
        load_dataset(root)


def test_a_table_with_other_columns_is_refused_listing_found_and_expected(dataset: Path, tmp_path: Path) -> None:
    root = _copy(dataset, tmp_path)
    edges = pq.read_table(root / EDGES_FILE).drop_columns(["support"])
    pq.write_table(edges, root / EDGES_FILE)
    with pytest.raises(DataError, match=r"edges\.parquet: columns are \(src: string, dst: string, relation_id: int32, split: string\); expected"):
        load_dataset(root)


def test_a_dataset_missing_a_split_is_refused(dataset: Path, tmp_path: Path) -> None:
    root = _copy(dataset, tmp_path)
    items = pq.read_table(root / "items.parquet")
    split = pa.array(["train" if s == "test" else s for s in items.column("split").to_pylist()], pa.string())
    pq.write_table(items.set_column(4, "split", split), root / "items.parquet")
    with pytest.raises(DataError, match=r"items\.parquet: no items in split\(s\) \['test'\]"):
        load_dataset(root)


def test_an_edge_to_an_unknown_item_is_named(dataset: Path, tmp_path: Path) -> None:
    root = _copy(dataset, tmp_path)
    edges = pq.read_table(root / EDGES_FILE)
    dst = pa.array(["ZZZ"] + edges.column("dst").to_pylist()[1:], pa.string())
    pq.write_table(edges.set_column(1, "dst", dst), root / EDGES_FILE)
    with pytest.raises(DataError, match=r"edges\.parquet: item 'ZZZ' is not in items\.parquet"):
        load_dataset(root)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("n_clusters", 0, "n_clusters must be an integer in [1, 10000], got 0"),
        ("n_negatives", 2.5, "n_negatives must be an integer >= 1"),
        ("split_fractions", (0.8, 0.2, 0.0), "split_fractions must be three numbers in (0, 1)"),
        ("split_fractions", (0.5, 0.2, 0.2), "split_fractions must be three numbers in (0, 1) (train, val, test) summing to 1"),
        ("max_validity_per_split", 1, "max_validity_per_split must be an integer >= 2"),
        ("seed", -1, "seed must be an integer in [0, 9223372036854775807], got -1"),
        ("relation_verb", " ", "relation_verb must be a non-empty string"),
    ],
)
def test_build_config_rejects_out_of_range_values_naming_the_field(field: str, value, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"BuildConfig.{message}")):
        BuildConfig(name="x", **{field: value})


@pytest.mark.slow
def test_a_few_thousand_item_dataset_loads_well_under_a_second(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n_items, n_cats = 3000, 8
    img = write_png(tmp_path / "one.png", (1, 2, 3))  # one shared file: hardlinked per item
    items = pd.DataFrame(
        {
            "item_id": [f"P{i:05d}" for i in range(n_items)],
            "text": [f"product {i}" for i in range(n_items)],
            "image_path": str(img),
            "category": [f"D > C{i % n_cats}" for i in range(n_items)],
            "profile_category": [f"C{i % n_cats}" for i in range(n_items)],
        }
    )
    rows = []
    for u in range(6000):
        pref = rng.dirichlet(np.full(n_cats, 0.3))
        cats = rng.choice(n_cats, size=int(rng.integers(2, 12)), p=pref)
        rows += [(f"u{u}", f"P{int(rng.integers(0, n_items // n_cats)) * n_cats + c:05d}") for c in cats]
    inter = pd.DataFrame(rows, columns=["user_id", "item_id"])
    build_tiny(tmp_path / "ds", tmp_path, items=items, interactions=inter, n_clusters=8, n_negatives=20,
               split_fractions=(0.8, 0.1, 0.1))  # fmt: skip
    start = time.perf_counter()
    ds = load_dataset(tmp_path / "ds")
    elapsed = time.perf_counter() - start
    assert ds.n_items == n_items and len(ds.edges) > 10_000
    assert elapsed < 1.0, f"load took {elapsed:.2f} s"
