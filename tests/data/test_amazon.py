"""Amazon Reviews 2023: raw files in the real format -> `rcml data amazon` -> a dataset that loads."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from amazon_raw import DOMAIN_LEVEL, item_id, make_amazon, meta_record, review_record
from http_images import serve

from rcml_cli.main import main
from rcml_core.data.sources.amazon import AmazonFilter, main_image_url, read_amazon_meta, read_amazon_reviews
from rcml_core.data.format.io import load_dataset
from rcml_core.data.format.skips import SkipLog
from rcml_core.errors import ConfigError

SMALL = ["--n-clusters", "4", "--n-negatives", "5", "--no-progress"]


def run_cli(raw, out, *extra: str) -> int:
    return main(["data", "amazon", "--reviews", str(raw.reviews), "--meta", str(raw.meta), "--out", str(out),
                 *SMALL, *extra])


def test_cli_prepares_a_domain_end_to_end_that_loads_back_and_passes_check(tmp_path, capsys):
    raw = make_amazon(tmp_path / "raw")
    assert run_cli(raw, tmp_path / "ds", "--images-dir", str(raw.images_dir)) == 0
    printed = capsys.readouterr().out
    ds = load_dataset(tmp_path / "ds")

    assert ds.manifest.name == "Baby_Products"  # from the reviews file name
    assert ds.manifest.source["kind"] == "amazon"
    assert ds.manifest.source["params"]["k_core"] == 5
    assert ds.manifest.source["prep"]["records"] == {raw.reviews.name: len(raw.reviews_records),
                                                     raw.meta.name: len(raw.items)}
    by_id = {m["parent_asin"]: m for m in raw.items}
    row = ds.items.iloc[0]
    meta = by_id[row["item_id"]]
    assert row["text"] == meta["title"]
    assert row["category"] == " > ".join(meta["categories"])
    assert ds.image_path(0).read_bytes() == (raw.images_dir / f"{row['item_id']}.jpg").read_bytes()
    inter = ds.relations[ds.relations["kind"] == "inter"]
    assert len(inter) == 4 and inter["text"].str.startswith("Co-purchased by people who").all()
    assert set(ds.items["split"]) == {"train", "val", "test"} and (ds.edges["split"] == "val").any()
    for line in ("records read:", "interactions:", "images: ", "relations: 4 inter", "edges: ", "train ",
                 "skipped records: none", f"output: {tmp_path / 'ds'}"):
        assert line in printed
    assert main(["data", "check", str(tmp_path / "ds")]) == 0  # every dataset invariant holds


def test_plain_and_gzipped_files_build_the_same_dataset(tmp_path):
    gz = make_amazon(tmp_path / "gz", gz=True)
    plain = make_amazon(tmp_path / "plain", gz=False)
    assert plain.reviews.name.endswith(".jsonl") and gz.reviews.name.endswith(".jsonl.gz")
    assert run_cli(gz, tmp_path / "a", "--images-dir", str(gz.images_dir)) == 0
    assert run_cli(plain, tmp_path / "b", "--images-dir", str(plain.images_dir)) == 0
    a, b = load_dataset(tmp_path / "a"), load_dataset(tmp_path / "b")
    pd.testing.assert_frame_equal(a.items, b.items)
    pd.testing.assert_frame_equal(a.edges, b.edges)
    assert a.manifest.content_hash == b.manifest.content_hash


def test_meta_maps_title_category_path_profile_level_and_main_hi_res_image(tmp_path):
    raw = make_amazon(tmp_path, n_users=0)
    items = read_amazon_meta(raw.meta, SkipLog("fail"))
    first = items.frame.iloc[0]
    assert first["item_id"] == item_id(0)
    assert first["text"] == "Feeding essential model 0"
    assert first["category"] == f"{DOMAIN_LEVEL} > Feeding > Feeding Sub 0"
    assert first["profile_category"] == "Feeding"
    assert first["image_url"].endswith("/71000L._SL1500_.jpg")  # MAIN (listed second), hi_res


def test_main_image_prefers_main_variant_then_hi_res_then_large_then_next_image():
    assert main_image_url([{"variant": "PT01", "hi_res": "p"}, {"variant": "MAIN", "hi_res": "m"}]) == "m"
    assert main_image_url([{"variant": "MAIN", "hi_res": None, "large": "ml"}]) == "ml"
    assert main_image_url([{"variant": "PT01", "large": "first"}, {"variant": "PT02", "large": "second"}]) == "first"
    assert main_image_url([{"variant": "MAIN", "hi_res": None, "large": None, "thumb": "t"},
                           {"variant": "PT01", "large": "next"}]) == "next"
    assert main_image_url([{"variant": "MAIN", "thumb": "t"}]) is None
    assert main_image_url([]) is None


def _no_images(k: int) -> dict:
    rec = meta_record(900 + k, "Feeding", "https://x")
    rec["images"] = []
    return rec


def _empty_title(k: int) -> dict:
    rec = meta_record(900 + k, "Feeding", "https://x")
    rec["title"] = "   "
    return rec


# (reason, planted meta lines, planted review lines, what the fail message must name)
BAD_INPUTS = {
    "malformed_json": ([], ['{"rating": 5.0, "parent_asin": "B000000001", '],
                       r"Baby_Products\.jsonl\.gz:{r0}: not valid JSON"),
    "missing_field": ([], [{"parent_asin": item_id(1), "timestamp": 1, "rating": 5.0}],
                      r"Baby_Products\.jsonl\.gz:{r0}: required field 'user_id' is missing"),
    "empty_title": ([_empty_title(1)], [], r"meta_Baby_Products\.jsonl\.gz:{m0}: item B000000901 has an empty title"),
    "review_unknown_item": ([], [review_record("AGU1", "B0NOSUCHX", 1)],
                            r"Baby_Products\.jsonl\.gz:{r0}: review of item B0NOSUCHX, which is not in the metadata"),
    "missing_image": ([_no_images(2)], [], r"meta_Baby_Products\.jsonl\.gz:{m0}: item B000000902 has no image"),
    "duplicate_item": ([meta_record(3, "Toys", "https://x")], [],
                       r"meta_Baby_Products\.jsonl\.gz:{m0}: item B000000003 appeared before"),
    "missing_category": ([{**meta_record(904, "Toys", "https://x"), "categories": []}], [],
                         r"meta_Baby_Products\.jsonl\.gz:{m0}: item B000000904 has categories \[\]"),
}


@pytest.mark.parametrize("reason", sorted(BAD_INPUTS))
def test_bad_input_fails_naming_file_line_and_item(tmp_path, capsys, reason):
    metas, reviews, pattern = BAD_INPUTS[reason]
    raw = make_amazon(tmp_path / "raw", extra_meta=metas, extra_reviews=reviews)
    assert run_cli(raw, tmp_path / "ds", "--images-dir", str(raw.images_dir)) == 2
    err = capsys.readouterr().err
    lines = {"m0": raw.bad_meta_lines[0] if metas else 0, "r0": raw.bad_review_lines[0] if reviews else 0}
    assert err.startswith("rcml: error: ") and len(err.strip().splitlines()) == 1  # one line, no traceback
    assert re.search(pattern.format(**lines), err), err
    assert f"reason: {reason}" in err
    assert not (tmp_path / "ds").exists()


def test_every_bad_input_is_skipped_and_counted_in_the_manifest_under_skip(tmp_path):
    metas = [m for r in sorted(BAD_INPUTS) for m in BAD_INPUTS[r][0]]
    reviews = [v for r in sorted(BAD_INPUTS) for v in BAD_INPUTS[r][1]]
    # a review of an item that was itself skipped is counted apart from unknown items
    reviews.append(review_record("AGU00001XYZ", "B000000901", 99))
    raw = make_amazon(tmp_path / "raw", extra_meta=metas, extra_reviews=reviews)
    assert run_cli(raw, tmp_path / "ds", "--images-dir", str(raw.images_dir), "--on-bad-record", "skip") == 0
    skips = load_dataset(tmp_path / "ds").manifest.skips
    assert skips["policy"] == "skip"
    assert skips["counts"] == {**{reason: 1 for reason in BAD_INPUTS}, "review_of_skipped_item": 1}
    assert main(["data", "check", str(tmp_path / "ds")]) == 0


def reference_k_core(reviews: pd.DataFrame, k: int) -> pd.DataFrame:
    """The k-core by the textbook loop, independent of the library's implementation."""
    df = reviews.drop_duplicates(["user_id", "parent_asin"])
    while True:
        ok = (df.groupby("user_id")["parent_asin"].transform("size") >= k) & (
            df.groupby("parent_asin")["user_id"].transform("size") >= k
        )
        if ok.all():
            return df
        df = df[ok]


