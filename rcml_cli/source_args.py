"""Options shared by the real-source commands (`rcml data amazon`, `rcml data goodreads`).

Parsing only: each helper turns parsed arguments into the library's config objects.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rcml_core.data.build.dataset import BuildConfig
from rcml_core.data.format.skips import POLICIES, SkipLog
from rcml_core.data.sources.image_fetch import ImageSourceConfig
from rcml_core.data.sources.interactions import InteractionFilter
from rcml_core.data.sources.pipeline import Preparation
from rcml_core.errors import ConfigError

DEFAULT_K_CORE = 5


def add_image_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("images (one of --images-dir or --download-images)")
    where = group.add_mutually_exclusive_group()
    where.add_argument("--images-dir", type=Path, help="local folder of images named <item_id>.<jpg|jpeg|png|webp> "
                       "or by their URL's file name")
    where.add_argument("--download-images", action="store_true", help="download images from their URLs "
                       "(needs --image-cache)")
    group.add_argument("--image-cache", type=Path, help="folder where downloaded images are kept and reused")
    group.add_argument("--image-workers", type=int, default=8, help="parallel downloads (default 8)")
    group.add_argument("--image-timeout", type=float, default=20.0, help="seconds per request (default 20)")
    group.add_argument("--image-retries", type=int, default=3, help="retries of a failed download (default 3)")
    group.add_argument("--image-backoff", type=float, default=1.0,
                       help="seconds before the first retry, doubling after each (default 1)")


def add_common_args(parser: argparse.ArgumentParser, *, n_clusters: int) -> None:
    parser.add_argument("--out", type=Path, required=True, help="output dataset folder")
    parser.add_argument("--k-core", type=int, default=DEFAULT_K_CORE,
                        help=f"keep users and items with >= N interactions, iterated (default {DEFAULT_K_CORE})")
    parser.add_argument("--max-items", type=int, help="keep only the N most popular items (before the k-core)")
    parser.add_argument("--n-clusters", type=int, default=n_clusters,
                        help=f"user clusters = inter relation types (default {n_clusters})")
    parser.add_argument("--n-negatives", type=int, default=20, help="retrieval negatives per query (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="seed of clustering, splits and eval sets (default 0)")
    parser.add_argument("--on-bad-record", choices=POLICIES, default="fail",
                        help="fail at the first bad record (default) or skip and count bad records")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing dataset at --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def image_config(args: argparse.Namespace) -> ImageSourceConfig:
    if args.download_images and args.image_cache is None:
        raise ConfigError("--download-images needs --image-cache DIR (downloads are cached and reused there)")
    if args.images_dir is None and not args.download_images:
        raise ConfigError("images: give --images-dir DIR, or --download-images --image-cache DIR")
    return ImageSourceConfig(
        images_dir=args.images_dir,
        download=args.download_images,
        cache_dir=args.image_cache,
        timeout_s=args.image_timeout,
        retries=args.image_retries,
        backoff_s=args.image_backoff,
        workers=args.image_workers,
    )


def build_config(args: argparse.Namespace, name: str, **fixed: object) -> BuildConfig:
    return BuildConfig(name=name, n_clusters=args.n_clusters, n_negatives=args.n_negatives, seed=args.seed, **fixed)


def preparation(args: argparse.Namespace, build: BuildConfig) -> Preparation:
    """Everything but the raw files: output, build config, images, filters, bad-record policy."""
    filters = InteractionFilter(k_core=args.k_core, max_items=args.max_items)
    return Preparation(args.out, build, image_config(args), SkipLog(args.on_bad_record), filters,
                       overwrite=args.overwrite, progress=not args.no_progress)
