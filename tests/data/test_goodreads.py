"""UCSD Goodreads: raw files in the real formats -> `rcml data goodreads` -> a dataset that loads."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from goodreads_raw import GENRE_SHELVES, NOPHOTO, book_id, book_record, interaction_record, make_goodreads

from rcml_cli.main import main
from rcml_core.data.sources.goodreads import GoodreadsFilter, read_goodreads_books, read_goodreads_interactions
from rcml_core.data.sources.goodreads_genres import GENRES, GenreMapper, shelf_genre
from rcml_core.data.format.io import load_dataset
from rcml_core.data.format.skips import SkipLog
from rcml_core.errors import ConfigError

SMALL = ["--n-clusters", "4", "--n-negatives", "5", "--no-progress"]


def run_cli(raw, out, *extra: str, csv: bool = False) -> int:
    inter = ["--interactions", str(raw.interactions_csv), "--user-map", str(raw.user_map), "--book-map",
             str(raw.book_map)] if csv else ["--interactions", str(raw.interactions_json)]
    return main(["data", "goodreads", "--books", str(raw.books), *inter, "--out", str(out), *SMALL, *extra])


def test_cli_prepares_goodreads_with_co_read_relations_and_genre_profiles(tmp_path, capsys):
    raw = make_goodreads(tmp_path / "raw")
    assert run_cli(raw, tmp_path / "ds", "--images-dir", str(raw.images_dir)) == 0
    ds = load_dataset(tmp_path / "ds")
    assert ds.manifest.name == "goodreads" and ds.manifest.source["kind"] == "goodreads"
    assert ds.manifest.source["build"]["relation_verb"] == "Co-read"
    inter = ds.relations[ds.relations["kind"] == "inter"]
    assert inter["text"].str.startswith("Co-read by people who").all()
    assert set(ds.items["category"]) == {f"Books > {g}" for g in GENRE_SHELVES.values()}
    by_id = {b["book_id"]: b for b in raw.book_records}
    assert all(ds.items["text"] == [by_id[i]["title"] for i in ds.items["item_id"]])
    n_unread = sum(1 for _, _, r in raw.reads if not r)
    assert ds.manifest.source["prep"]["notes"] == {"shelved but not read (left out)": n_unread}
    assert "shelved but not read (left out): " in capsys.readouterr().out
    assert main(["data", "check", str(tmp_path / "ds")]) == 0


def test_default_is_eight_user_clusters(tmp_path):
    raw = make_goodreads(tmp_path / "raw", n_users=160)
    args = ["data", "goodreads", "--books", str(raw.books), "--interactions", str(raw.interactions_json),
            "--out", str(tmp_path / "ds"), "--images-dir", str(raw.images_dir), "--n-negatives", "5", "--no-progress"]
    assert main(args) == 0
    ds = load_dataset(tmp_path / "ds")
    assert ds.manifest.source["build"]["n_clusters"] == 8


def test_csv_layout_with_id_maps_builds_the_same_dataset_as_json_lines(tmp_path):
    raw = make_goodreads(tmp_path / "raw")
    assert run_cli(raw, tmp_path / "json", "--images-dir", str(raw.images_dir)) == 0
    assert run_cli(raw, tmp_path / "csv", "--images-dir", str(raw.images_dir), csv=True) == 0
    a, b = load_dataset(tmp_path / "json"), load_dataset(tmp_path / "csv")
    pd.testing.assert_frame_equal(a.items, b.items)
    pd.testing.assert_frame_equal(a.edges, b.edges)
    pd.testing.assert_frame_equal(a.relations, b.relations)


def test_plain_json_files_read_like_gzipped_ones(tmp_path):
    gz = make_goodreads(tmp_path / "gz", n_users=8)
    plain = make_goodreads(tmp_path / "plain", n_users=8, gz=False)
    assert plain.books.name == "goodreads_books.json"
    a = read_goodreads_books(gz.books, SkipLog("fail"))
    b = read_goodreads_books(plain.books, SkipLog("fail"))
    pd.testing.assert_frame_equal(a.frame, b.frame)
    ia = read_goodreads_interactions(gz.interactions_json, SkipLog("fail"), a)
    ib = read_goodreads_interactions(plain.interactions_json, SkipLog("fail"), b)
    pd.testing.assert_frame_equal(ia.frame, ib.frame)
    assert len(ia.frame) == sum(1 for _, _, r in gz.reads if r)


def test_csv_needs_the_book_map_and_json_refuses_maps(tmp_path):
    raw = make_goodreads(tmp_path / "raw", n_users=8)
    books = read_goodreads_books(raw.books, SkipLog("fail"))
    with pytest.raises(ConfigError, match="CSV layout: its book ids need book_map"):
        read_goodreads_interactions(raw.interactions_csv, SkipLog("fail"), books)
    with pytest.raises(ConfigError, match="apply only to the CSV layout"):
        read_goodreads_interactions(raw.interactions_json, SkipLog("fail"), books, book_map=raw.book_map)


def test_nophoto_placeholder_is_a_missing_image_unless_a_local_file_exists(tmp_path, capsys):
    placeholder = book_record(500, "fantasy", image_url=NOPHOTO)
    reads = [interaction_record(f"{u:08x}d1347389f2ab93d60773d4d", placeholder["book_id"], True) for u in range(8)]
    raw = make_goodreads(tmp_path / "raw", extra_books=[placeholder], extra_interactions=reads)
    local = raw.images_dir / f"{placeholder['book_id']}.png"
    assert not local.exists()  # the generator writes images for the good books only
    assert run_cli(raw, tmp_path / "ds", "--images-dir", str(raw.images_dir)) == 2
    assert "item 1500: no image: image_url is Goodreads' 'nophoto' placeholder" in capsys.readouterr().err
    assert run_cli(raw, tmp_path / "ds", "--images-dir", str(raw.images_dir), "--on-bad-record", "skip") == 0
    assert load_dataset(tmp_path / "ds").manifest.skips["counts"] == {"missing_image": 1}
    local.write_bytes((raw.images_dir / f"{book_id(0)}.png").read_bytes())  # the user supplies a cover
    assert run_cli(raw, tmp_path / "ds", "--images-dir", str(raw.images_dir), "--overwrite") == 0
    assert "1500" in set(load_dataset(tmp_path / "ds").items["item_id"])


def _book(k: int, **changes: object) -> dict:
    return {**book_record(k, "fantasy"), **changes}


# reason -> (books, JSON interactions, CSV rows, what the fail message names, use the CSV layout)
BAD_INPUTS = {
    "malformed_json": (['{"book_id": "77", "title": '], [], [],
                       r"goodreads_books\.json\.gz:{b0}: not valid JSON", False),
    "missing_field": ([], [{"user_id": "u1", "book_id": book_id(1)}], [],
                      r"goodreads_interactions\.json\.gz:{i0}: required field 'is_read' is missing", False),
    "empty_title": ([_book(601, title="")], [], [],
                    r"goodreads_books\.json\.gz:{b0}: book 1601 has an empty title", False),
    "duplicate_item": ([_book(2)], [], [], r"goodreads_books\.json\.gz:{b0}: book 1002 appeared before", False),
    "missing_category": ([_book(603, popular_shelves=[{"count": "90", "name": "to-read"}])], [], [],
                         r"goodreads_books\.json\.gz:{b0}: book 1603: none of its 1 shelves names a genre", False),
    "bad_field": ([], [{**interaction_record("u1", book_id(1), True), "is_read": "maybe"}], [],
                  r"goodreads_interactions\.json\.gz:{i0}: 'is_read' must be true/false", False),
    "interaction_unknown_item": ([], [interaction_record("u1", "999999", True)], [],
                                 r"goodreads_interactions\.json\.gz:{i0}: interaction with book 999999, not in", False),
    "malformed_csv": ([], [], ["1,2,1"], r"goodreads_interactions\.csv:{c0}: expected 5 fields", True),
    "unmapped_id": ([], [], ["0,777777,1,5,0"],
                    r"goodreads_interactions\.csv:{c0}: book_id 777777 is not in book_id_map", True),
}


@pytest.mark.parametrize("reason", sorted(BAD_INPUTS))
def test_bad_input_fails_naming_file_line_and_book(tmp_path, capsys, reason):
    books, inters, rows, pattern, csv = BAD_INPUTS[reason]
    raw = make_goodreads(tmp_path / "raw", extra_books=books, extra_interactions=inters, extra_csv_rows=rows)
    assert run_cli(raw, tmp_path / "ds", "--images-dir", str(raw.images_dir), csv=csv) == 2
    err = capsys.readouterr().err
    n_csv_lines = 1 + len(raw.reads)  # header + good rows
    where = {"b0": (raw.bad_book_lines or [0])[0], "i0": (raw.bad_interaction_lines or [0])[0], "c0": n_csv_lines + 1}
    assert len(err.strip().splitlines()) == 1 and f"reason: {reason}" in err
    assert re.search(pattern.format(**where), err), err


@pytest.mark.parametrize("csv", [False, True], ids=["json", "csv"])
def test_every_bad_input_is_skipped_and_counted_in_the_manifest_under_skip(tmp_path, csv):
    chosen = {r: v for r, v in BAD_INPUTS.items() if v[4] == csv or (not v[1] and not v[2])}
    books = [b for v in chosen.values() for b in v[0]]
    inters = [i for v in chosen.values() for i in v[1]]
    rows = [r for v in chosen.values() for r in v[2]]
    raw = make_goodreads(tmp_path / "raw", extra_books=books, extra_interactions=inters, extra_csv_rows=rows)
    assert run_cli(raw, tmp_path / "ds", "--images-dir", str(raw.images_dir), "--on-bad-record", "skip", csv=csv) == 0
    assert load_dataset(tmp_path / "ds").manifest.skips["counts"] == {r: 1 for r in chosen}


@pytest.mark.parametrize(
    "shelf, genre",
    [
        ("to-read", None),
        ("favorites", None),
        ("fantasy", "Fantasy & Paranormal"),
        ("Young-Adult_Fantasy", "Young Adult"),
        ("non-fiction", "Non-fiction"),
        ("historical-fiction", "History & Biography"),
        ("science-fiction", "Fantasy & Paranormal"),
        ("graphic-novels", "Comics & Graphic"),
        ("childrens-books", "Children's"),
        ("mystery-thriller", "Mystery, Thriller & Crime"),
        ("chick-lit", "Romance"),
        ("poems", "Poetry"),
        ("classics", "Fiction"),
        ("yay-books", None),  # words, not substrings: "yay" is not "ya"
    ],
)
def test_shelf_names_map_to_the_documented_genres(shelf, genre):
    assert shelf_genre(shelf) == genre


def test_top_genre_sums_shelf_counts_ignores_small_shelves_and_breaks_ties_by_rule_order():
    shelves = [("to-read", 500), ("fantasy", 10), ("urban-fantasy", 5), ("romance", 12), ("poetry", 2)]
    assert GenreMapper().top_genre(shelves) == "Fantasy & Paranormal"  # 15 > 12
    assert GenreMapper(min_shelf=6).top_genre(shelves) == "Romance"  # urban-fantasy (5) no longer votes
    assert GenreMapper().top_genre([("romance", 4), ("fantasy", 4)]) == "Romance"  # rule order
    assert GenreMapper().top_genre([("to-read", 9)]) is None
    assert len(GENRES) == 10
    with pytest.raises(ConfigError, match=r"min_shelf must be an integer in \[1, 1000000\]"):
        GoodreadsFilter(min_shelf=0)


def test_csv_rows_that_are_not_csv_are_malformed_with_their_line(tmp_path):
    from rcml_core.data.sources.csv_rows import iter_csv_rows

    path = tmp_path / "g.csv"
    path.write_bytes(b"user_id,book_id,is_read\n1,2,1\n3,\"4\"x,1\n5,6\n7,8,0\n")
    skips = SkipLog("skip")
    rows = list(iter_csv_rows(path, skips, ["user_id", "book_id", "is_read"]))
    assert rows == [(2, {"user_id": "1", "book_id": "2", "is_read": "1"}),
                    (5, {"user_id": "7", "book_id": "8", "is_read": "0"})]
    assert skips.counts == {"malformed_csv": 2}
    assert [e.split(":")[1] for e in skips.examples["malformed_csv"]] == ["3", "4"]