@pytest.mark.parametrize("k", [5, 6])
def test_k_core_keeps_exactly_the_users_and_items_with_k_interactions(tmp_path, k):
    rare = meta_record(950, "Toys", "https://x")  # 3 reviews only: out at any k > 3
    extra = [review_record(f"AGU{u:05d}XYZ", rare["parent_asin"], 5000 + u) for u in range(3)]
    raw = make_amazon(tmp_path / "raw", extra_meta=[rare], extra_reviews=extra)
    (raw.images_dir / f"{rare['parent_asin']}.jpg").write_bytes((raw.images_dir / f"{item_id(0)}.jpg").read_bytes())
    assert run_cli(raw, tmp_path / "ds", "--images-dir", str(raw.images_dir), "--k-core", str(k)) == 0
    ds = load_dataset(tmp_path / "ds")
    expected = reference_k_core(pd.DataFrame(raw.reviews_records + extra), k)
    assert set(ds.items["item_id"]) == set(expected["parent_asin"])
    assert rare["parent_asin"] not in set(ds.items["item_id"])
    assert ds.manifest.counts["users"] == expected["user_id"].nunique()
    assert ds.manifest.counts["interactions"] == len(expected)
    filt = ds.manifest.source["prep"]["filter"]
    assert filt["k_core"] == k and filt["n_dropped_k_core"] == len(raw.reviews_records) + 3 - len(expected)


