"""UCSD Goodreads (Wan & McAuley, 2018; Wan et al., 2019): books + interactions -> items, interactions.

Used only as the out-of-domain test set (paper 4.1). Files:
- books, `goodreads_books*.json(.gz)`, one book per line: book_id, title, image_url,
  popular_shelves (list of {count, name}; counts are strings in the dump), authors, ...;
- interactions, either JSON lines `goodreads_interactions*.json(.gz)` (user_id, book_id,
  is_read, rating, date_added, ...) or the CSV `goodreads_interactions.csv` (user_id,
  book_id, is_read, rating, is_reviewed) whose integer ids map to the real ones through
  `user_id_map.csv` (user_id_csv, user_id) and `book_id_map.csv` (book_id_csv, book_id).
  The format is chosen by the file name: `.csv` / `.csv.gz` is CSV, anything else JSON lines.
Only read interactions (is_read true / 1) are kept: a relation is "co-read".

Mapping to the canonical item: item_id = book_id; text = title; profile_category = the
top genre of the book's shelves (rcml_core.data.sources.goodreads_genres); category =
"Books > <genre>"; image = image_url, where Goodreads' placeholder URLs (containing
"nophoto") count as no image: such books are "missing_image" unless the local image
folder holds a file for them.

Bad records (SkipLog reasons): malformed_json / missing_field (reader), malformed_csv,
empty_title, bad_field, duplicate_item, missing_category (no shelf names a genre),
unmapped_id (a CSV id absent from its map), interaction_unknown_item,
interaction_of_skipped_item.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from rcml_core.data.format.skips import SkipLog
from rcml_core.data.format.store import check_destination
from rcml_core.data.sources.csv_rows import iter_csv_rows, read_id_map
from rcml_core.data.sources.goodreads_genres import GenreMapper
from rcml_core.data.sources.jsonl import iter_json_lines
from rcml_core.data.sources.pipeline import Preparation, SourceRead, SourceReport, build_from_source, file_info, image_params
from rcml_core.data.sources.reader import (
    BadRecord,
    InteractionRecords,
    InteractionSpec,
    ItemRecords,
    ItemSpec,
    Record,
    read_interactions,
    read_items,
)
from rcml_core.config import check_range
from rcml_core.errors import ConfigError

GOODREADS_RELATION_VERB = "Co-read"
GOODREADS_N_CLUSTERS = 8  # paper A.2.8
BOOK_REQUIRED: tuple[str, ...] = ("book_id", "title")
JSON_INTERACTION_REQUIRED: tuple[str, ...] = ("user_id", "book_id", "is_read")
CSV_INTERACTION_COLUMNS: tuple[str, ...] = ("user_id", "book_id", "is_read")
NOPHOTO_MARK = "nophoto"
NOPHOTO_REASON = "image_url is Goodreads' 'nophoto' placeholder"
CATEGORY_ROOT = "Books"


@dataclass(frozen=True)
class GoodreadsFilter:
    """min_shelf: shelves filed by fewer users than this do not vote for a book's genre."""

    min_shelf: int = 1

    def __post_init__(self) -> None:
        check_range("min_shelf", self.min_shelf, 1, 1_000_000, integer=True)


def is_csv(path: Path) -> bool:
    """Interactions in the CSV layout (by file name: .csv or .csv.gz)."""
    name = Path(path).name.lower()
    return name.endswith(".csv") or name.endswith(".csv.gz")


def _shelves(value: object) -> list[tuple[str, int]] | None:
    """popular_shelves as (name, count) pairs, or None when malformed. Counts may be strings."""
    if not isinstance(value, list):
        return None
    out = []
    for shelf in value:
        if not isinstance(shelf, dict) or not isinstance(shelf.get("name"), str):
            return None
        count = shelf.get("count")
        try:
            out.append((shelf["name"], int(count)))
        except (TypeError, ValueError):
            return None
    return out


def _book_row(mapper: GenreMapper) -> Callable[[str, Record], tuple[str, str, str | None, str]]:
    def parse(book_id: str, rec: Record) -> tuple[str, str, str | None, str]:
        """(category, profile_category, image_url, no_url_reason) of a book; raises BadRecord."""
        shelves = _shelves(rec.get("popular_shelves", []))
        if shelves is None:
            raise BadRecord("bad_field", f"book {book_id}: 'popular_shelves' must be a list of {{count, name}}")
        genre = mapper.top_genre(shelves)
        if genre is None:
            raise BadRecord("missing_category", f"book {book_id}: none of its {len(shelves)} shelves names a genre")
        url = rec.get("image_url")
        url = url.strip() if isinstance(url, str) and url.strip() else None
        reason = "the book has no image_url"
        if url is not None and NOPHOTO_MARK in url:
            url, reason = None, NOPHOTO_REASON
        return f"{CATEGORY_ROOT} > {genre}", genre, url, reason

    return parse


