"""Every bad input of build_dataset: under `fail` a DataError naming the record, under
`skip` the record (and what hangs on it) goes and the manifest counts it."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tiny_catalog import build_tiny, tiny_interactions, tiny_items, write_png

from rcml_core.data.format.io import load_dataset
from rcml_core.data.format.skips import SkipLog
from rcml_core.errors import DataError


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("src-images")


def _garbage_image(folder: Path) -> str:
    path = folder / "garbage.png"
    path.write_bytes(b"this is not an image at all" * 10)
    return str(path)


def _truncated_png(folder: Path) -> str:
    good = write_png(folder / "whole.png", (10, 120, 200), size=(64, 64))
    data = good.read_bytes()
    path = folder / "truncated.png"
    path.write_bytes(data[: len(data) // 2])
    return str(path)


def _garbled_pixels_png(folder: Path) -> str:
    """A PNG whose chunk CRCs are valid (so Image.verify() passes) but whose compressed
    pixel data is garbage (so Image.load() fails)."""
    data = write_png(folder / "whole2.png", (10, 120, 200), size=(64, 64)).read_bytes()
    at = data.index(b"IDAT")
    length = struct.unpack(">I", data[at - 4 : at])[0]
    body = bytes(b ^ 0x5A if k >= 2 else b for k, b in enumerate(data[at + 4 : at + 4 + length]))
    crc = struct.pack(">I", zlib.crc32(b"IDAT" + body) & 0xFFFFFFFF)
    path = folder / "garbled.png"
    path.write_bytes(data[: at + 4] + body + crc + data[at + 8 + length :])
    return str(path)


def _set(items: pd.DataFrame, item_id: str, column: str, value) -> pd.DataFrame:
    items = items.copy()
    items.loc[items["item_id"] == item_id, column] = value
    return items


# (case name, reason, how to break the items, the text the fail message must contain, the item that must vanish)
ITEM_CASES = [
    ("empty text", "empty_text", lambda it, d: _set(it, "I007", "text", "   "), "item 'I007' (items row 7): text is empty", "I007"),
    ("no category", "missing_category", lambda it, d: _set(it, "I009", "category", None), "item 'I009' (items row 9): category", "I009"),
    (
        "no profile category",
        "missing_category",
        lambda it, d: _set(it, "I010", "profile_category", ""),
        "item 'I010' (items row 10): profile_category is empty",
        "I010",
    ),
    (
        "image file missing",
        "missing_image",
        lambda it, d: _set(it, "I011", "image_path", str(d / "nowhere.png")),
        "item 'I011' (items row 11): image file",
        "I011",
    ),
    (
        "image not decodable",
        "corrupt_image",
        lambda it, d: _set(it, "I012", "image_path", _garbage_image(d)),
        "item 'I012' (items row 12): image file",
        "I012",
    ),
    (
        "image truncated",
        "corrupt_image",
        lambda it, d: _set(it, "I013", "image_path", _truncated_png(d)),
        "item 'I013' (items row 13): image file",
        "I013",
    ),
    (
        "image pixels garbled",
        "corrupt_image",
        lambda it, d: _set(it, "I014", "image_path", _garbled_pixels_png(d)),
        "item 'I014' (items row 14): image file",
        "I014",
    ),
    (
        "duplicate item id",
        "duplicate_item",
        lambda it, d: pd.concat([it, _set(it[it["item_id"] == "I005"], "I005", "text", "an impostor")], ignore_index=True),
        "item 'I005' (items row 60): item_id already used",
        None,  # the first I005 stays
    ),
    (
        "empty item id",
        "missing_item_id",
        lambda it, d: pd.concat([it, _set(it[it["item_id"] == "I005"], "I005", "item_id", None)], ignore_index=True),
        "items row 60: item_id is empty",
        None,
    ),
]


@pytest.mark.parametrize("case, reason, breaker, message, bad_id", ITEM_CASES, ids=[c[0] for c in ITEM_CASES])
def test_a_bad_item_fails_the_build_with_a_message_naming_it(case, reason, breaker, message, bad_id, image_dir, tmp_path) -> None:
    items = breaker(tiny_items(image_dir), tmp_path)
    with pytest.raises(DataError) as err:
        build_tiny(tmp_path / "ds", image_dir, items=items)
    assert message in str(err.value) and f"reason: {reason}" in str(err.value)
    assert not (tmp_path / "ds").exists()


@pytest.mark.parametrize("case, reason, breaker, message, bad_id", ITEM_CASES, ids=[c[0] for c in ITEM_CASES])
def test_a_bad_item_is_skipped_with_its_interactions_and_counted(case, reason, breaker, message, bad_id, image_dir, tmp_path) -> None:
    items = breaker(tiny_items(image_dir), tmp_path)
    inter = tiny_interactions()
    manifest = build_tiny(tmp_path / "ds", image_dir, items=items, interactions=inter, skips=SkipLog("skip"))
    ds = load_dataset(tmp_path / "ds")
    assert manifest.skips["counts"] == {reason: 1} and manifest.skips["policy"] == "skip"
    assert message in manifest.skips["examples"][reason][0]
    if bad_id is None:  # the first occurrence stays, unchanged
        assert ds.n_items == 60 and "an impostor" not in set(ds.items["text"])
    else:
        assert ds.n_items == 59 and bad_id not in set(ds.items["item_id"])
        assert bad_id not in set(ds.edges["src"]) | set(ds.edges["dst"])
        assert manifest.counts["interaction_rows_dropped_with_skipped_items"] == int(inter["item_id"].eq(bad_id).sum())


def _bad_interactions() -> pd.DataFrame:
    inter = tiny_interactions()
    extra = pd.DataFrame([{"user_id": "U001", "item_id": "NOPE", "timestamp": 0}, {"user_id": None, "item_id": "I001", "timestamp": 0}])
    return pd.concat([inter, extra], ignore_index=True).astype({"timestamp": np.int64})


def test_an_interaction_with_an_unknown_item_fails_naming_the_row_and_item(image_dir, tmp_path) -> None:
    inter = _bad_interactions()
    with pytest.raises(DataError, match=rf"interactions row {len(inter) - 2} \(user 'U001'\): item 'NOPE' is not in the items frame"):
        build_tiny(tmp_path / "ds", image_dir, interactions=inter.iloc[:-1])


def test_an_interaction_without_a_user_fails_naming_the_row(image_dir, tmp_path) -> None:
    inter = _bad_interactions()
    with pytest.raises(DataError, match=rf"interactions row {len(inter) - 1}: user_id is empty"):
        build_tiny(tmp_path / "ds", image_dir, interactions=inter)


def test_bad_interactions_are_skipped_and_counted(image_dir, tmp_path) -> None:
    manifest = build_tiny(tmp_path / "ds", image_dir, interactions=_bad_interactions(), skips=SkipLog("skip"))
    assert manifest.skips["counts"] == {"interaction_missing_field": 1, "interaction_unknown_item": 1}
    c = manifest.counts  # every input row is accounted for
    assert c["interaction_rows"] == len(_bad_interactions()) == (
        manifest.skips["total"] + c["interaction_rows_dropped_with_skipped_items"] + c["repeat_interactions_merged"] + c["interactions"]
    )
    assert manifest.counts["interactions"] == len(tiny_interactions().drop_duplicates(["user_id", "item_id"]))


def test_repeat_purchases_are_merged_and_counted_not_skipped(image_dir, tmp_path) -> None:
    inter = tiny_interactions()
    doubled = pd.concat([inter, inter.iloc[:10]], ignore_index=True)
    a = build_tiny(tmp_path / "a", image_dir, interactions=inter)
    b = build_tiny(tmp_path / "b", image_dir, interactions=doubled)
    assert b.skips["total"] == 0
    assert b.counts["repeat_interactions_merged"] == a.counts["repeat_interactions_merged"] + 10
    assert a.content_hash == b.content_hash


def _with_a_cluster_without_shared_pairs(image_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Six extra users who only buy from a fifth category, each a pair nobody else buys:
    their cluster has users but no pair with support >= 2."""
    items = tiny_items(image_dir)
    gifts = [
        {"item_id": f"G{k:02d}", "text": f"Gift {k}", "image_path": str(write_png(image_dir / f"G{k:02d}.png", (90, 9, 9 * k))),
         "category": "Baby > Gifts", "profile_category": "Gifts"}
        for k in range(12)
    ]  # fmt: skip
    buys = [{"user_id": f"G-user{u}", "item_id": f"G{2 * u + j:02d}", "timestamp": j} for u in range(6) for j in range(2)]
    inter = pd.concat([tiny_interactions(), pd.DataFrame(buys)], ignore_index=True).astype({"timestamp": np.int64})
    return pd.concat([items, pd.DataFrame(gifts)], ignore_index=True), inter


