"""Small UCSD Goodreads files in the real format, for the loader tests.

Books (JSON lines as UCSD ships them: string counts in popular_shelves, image_url on
gr-assets), interactions as JSON lines and as the CSV with its two id maps. Four genres,
readers in four taste groups; every book has a real PNG in `images/<book_id>.png`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from raw_source_files import color_of, image_bytes, write_csv, write_jsonl

GENRE_SHELVES = {  # the shelf a group's books are mostly filed on -> the genre it maps to
    "fantasy": "Fantasy & Paranormal",
    "romance": "Romance",
    "mystery-thriller": "Mystery, Thriller & Crime",
    "poetry": "Poetry",
}
NOPHOTO = "https://s.gr-assets.com/assets/nophoto/book/111x148-bcc042a9c91a29c1d680899eff700a03.png"


@dataclass
class GoodreadsRaw:
    books: Path
    interactions_json: Path
    interactions_csv: Path
    user_map: Path
    book_map: Path
    images_dir: Path
    book_records: list[dict]
    reads: list[tuple[str, str, bool]]  # (user_id, book_id, is_read) of the good interactions
    bad_book_lines: list[int] = field(default_factory=list)
    bad_interaction_lines: list[int] = field(default_factory=list)


def book_id(k: int) -> str:
    return str(1000 + k)


def book_record(k: int, shelf: str, image_url: str | None = None) -> dict:
    return {
        "isbn": "",
        "text_reviews_count": "3",
        "series": [],
        "country_code": "US",
        "language_code": "eng",
        "popular_shelves": [
            {"count": "250", "name": "to-read"},
            {"count": str(20 + k % 7), "name": shelf},
            {"count": "3", "name": "favorites"},
            {"count": "2", "name": "fiction"},
        ],
        "asin": "",
        "is_ebook": "false",
        "average_rating": "4.01",
        "similar_books": [],
        "description": "A book.",
        "format": "Paperback",
        "link": f"https://www.goodreads.com/book/show/{book_id(k)}",
        "authors": [{"author_id": str(50 + k % 9), "role": ""}],
        "publisher": "Pub",
        "num_pages": "320",
        "publication_year": "2011",
        "url": f"https://www.goodreads.com/book/show/{book_id(k)}",
        "image_url": image_url or f"https://images.gr-assets.com/books/1310220028m/{book_id(k)}.jpg",
        "book_id": book_id(k),
        "ratings_count": "40",
        "work_id": str(9000 + k),
        "title": f"The {shelf.split('-')[0]} book {k}",
        "title_without_series": f"The {shelf.split('-')[0]} book {k}",
    }


def interaction_record(user: str, book: str, is_read: bool, rating: int = 4) -> dict:
    return {
        "user_id": user,
        "book_id": book,
        "review_id": f"r{user}{book}",
        "is_read": is_read,
        "rating": rating if is_read else 0,
        "review_text_incomplete": "",
        "date_added": "Mon Aug 28 13:18:46 -0700 2017",
        "date_updated": "Mon Aug 28 13:18:46 -0700 2017",
        "read_at": "",
        "started_at": "",
    }


def make_goodreads(
    root: Path,
    *,
    n_users: int = 120,
    books_per_genre: int = 24,
    seed: int = 0,
    gz: bool = True,
    extra_books: list[dict | str] = (),
    extra_interactions: list[dict | str] = (),
    extra_csv_rows: list[str] = (),
) -> GoodreadsRaw:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    shelves = list(GENRE_SHELVES)
    books = [book_record(g * books_per_genre + j, shelf) for g, shelf in enumerate(shelves)
             for j in range(books_per_genre)]
    reads: list[tuple[str, str, bool]] = []
    for u in range(n_users):
        group = u % len(shelves)
        ks: set[int] = set()
        n_read = int(rng.integers(6, 11))
        while len(ks) < n_read:
            g = group if rng.random() < 0.7 else int(rng.integers(len(shelves)))
            ks.add(g * books_per_genre + int(rng.integers(books_per_genre)))
        user = f"{u:08x}d1347389f2ab93d60773d4d"
        reads += [(user, book_id(k), True) for k in sorted(ks)]
        reads.append((user, book_id(int(rng.integers(len(books)))), False))  # shelved, not read
    ext = ".json.gz" if gz else ".json"
    books_path = write_jsonl(root / f"goodreads_books{ext}", [*books, *extra_books])
    inter_json = write_jsonl(
        root / f"goodreads_interactions{ext}",
        [*(interaction_record(u, b, r) for u, b, r in reads), *extra_interactions],
    )
    users = sorted({u for u, _, _ in reads})
    user_csv = {u: i for i, u in enumerate(users)}
    book_csv = {b["book_id"]: i for i, b in enumerate(books)}
    user_map = write_csv(root / "user_id_map.csv", ["user_id_csv", "user_id"], [(i, u) for u, i in user_csv.items()])
    book_map = write_csv(root / "book_id_map.csv", ["book_id_csv", "book_id"], [(i, b) for b, i in book_csv.items()])
    inter_csv = write_csv(
        root / "goodreads_interactions.csv",
        ["user_id", "book_id", "is_read", "rating", "is_reviewed"],
        [*((user_csv[u], book_csv[b], int(r), 4 if r else 0, 0) for u, b, r in reads), *extra_csv_rows],
    )
    images_dir = root / "images"
    images_dir.mkdir(exist_ok=True)
    for k, rec in enumerate(books):
        (images_dir / f"{rec['book_id']}.png").write_bytes(image_bytes(color_of(k), "PNG", size=10))
    return GoodreadsRaw(
        books=books_path,
        interactions_json=inter_json,
        interactions_csv=inter_csv,
        user_map=user_map,
        book_map=book_map,
        images_dir=images_dir,
        book_records=books,
        reads=reads,
        bad_book_lines=[len(books) + 1 + i for i in range(len(extra_books))],
        bad_interaction_lines=[len(reads) + 1 + i for i in range(len(extra_interactions))],
    )
