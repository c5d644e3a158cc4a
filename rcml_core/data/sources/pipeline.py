"""From a real source's items and interactions to a canonical dataset: the shared last mile.

Order (each step only touches what survived the previous one):
1. filter interactions: merge repeats, keep the --max-items most popular items, k-core;
2. resolve the images of the items still interacted with (local folder / cache / download),
   and decode-check them: items without a usable image are reported to the SkipLog
   ("missing_image" / "corrupt_image") and leave with their interactions;
3. k-core again, so the guarantee "every user and item has >= k interactions" holds for
   what is built, not only for what was read;
4. `build_dataset` (rcml_core.data.build.dataset) clusters users, writes relations, edges, splits,
   evaluation sets and images atomically.
Images are resolved only after filtering, so nothing is downloaded for items that are
filtered out anyway.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from rcml_core.data.build.clean import image_problem
from rcml_core.data.build.dataset import BuildConfig, build_dataset
from rcml_core.data.format.schema import SPLITS, Manifest
from rcml_core.data.format.skips import SkipLog, skip_summary_lines
from rcml_core.data.sources.image_fetch import ImageRef, ImageResolution, ImageSourceConfig, resolve_images
from rcml_core.data.sources.interactions import FilterReport, InteractionFilter, filter_interactions, k_core
from rcml_core.errors import DataError


@dataclass(frozen=True)
class Preparation:
    """How to prepare any source into a dataset folder, besides its raw files (one per `rcml data` run)."""

    out_dir: Path
    build: BuildConfig
    images: ImageSourceConfig
    skips: SkipLog  # the run's bad-record policy and counts
    filters: InteractionFilter = InteractionFilter()
    overwrite: bool = False
    progress: bool = True


@dataclass(frozen=True)
class SourceRead:
    """What a source's readers produced, and what the manifest records about the reading."""

    items: pd.DataFrame  # item_id, text, category, profile_category, image_url (str | None)[, no_url_reason]
    interactions: pd.DataFrame  # user_id, item_id[, timestamp], items all known
    source: dict  # the manifest's "source": kind, params, files ("prep" is added)
    records: dict[str, int]  # raw file name -> well-formed records read
    notes: dict[str, int] = field(default_factory=dict)  # exclusions by choice (e.g. reviews below --min-rating)


@dataclass(frozen=True)
class SourceReport:
    """What a source preparation read, filtered, fetched and built."""

    manifest: Manifest
    out_dir: Path
    records: dict[str, int]  # raw file name -> well-formed records read
    notes: dict[str, int]  # source-specific exclusions by choice (e.g. reviews below --min-rating)
    filtering: FilterReport  # the first filtering pass
    images: ImageResolution
    n_dropped_after_images: int  # interactions removed with image-less items and by the second k-core

    def summary_lines(self) -> list[str]:
        """The end-of-run summary: records, filtering, images, what was built, skips, output."""
        c = self.manifest.counts
        f = self.filtering
        per_split = lambda d: ", ".join(f"{s} {d.get(s, 0)}" for s in SPLITS)  # noqa: E731
        lines = [f"prepared {self.manifest.source.get('kind')} dataset {self.manifest.name!r}"]
        lines.append("records read: " + ", ".join(f"{name} {n}" for name, n in self.records.items()))
        for what, n in self.notes.items():
            lines.append(f"  {what}: {n}")
        lines.append(
            f"interactions: {f.n_in} read, {f.n_duplicates} repeats merged, {f.n_dropped_max_items} outside "
            f"max-items, {f.n_dropped_k_core} removed by the k-core ({f.k_core_rounds} rounds), "
            f"{self.n_dropped_after_images} removed with items lacking a usable image"
        )
        im = self.images
        lines.append(
            f"images: {im.n_local} local, {im.n_cached} cached, {im.n_downloaded} downloaded, {im.n_missing} missing"
        )
        lines.append(f"items: {c['items']['total']} ({per_split(c['items'])})")
        lines.append(f"users: {c['users']} ({c['users_clustered']} clustered), interactions: {c['interactions']}")
        lines.append(f"relations: {c['relations']} inter + 1 intra")
        lines.append(f"edges: {c['edges']['total']} ({per_split(c['edges'])})")
        lines.extend(skip_summary_lines(self.manifest.skips))
        lines.append(f"output: {self.out_dir}")
        return lines