def test_a_cluster_left_without_edges_fails_under_fail_policy(image_dir, tmp_path) -> None:
    items, inter = _with_a_cluster_without_shared_pairs(image_dir)
    with pytest.raises(DataError, match=r"cluster \d \(Co-purchased by people who overwhelmingly favor Gifts.*has 6 users but no"):
        build_tiny(tmp_path / "ds", image_dir, items=items, interactions=inter, n_clusters=4, min_pair_support=2)


def test_a_cluster_left_without_edges_is_dropped_and_relations_renumbered_under_skip(image_dir, tmp_path) -> None:
    items, inter = _with_a_cluster_without_shared_pairs(image_dir)
    manifest = build_tiny(
        tmp_path / "ds", image_dir, items=items, interactions=inter, n_clusters=4, min_pair_support=2, skips=SkipLog("skip")
    )
    ds = load_dataset(tmp_path / "ds")
    assert manifest.skips["counts"] == {"empty_cluster": 1}
    assert ds.relations["relation_id"].tolist() == [0, 1, 2, 3] and manifest.counts["relations"] == 3
    assert not ds.relations["text"].str.contains("favor Gifts").any()
    assert (ds.edges["support"] >= 2).all()


def test_more_clusters_than_distinct_user_profiles_is_an_error_that_says_so(image_dir, tmp_path) -> None:
    inter = pd.DataFrame({"user_id": ["a", "a", "b", "b", "c", "c"], "item_id": ["I000", "I001", "I002", "I003", "I016", "I017"]})
    with pytest.raises(DataError, match="n_clusters=3 but there are only 2 distinct user category profiles"):
        build_tiny(tmp_path / "ds", image_dir, interactions=inter)


def test_missing_input_columns_are_named(image_dir, tmp_path) -> None:
    with pytest.raises(DataError, match=r"items frame is missing column\(s\) \['profile_category'\]"):
        build_tiny(tmp_path / "ds", image_dir, items=tiny_items(image_dir).drop(columns="profile_category"))
