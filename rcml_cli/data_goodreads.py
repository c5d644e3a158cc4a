"""`rcml data goodreads`: UCSD Goodreads books + interactions -> canonical dataset (out-of-domain test set)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rcml_core.data.sources.goodreads import (
    GOODREADS_N_CLUSTERS,
    GOODREADS_RELATION_VERB,
    GoodreadsFiles,
    GoodreadsFilter,
    prepare_goodreads,
)

from rcml_cli import source_args


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "goodreads",
        help="prepare the UCSD Goodreads dataset (out-of-domain test set)",
        description="Read UCSD Goodreads books JSON(.gz) and interactions (JSON(.gz) lines, or the CSV with "
        "user_id_map.csv / book_id_map.csv), keep read books, map shelves to genres, resolve images and build "
        "the canonical dataset with 'Co-read' relations.",
    )
    parser.add_argument("--books", type=Path, required=True, help="goodreads_books*.json(.gz)")
    parser.add_argument("--interactions", type=Path, required=True,
                        help="goodreads_interactions*.json(.gz), or goodreads_interactions.csv with the maps")
    parser.add_argument("--user-map", type=Path, help="user_id_map.csv (user_id_csv,user_id), CSV layout only")
    parser.add_argument("--book-map", type=Path, help="book_id_map.csv (book_id_csv,book_id), CSV layout only")
    parser.add_argument("--name", default="goodreads", help="dataset name (default goodreads)")
    parser.add_argument("--min-shelf", type=int, default=1,
                        help="shelves with fewer than N users do not vote for a book's genre (default 1)")
    source_args.add_common_args(parser, n_clusters=GOODREADS_N_CLUSTERS)
    source_args.add_image_args(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    prep = source_args.preparation(args, source_args.build_config(args, args.name, relation_verb=GOODREADS_RELATION_VERB))
    files = GoodreadsFiles(args.books, args.interactions, args.user_map, args.book_map)
    report = prepare_goodreads(files, prep, GoodreadsFilter(min_shelf=args.min_shelf))
    print("\n".join(report.summary_lines()))
    return 0
