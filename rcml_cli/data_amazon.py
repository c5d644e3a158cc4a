"""`rcml data amazon`: Amazon Reviews 2023 reviews + metadata -> canonical dataset."""

from __future__ import annotations

import argparse
from pathlib import Path

from rcml_core.data.sources.amazon import AmazonFilter, prepare_amazon
from rcml_core.data.sources.pipeline import file_stem

from rcml_cli import source_args


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "amazon",
        help="prepare an Amazon Reviews 2023 domain",
        description="Read an Amazon Reviews 2023 domain (reviews JSONL(.gz) + item metadata JSONL(.gz)), "
        "filter it (min rating, max items, k-core), resolve images and build the canonical dataset.",
    )
    parser.add_argument("--reviews", type=Path, required=True, help="reviews file, e.g. Baby_Products.jsonl.gz")
    parser.add_argument("--meta", type=Path, required=True, help="metadata file, e.g. meta_Baby_Products.jsonl.gz")
    parser.add_argument("--domain", help="dataset name (default: the reviews file name, e.g. Baby_Products)")
    parser.add_argument("--min-rating", type=float, help="keep reviews with rating >= R (default: all)")
    source_args.add_common_args(parser, n_clusters=10)
    source_args.add_image_args(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    prep = source_args.preparation(args, source_args.build_config(args, args.domain or file_stem(args.reviews)))
    report = prepare_amazon(args.reviews, args.meta, prep, AmazonFilter(min_rating=args.min_rating))
    print("\n".join(report.summary_lines()))
    return 0