def image_refs(items: pd.DataFrame) -> list[ImageRef]:
    """ImageRefs from an items frame with image_url and, optionally, no_url_reason columns."""
    urls = [url if isinstance(url, str) and url else None for url in items["image_url"]]
    if "no_url_reason" not in items.columns:
        return [ImageRef(item_id, url) for item_id, url in zip(items["item_id"], urls)]
    return [ImageRef(item_id, url) if url else ImageRef(item_id, None, str(reason))
            for item_id, url, reason in zip(items["item_id"], urls, items["no_url_reason"])]


def _usable_images(resolution: ImageResolution, skips: SkipLog, progress: bool) -> dict[str, Path]:
    """The resolved images that decode; the others are reported (missing_image / corrupt_image).

    Decoding runs on a thread pool (Pillow releases the GIL while decoding); reports keep
    the input order.
    """
    ids = list(resolution.paths)
    usable: dict[str, Path] = {}
    pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="image-check")
    try:
        problems = pool.map(image_problem, (resolution.paths[i] for i in ids))
        bar = tqdm(zip(ids, problems), total=len(ids), desc="check images", unit="img", disable=not progress,
                   leave=False)
        for item_id, problem in bar:
            if problem is not None:
                skips.bad(problem[0], f"item {item_id}", problem[1])  # raises under fail
                continue
            usable[item_id] = resolution.paths[item_id]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # under fail, do not decode the rest in vain
    return usable


def build_from_source(read: SourceRead, prep: Preparation) -> SourceReport:
    """Filter, resolve images, re-filter and build (see the module docstring).

    `read.source` goes to the manifest with a "prep" entry added: records, filtering, images.
    """
    out_dir, filters, skips, progress = Path(prep.out_dir), prep.filters, prep.skips, prep.progress
    items = read.items
    filtered, report = filter_interactions(read.interactions, filters)
    if filtered.empty:
        raise DataError(
            f"no interactions left after filtering {report.n_in} of them (k-core k={filters.k_core}, "
            f"max-items={filters.max_items}): lower --k-core or give more data"
        )
    needed = items[items["item_id"].isin(set(filtered["item_id"]))].reset_index(drop=True)
    resolution = resolve_images(image_refs(needed), prep.images, skips, progress=progress)
    usable = _usable_images(resolution, skips, progress)
    kept, _ = k_core(filtered[filtered["item_id"].isin(set(usable))], filters.k_core)
    if kept.empty:
        raise DataError(
            f"no interactions left after dropping the {len(needed) - len(usable)} items without a usable image "
            f"and re-applying the {filters.k_core}-core: check the image folder / downloads"
        )
    final_items = needed[needed["item_id"].isin(set(kept["item_id"]))].copy()
    final_items["image_path"] = [str(usable[i]) for i in final_items["item_id"]]
    record = {
        "records": dict(read.records),
        "notes": dict(read.notes),
        "filter": {**asdict(filters), **asdict(report)},
        "images": {
            "n_local": resolution.n_local,
            "n_cached": resolution.n_cached,
            "n_downloaded": resolution.n_downloaded,
            "n_missing": resolution.n_missing,
            "n_corrupt": len(resolution.paths) - len(usable),
        },
        "interactions_dropped_after_images": len(filtered) - len(kept),
    }
    manifest = build_dataset(
        final_items[["item_id", "text", "image_path", "category", "profile_category"]],
        kept,
        out_dir,
        prep.build,
        {**read.source, "prep": record},
        skips,
        overwrite=prep.overwrite,
        progress=progress,
    )
    return SourceReport(
        manifest, out_dir, dict(read.records), dict(read.notes), report, resolution, len(filtered) - len(kept)
    )


def file_info(path: Path) -> dict:
    """Provenance of a raw file for the manifest: absolute path and size in bytes."""
    path = Path(path)
    return {"path": str(path.resolve()), "bytes": path.stat().st_size}


def image_params(images: ImageSourceConfig) -> dict:
    """The JSON-ready image settings recorded in the manifest."""
    return {
        "images_dir": None if images.images_dir is None else str(images.images_dir),
        "download": images.download,
        "cache_dir": None if images.cache_dir is None else str(images.cache_dir),
    }


def file_stem(path: Path) -> str:
    """A raw file's name without its data extensions: "Baby_Products.jsonl.gz" -> "Baby_Products"."""
    name = Path(path).name
    for ext in (".gz", ".jsonl", ".json", ".csv"):
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
    return name or Path(path).name
