"""check_dataset and `rcml data check`: a valid dataset passes; a corrupted one has every
problem listed with the record it concerns."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tiny_catalog import build_tiny

from rcml_cli.main import main
from rcml_core.data.format.check import check_dataset
from rcml_core.data.format.skips import SkipLog
from rcml_core.data.format.schema import EDGES_FILE, ITEMS_FILE, MANIFEST_FILE, retrieval_file, validity_file


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("check") / "ds"
    build_tiny(out, tmp_path_factory.mktemp("src-images"))
    return out


def _rewrite(path: Path, column: str, values: list) -> None:
    table = pq.read_table(path)
    i = table.schema.get_field_index(column)
    pq.write_table(table.set_column(i, table.schema.field(i), pa.array(values, table.schema.field(i).type)), path)


def test_a_freshly_built_dataset_has_no_problems(dataset: Path) -> None:
    report = check_dataset(dataset)
    assert report.ok, [str(p) for p in report.problems]
    assert report.stats.splits["train"].items == 36 and report.stats.relations == 3


def test_every_corruption_is_reported_with_the_record_it_concerns(dataset: Path, tmp_path: Path) -> None:
    root = Path(shutil.copytree(dataset, tmp_path / "bad"))
    items = pq.read_table(root / ITEMS_FILE).to_pandas()
    edges = pq.read_table(root / EDGES_FILE).to_pandas()
    split_of = dict(zip(items["item_id"], items["split"]))
    # 1. an edge whose dst moves to an item of another split
    other = next(i for i in items["item_id"] if split_of[i] != edges["split"].iat[0] and i > edges["src"].iat[0])
    _rewrite(root / EDGES_FILE, "dst", [other] + edges["dst"].tolist()[1:])
    # 2. a retrieval negative replaced by the query's positive
    ret = pq.read_table(root / retrieval_file("val")).to_pandas()
    negatives = [list(n) for n in ret["negatives"]]
    negatives[0][0] = ret["dst"].iat[0]
    _rewrite(root / retrieval_file("val"), "negatives", negatives)
    # 3. one validity label flipped
    val = pq.read_table(root / validity_file("test")).to_pandas()
    _rewrite(root / validity_file("test"), "label", [1 - val["label"].iat[0]] + val["label"].tolist()[1:])
    # 4. an image deleted
    (root / items["image"].iat[5]).unlink()
    # 5. manifest counts edited
    manifest = json.loads((root / MANIFEST_FILE).read_text())
    manifest["counts"]["relations"] = 7
    (root / MANIFEST_FILE).write_text(json.dumps(manifest))

    problems = [str(p) for p in check_dataset(root).problems]
    expect = [
        f"edges.parquet row 0 ({edges['src'].iat[0]} - {other}, relation {edges['relation_id'].iat[0]}): endpoints are not both in the edge's split",
        "retrieval-val.parquet row 0 (query 0",
        "negatives are not distinct or include A or B",
        "validity-test.parquet row 0 (instance 0",
        "label disagrees with the edges",
        "validity-test.parquet: labels are not balanced",
        f"items.parquet row 5 (item {items['item_id'].iat[5]!r}): image file is missing",
        "manifest.json: counts.relations is 7 but the tables hold 3",
        "manifest.json: content hash cannot be computed",  # the image is gone
    ]
    for text in expect:
        assert any(text in p for p in problems), (text, problems)


def test_an_image_edited_after_the_build_is_caught_by_the_content_hash(dataset: Path, tmp_path: Path) -> None:
    root = Path(shutil.copytree(dataset, tmp_path / "edited"))
    image = root / pq.read_table(root / ITEMS_FILE).column("image")[0].as_py()
    image.write_bytes(image.read_bytes() + b"\0")
    problems = [str(p) for p in check_dataset(root).problems]
    assert len(problems) == 1 and problems[0].startswith("manifest.json: content_hash") and "does not match the files" in problems[0]


def test_cli_check_prints_the_summary_and_exits_0_when_valid(dataset: Path, capsys) -> None:
    assert main(["data", "check", str(dataset)]) == 0
    out = capsys.readouterr().out
    for text in ("train", "degree mean / median / p90 / max", "edges per relation (3 inter relations)", "Co-purchased by",
                 "retrieval-val", "skipped records at build: none", "check: OK"):  # fmt: skip
        assert text in out


def test_cli_check_lists_problems_and_exits_1_when_corrupted(dataset: Path, tmp_path: Path, capsys) -> None:
    root = Path(shutil.copytree(dataset, tmp_path / "bad"))
    items = pq.read_table(root / ITEMS_FILE).to_pandas()
    _rewrite(root / ITEMS_FILE, "text", [""] + items["text"].tolist()[1:])
    assert main(["data", "check", str(root)]) == 1
    out = capsys.readouterr().out
    assert f"items.parquet row 0 (item {items['item_id'].iat[0]!r}): text is empty" in out
    assert "problem(s) found" in out


def test_cli_check_reports_the_skips_recorded_at_build(tmp_path: Path, capsys) -> None:
    from tiny_catalog import tiny_items

    items = tiny_items(tmp_path / "img")
    items.loc[3, "text"] = ""
    build_tiny(tmp_path / "ds", tmp_path / "img", items=items, skips=SkipLog("skip"))
    assert main(["data", "check", str(tmp_path / "ds")]) == 0
    assert "empty_text: 1  e.g. item 'I003' (items row 3): text is empty" in capsys.readouterr().out


def test_cli_check_on_a_missing_folder_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    assert main(["data", "check", str(tmp_path / "nope")]) == 2
    assert "no such folder" in capsys.readouterr().err
