"""End to end: simulate -> render -> build_dataset -> load / check, on the tiny preset."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from rcml_core.data.format.check import check_dataset
from rcml_core.data.format.io import load_dataset, read_manifest, table_files
from rcml_core.data.format.schema import IMAGES_DIR, MANIFEST_FILE
from rcml_core.data.synth import SynthConfig, generate_catalog, synth_preset
from rcml_core.errors import DataError

pytestmark = pytest.mark.slow  # each test builds a dataset (about 0.5-1.5 s)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SynthConfig]:
    config = synth_preset("tiny")
    out = tmp_path_factory.mktemp("synth") / "tiny"
    generate_catalog(config, out, progress=False)
    return out, config


def test_tiny_preset_generates_builds_and_loads_with_the_documented_shape(tmp_path: Path) -> None:
    generate_catalog(synth_preset("tiny", seed=11), tmp_path / "ds", progress=False)
    dataset = load_dataset(tmp_path / "ds")
    assert dataset.n_items == 150
    assert len(dataset.inter_relation_ids) == 10
    assert all(len(dataset.retrieval[s]) > 0 for s in ("val", "test"))
    assert (dataset.retrieval["val"].candidates.shape[1]) == 21


def test_generated_dataset_passes_every_check(tiny) -> None:
    report = check_dataset(tiny[0])
    assert report.ok, report.problems[:5]


def test_manifest_source_says_synth_and_regenerates_the_config(tiny) -> None:
    out, config = tiny
    source = read_manifest(out).source
    assert source["kind"] == "synth"
    assert SynthConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in source["params"].items()}) == config
    assert source["build"]["n_clusters"] == config.n_clusters and source["build"]["seed"] == config.seed


def test_dataset_holds_only_public_data_and_builder_written_relations(tiny) -> None:
    """No latent state reaches the dataset: every file is a schema table, an item image
    or the manifest, tables have exactly their schema's columns, relation texts come
    from the builder's clustering, and the manifest's source holds only parameters."""
    out, config = tiny
    tables = dict(table_files())
    for path in out.rglob("*"):
        rel = path.relative_to(out).as_posix()
        if path.is_dir() or rel == MANIFEST_FILE or rel.startswith(f"{IMAGES_DIR}/"):
            continue
        assert rel in tables, f"unexpected file {rel}"
        assert pq.read_schema(path).names == tables[rel].names, rel
    dataset = load_dataset(out)
    assert len(list((out / IMAGES_DIR).iterdir())) == dataset.n_items
    inter = dataset.relations[dataset.relations["kind"] == "inter"]
    assert len(inter) == config.n_clusters
    assert inter["text"].str.startswith("Co-purchased by people who").all()
    source = read_manifest(out).source
    assert set(source) == {"kind", "generator", "params", "files", "build"}
    assert set(source["params"]) == {f.name for f in dataclasses.fields(SynthConfig)}


def test_same_seed_same_content_hash_and_a_new_seed_differs(tiny, tmp_path: Path) -> None:
    out, config = tiny
    again = generate_catalog(config, tmp_path / "again", progress=False)
    other = generate_catalog(synth_preset("tiny", seed=config.seed + 1), tmp_path / "other", progress=False)
    assert again.content_hash == read_manifest(out).content_hash
    assert other.content_hash != again.content_hash


def test_existing_folder_needs_overwrite_and_no_scratch_files_stay_behind(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    generate_catalog(synth_preset("tiny"), out, progress=False)
    with pytest.raises(DataError, match="already exists"):
        generate_catalog(synth_preset("tiny"), out, progress=False)
    manifest = generate_catalog(synth_preset("tiny", seed=3), out, overwrite=True, progress=False)
    assert read_manifest(out).content_hash == manifest.content_hash
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]