def read_goodreads_books(
    path: Path, skips: SkipLog, config: GoodreadsFilter = GoodreadsFilter(), *, progress: bool = False
) -> ItemRecords:
    """Read books into canonical item rows (see the module docstring for the mapping): item_id, text,
    category, profile_category, image_url, no_url_reason."""
    records = iter_json_lines(Path(path), skips, BOOK_REQUIRED, nonblank=("book_id",), progress=progress)
    spec = ItemSpec("book_id", "book", "the books file", ("category", "profile_category", "image_url", "no_url_reason"),
                    _book_row(GenreMapper(config.min_shelf)))
    return read_items(path, records, skips, spec)


def _truthy_flag(value: object) -> bool | None:
    """is_read as a bool: JSON true/false, 1/0, "1"/"0", "true"/"false"; None if unreadable."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0 if value in (0, 1) else None
    if isinstance(value, str) and value.strip().lower() in ("1", "0", "true", "false"):
        return value.strip().lower() in ("1", "true")
    return None


def read_goodreads_interactions(
    path: Path,
    skips: SkipLog,
    books: ItemRecords,
    *,
    user_map: Path | None = None,
    book_map: Path | None = None,
    progress: bool = False,
) -> InteractionRecords:
    """Read the read (is_read) interactions with known books, from JSON lines or the CSV + maps; `n_left_out`
    counts those shelved but not read."""
    path = Path(path)
    csv_layout = is_csv(path)
    if csv_layout and book_map is None:
        raise ConfigError(f"{path.name} is the CSV layout: its book ids need book_map (book_id_map.csv)")
    if not csv_layout and (user_map or book_map):
        raise ConfigError(f"{path.name} is JSON lines with real ids: user_map / book_map apply only to the CSV layout")
    users_of = read_id_map(user_map, "user_id_csv", "user_id", skips, progress=progress) if user_map else None
    books_of = read_id_map(book_map, "book_id_csv", "book_id", skips, progress=progress) if book_map else None
    if csv_layout:
        rows = iter_csv_rows(path, skips, CSV_INTERACTION_COLUMNS, progress=progress)
    else:
        rows = iter_json_lines(path, skips, JSON_INTERACTION_REQUIRED, nonblank=("user_id", "book_id"),
                               progress=progress)

    def identify(rec: Record) -> tuple[str, str] | None:
        """(user, book) of a read interaction with the CSV's ids mapped, None when not read; raises BadRecord."""
        is_read = _truthy_flag(rec["is_read"])
        if is_read is None:
            raise BadRecord("bad_field", f"'is_read' must be true/false or 1/0, got {rec['is_read']!r}")
        if not is_read:
            return None
        user, book = str(rec["user_id"]).strip(), str(rec["book_id"]).strip()
        if users_of is not None:
            if user not in users_of:
                raise BadRecord("unmapped_id", f"user_id {user} is not in {Path(user_map).name}")
            user = users_of[user]
        if books_of is not None:
            if book not in books_of:
                raise BadRecord("unmapped_id", f"book_id {book} is not in {Path(book_map).name}")
            book = books_of[book]
        return user, book

    spec = InteractionSpec("interaction", "interaction with book", "not in the books file", identify)
    return read_interactions(path, rows, skips, books, spec)


@dataclass(frozen=True)
class GoodreadsFiles:
    """The raw files of one Goodreads preparation; the two maps belong to the CSV interactions only."""

    books: Path
    interactions: Path
    user_map: Path | None = None
    book_map: Path | None = None


def prepare_goodreads(files: GoodreadsFiles, prep: Preparation, goodreads: GoodreadsFilter = GoodreadsFilter()
                      ) -> SourceReport:
    """UCSD Goodreads files -> canonical dataset at prep.out_dir (read, filter, images, build)."""
    check_destination(Path(prep.out_dir), prep.overwrite)  # before the long reads
    book_rows = read_goodreads_books(files.books, prep.skips, goodreads, progress=prep.progress)
    reads = read_goodreads_interactions(files.interactions, prep.skips, book_rows, user_map=files.user_map,
                                        book_map=files.book_map, progress=prep.progress)
    maps = [p for p in (files.user_map, files.book_map) if p is not None]
    source = {
        "kind": "goodreads",
        "params": {**asdict(prep.filters), **asdict(goodreads), **image_params(prep.images)},
        "files": [file_info(files.books), file_info(files.interactions), *(file_info(p) for p in maps)],
    }
    records = {Path(files.books).name: book_rows.n_records, Path(files.interactions).name: reads.n_records}
    notes = {"shelved but not read (left out)": reads.n_left_out}
    return build_from_source(SourceRead(book_rows.frame, reads.frame, source, records, notes), prep)