def test_max_items_keeps_the_most_reviewed_items(tmp_path):
    raw = make_amazon(tmp_path / "raw")
    assert run_cli(raw, tmp_path / "ds", "--images-dir", str(raw.images_dir), "--max-items", "80", "--k-core", "2") == 0
    ds = load_dataset(tmp_path / "ds")
    counts = pd.DataFrame(raw.reviews_records)["parent_asin"].value_counts()
    assert len(ds.items) <= 80
    fewest_kept = counts[list(ds.items["item_id"])].min()
    dropped = counts.drop(list(ds.items["item_id"]))
    assert (dropped <= fewest_kept).all()  # nothing left out was more popular than what was kept


def test_min_rating_drops_low_ratings_and_reports_how_many(tmp_path):
    raw = make_amazon(tmp_path / "raw", n_users=4)
    items = read_amazon_meta(raw.meta, SkipLog("fail"))
    got = read_amazon_reviews(raw.reviews, SkipLog("fail"), items, AmazonFilter(min_rating=4.0))
    ratings = pd.Series([r["rating"] for r in raw.reviews_records])
    assert len(got.frame) == int((ratings >= 4).sum()) and got.n_left_out == int((ratings < 4).sum())
    assert got.frame["timestamp"].dtype == "int64"
    with pytest.raises(ConfigError, match=r"min_rating must be in \[1, 5\]"):
        AmazonFilter(min_rating=7)


