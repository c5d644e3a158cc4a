"""An item image path in items.parquet cannot leave its dataset folder: `../` or an absolute path is refused
when the dataset is loaded, hashed or checked, with the row and item it comes from."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tiny_catalog import build_tiny

from rcml_core.data.format.check import check_dataset
from rcml_core.data.format.image_paths import image_path_problem
from rcml_core.data.format.io import content_hash, load_dataset
from rcml_core.data.format.schema import ITEMS_FILE
from rcml_core.errors import DataError


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("paths") / "ds"
    build_tiny(out, tmp_path_factory.mktemp("src-images"))
    return out


def _with_image(built: Path, tmp_path: Path, row: int, value: str) -> Path:
    root = Path(shutil.copytree(built, tmp_path / "ds"))
    table = pq.read_table(root / ITEMS_FILE)
    i = table.schema.get_field_index("image")
    images = table.column("image").to_pylist()
    images[row] = value
    pq.write_table(table.set_column(i, table.schema.field(i), pa.array(images, pa.string())), root / ITEMS_FILE)
    return root


@pytest.mark.parametrize("value, why", [
    ("../outside.png", r"leaves the dataset folder \('\.\.'\)"),
    ("images/../../outside.png", r"leaves the dataset folder"),
    ("/etc/passwd", r"is absolute; it must be relative to the dataset folder"),
    ("C:\\x.png", r"is absolute"),
])
def test_loading_refuses_an_image_path_outside_the_folder_naming_the_record(built, tmp_path, value, why) -> None:
    (tmp_path / "outside.png").write_bytes(b"a file the dataset must not reach")
    root = _with_image(built, tmp_path, 4, value)
    with pytest.raises(DataError, match=rf"items\.parquet row 4 \(item 'I004'\): image path .* {why}"):
        load_dataset(root)
    with pytest.raises(DataError, match=r"row 4 \(item 'I004'\)"):
        content_hash(root)  # the hash never reads the file either


def test_check_lists_an_escaping_path_and_a_symlink_out_of_the_folder(built, tmp_path) -> None:
    root = _with_image(built, tmp_path, 2, "../outside.png")
    (tmp_path / "outside.png").write_bytes(b"x")
    link = root / "images" / "I009.png"
    link.unlink()
    link.symlink_to(tmp_path / "outside.png")
    problems = [str(p) for p in check_dataset(root).problems]
    assert "items.parquet row 2 (item 'I002'): image path '../outside.png' leaves the dataset folder ('..')" in problems
    assert any(p.startswith("items.parquet row 9 (item 'I009'): image path") and "symbolic link" in p for p in problems)


def test_ordinary_relative_paths_are_accepted() -> None:
    assert image_path_problem("images/I001.png") is None
    assert image_path_problem("images/a..b.png") is None  # dots inside a name are not a parent reference
    assert image_path_problem("") == "image path is empty"