def test_missing_and_corrupt_local_images_are_counted_and_their_items_dropped(tmp_path):
    raw = make_amazon(tmp_path / "raw")
    (raw.images_dir / f"{item_id(5)}.jpg").unlink()
    (raw.images_dir / f"{item_id(6)}.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    assert run_cli(raw, tmp_path / "ds", "--images-dir", str(raw.images_dir), "--on-bad-record", "skip") == 0
    ds = load_dataset(tmp_path / "ds")
    assert ds.manifest.skips["counts"] == {"missing_image": 1, "corrupt_image": 1}
    assert {item_id(5), item_id(6)}.isdisjoint(ds.items["item_id"])
    assert any("item B000000005" in e for e in ds.manifest.skips["examples"]["missing_image"])


def test_download_path_retries_caches_and_reuses_images(tmp_path, monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    files: dict[str, bytes] = {}
    flaky: set[str] = set()
    cache = tmp_path / "cache"
    args = ("--download-images", "--image-cache", str(cache), "--image-backoff", "0.01")
    with serve(files, fail_first=flaky) as srv:  # the server reads both at request time
        raw = make_amazon(tmp_path / "raw", url_base=srv.base_url, write_images=False)
        files.update(raw.image_data)
        flaky.update(sorted(raw.image_data)[:5])
        assert run_cli(raw, tmp_path / "ds", *args) == 0
        ds = load_dataset(tmp_path / "ds")
        wanted = {f"{71000 + int(i[2:])}L._SL1500_.jpg" for i in ds.items["item_id"]}
        assert set(srv.hits) == wanted  # only the images of items that survived filtering
        assert all(srv.hits[p] == (2 if p in flaky else 1) for p in wanted)  # one retry after each 503
    images = ds.manifest.source["prep"]["images"]
    assert images["n_downloaded"] == len(ds.items) and images["n_missing"] == 0
    k = int(ds.items.iloc[0]["item_id"][2:])
    assert ds.image_path(0).read_bytes() == raw.image_data[f"{71000 + k}L._SL1500_.jpg"]
    # the server is gone: a rebuild is served from the cache alone and is identical
    assert run_cli(raw, tmp_path / "ds", *args, "--overwrite") == 0
    again = load_dataset(tmp_path / "ds")
    assert again.manifest.source["prep"]["images"]["n_cached"] == len(ds.items)
    assert again.manifest.content_hash == ds.manifest.content_hash


def test_images_that_cannot_be_downloaded_fail_or_are_counted(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    files: dict[str, bytes] = {}
    dead: set[str] = set()
    with serve(files, always_fail=dead) as srv:
        raw = make_amazon(tmp_path / "raw", url_base=srv.base_url, write_images=False)
        files.update(raw.image_data)
        dead_path = f"{71000 + 7}L._SL1500_.jpg"
        dead.add(dead_path)
        args = ("--download-images", "--image-cache", str(tmp_path / "cache"), "--image-retries", "1",
                "--image-backoff", "0.01")
        assert run_cli(raw, tmp_path / "ds", *args) == 2
        assert re.search(rf"item {item_id(7)}: could not download {re.escape(srv.url(dead_path))}: HTTP 500",
                         capsys.readouterr().err)
        assert run_cli(raw, tmp_path / "ds", *args, "--on-bad-record", "skip") == 0
    ds = load_dataset(tmp_path / "ds")
    assert ds.manifest.skips["counts"] == {"missing_image": 1}
    assert item_id(7) not in set(ds.items["item_id"])


def test_download_without_a_cache_folder_is_a_clear_error(tmp_path, capsys):
    raw = make_amazon(tmp_path / "raw", n_users=10)
    assert run_cli(raw, tmp_path / "ds", "--download-images") == 2
    assert "--download-images needs --image-cache DIR" in capsys.readouterr().err


def test_existing_output_is_refused_before_reading_without_overwrite(tmp_path, capsys):
    raw = make_amazon(tmp_path / "raw")
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "keep.txt").write_text("mine")
    assert run_cli(raw, tmp_path / "ds", "--images-dir", str(raw.images_dir)) == 2
    assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "ds" / "keep.txt").read_text() == "mine"


def test_manifest_records_source_files_and_parameters(tmp_path):
    raw = make_amazon(tmp_path / "raw")
    assert run_cli(raw, tmp_path / "ds", "--images-dir", str(raw.images_dir), "--domain", "baby",
                   "--min-rating", "2", "--seed", "3") == 0
    manifest = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    assert manifest["name"] == "baby"
    assert [f["path"] for f in manifest["source"]["files"]] == [str(raw.reviews.resolve()), str(raw.meta.resolve())]
    assert manifest["source"]["params"]["min_rating"] == 2.0
    assert manifest["source"]["params"]["images_dir"] == str(raw.images_dir)
    assert manifest["source"]["build"]["seed"] == 3 and manifest["source"]["build"]["n_clusters"] == 4
    assert manifest["source"]["prep"]["notes"]["reviews below min_rating"] > 0


def test_corrupt_local_image_fails_naming_the_item_under_fail(tmp_path, capsys):
    raw = make_amazon(tmp_path / "raw")
    (raw.images_dir / f"{item_id(6)}.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    assert run_cli(raw, tmp_path / "ds", "--images-dir", str(raw.images_dir)) == 2
    err = capsys.readouterr().err
    assert f"item {item_id(6)}: image file" in err and "reason: corrupt_image" in err
