"""The batch producer alone at the paper's scale: 224 px images, B = 512 relation pairs.

    python -m benchmarks.input_pipeline [--items 8000] [--batch 512] [--batches 24] [--threads N]
                                        [--device cpu|cuda] [--cache-dir DIR]

What a GPU worker's producer thread does per batch (rcml_core/train/prefetch.py): sample the
pairs and their false-negative mask, slice and pack the titles and relation texts, gather the
batch's images from the decoded cache's memory map into a staging buffer (pinned on CUDA); on
`--device cuda` also the non-blocking copies and the images' normalisation on the device, on
the producer's own stream. Reported: the producer's throughput in pairs/s (the consumer takes
batches and does nothing else), and the per-batch milliseconds of each part, serially. An
H100 needs 5-9k pairs/s for ViT-B/32 at 30-40 % MFU; the target is >= 10k with the CPUs a
GPU worker gets (4 per GPU, cluster/resources.py).

The catalog is synthetic and in memory: Zipf-popular items, `--edges-per-item` co-purchase
edges over 10 relations, titles of 12-30 words, and a 224 px uint8 image cache written once
(N x 150 KB: 1.2 GB for 8000 items) and read from the page cache, as on a node whose memory
holds the cache (docs/performance.md §8).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmarks.shapes import machine
from rcml_core.data.format.images import cache_path
from rcml_core.data.format.schema import INTRA_RELATION_TEXT, Manifest, RelationalDataset
from rcml_core.model.backbone import BackboneConfig, build_backbone
from rcml_core.train.batching import build_host_batch, make_pair_batch
from rcml_core.runtime.inputs import ImageStaging, ModelInputs
from rcml_core.train.prefetch import prefetch_batches
from rcml_core.runtime.run_config import SamplerConfig
from rcml_core.train.sampler import PairSampler, false_negative_mask

N_RELATIONS = 10


def synthetic_catalog(n_items: int, edges_per_item: float, seed: int = 0) -> RelationalDataset:
    """An in-memory dataset, every item and edge in train; content hash from the parameters."""
    rng = np.random.default_rng(seed)
    vocab = [f"w{k}" for k in range(5000)]
    titles = [" ".join(rng.choice(vocab, rng.integers(12, 31))) for _ in range(n_items)]
    items = pd.DataFrame({"item_id": [f"i{k:06d}" for k in range(n_items)], "text": titles,
                          "image": [f"images/i{k:06d}.png" for k in range(n_items)], "category": "A",
                          "split": "train"})
    relation_texts = [INTRA_RELATION_TEXT] + [
        "Co-purchased by people who primarily buy " + " ".join(rng.choice(vocab, 24)) for _ in range(N_RELATIONS)]
    relations = pd.DataFrame({"relation_id": np.arange(N_RELATIONS + 1, dtype=np.int32), "text": relation_texts,
                              "kind": ["intra"] + ["inter"] * N_RELATIONS, "n_users": [0] + [10] * N_RELATIONS})
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.9  # Zipf-like: a few items in many purchases
    popularity /= popularity.sum()
    n_edges = int(n_items * edges_per_item)
    src, dst = rng.choice(n_items, n_edges, p=popularity), rng.choice(n_items, n_edges, p=popularity)
    keep = src != dst
    edges = pd.DataFrame({"src_idx": src[keep], "dst_idx": dst[keep],
                          "relation_id": rng.integers(1, N_RELATIONS + 1, int(keep.sum()))})
    edges["src"], edges["dst"] = items["item_id"].to_numpy()[edges["src_idx"]], items["item_id"].to_numpy()[
        edges["dst_idx"]]
    edges["split"], edges["support"] = "train", 1
    digest = f"{n_items:08d}{int(edges_per_item * 100):08d}{seed:08d}".ljust(64, "0")
    manifest = Manifest("1.0", "input-pipeline-benchmark", {"kind": "benchmark"}, {}, {}, digest,
                        "1970-01-01T00:00:00Z")
    return RelationalDataset(Path(tempfile.gettempdir()), manifest, items, relations, edges, {}, {}, {})


def write_image_cache(dataset: RelationalDataset, size: int, cache_dir: Path) -> Path:
    """A (N, size, size, 3) uint8 cache where image_array looks for it (content: a cheap pattern).

    The cache is keyed on the item image files (a cache never outlives them): empty placeholder files stand
    in for them under the dataset's root, which must be a scratch folder."""
    for rel in dataset.items["image"].tolist():
        placeholder = dataset.root / rel
        placeholder.parent.mkdir(parents=True, exist_ok=True)
        placeholder.touch()
    path = cache_path(dataset, size, cache_dir)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(dataset.n_items, size, size, 3))
    row = (np.arange(size * size * 3, dtype=np.int64) % 251).astype(np.uint8).reshape(size, size, 3)
    for k in range(dataset.n_items):
        out[k] = row + np.uint8(k % 5)
    out.flush()
    return path


def _median_ms(fn, arguments) -> float:
    """Median milliseconds of fn(a) over the arguments (the machine is shared: the median resists spikes)."""
    times = []
    for a in arguments:
        t0 = time.perf_counter()
        fn(a)
        times.append(1000 * (time.perf_counter() - t0))
    return float(np.median(times))


def measure(items: int = 8000, batch: int = 512, batches: int = 24, threads: int | None = None,
            device: str = "cpu", cache_dir: str | None = None, edges_per_item: float = 10.0,
            image_size: int = 224) -> dict:
    threads = threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    device_ = torch.device(device)
    dataset = synthetic_catalog(items, edges_per_item)
    backbone = build_backbone(BackboneConfig(image_size=image_size, patch_size=32),
                              dataset.items["text"].tolist() + dataset.relations["text"].tolist())
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        folder = Path(cache_dir) if cache_dir else Path(tmp)
        dataset = dataclasses.replace(dataset, root=Path(tmp))  # the placeholder image files go to the scratch folder
        write_image_cache(dataset, image_size, folder)
        inputs = ModelInputs(dataset, backbone, image_cache_dir=folder)
        inputs.image_cache[:].max()  # into the page cache, as on a node that has read it before
        sampler = PairSampler(dataset, batch, SamplerConfig(), seed=0)
        steps = min(batches, len(sampler))
        index_batches = list(sampler.epoch(0, steps))
        gather_threads = min(4, threads)
        staging = ImageStaging(pin=device_.type == "cuda", threads=gather_threads)
        hosts = [build_host_batch(inputs, b, staging) for b in index_batches[:2]]  # warm-up
        unique = float(np.mean([len(h.item_input_ids) for h in hosts]))
        related = sampler.related
        batch_items = [torch.from_numpy(np.unique(np.concatenate([b.src, b.dst]))) for b in index_batches]
        staging.gather(inputs.images, max(batch_items, key=len))  # the buffer at its final size, touched once
        parts = {
            "false_negative_mask_ms": _median_ms(lambda b: false_negative_mask(b.src, b.dst, related), index_batches),
            "false_negative_mask_pairwise_ms": _median_ms(lambda b: related.contains(b.src[:, None], b.dst[None, :]),
                                                          index_batches[:4]),
            "gather_images_ms": _median_ms(lambda i: staging.gather(inputs.images, i), batch_items),
            "host_batch_ms": _median_ms(lambda b: build_host_batch(inputs, b, staging), index_batches),
        }
        parts["sample_and_mask_ms"] = _median_ms(lambda e: list(sampler.epoch(e, steps)), [4, 5, 6]) / steps

        if device_.type == "cuda":
            def build(index_batch, staging_):
                return make_pair_batch(inputs, index_batch, device_, staging=staging_)
        else:
            def build(index_batch, staging_):
                return build_host_batch(inputs, index_batch, staging_)

        staging.close()
        for _ in prefetch_batches(sampler.epoch(2, 2), build, device_, depth=2, gather_threads=gather_threads):
            pass  # warm-up: thread, pinned pool
        t0 = time.perf_counter()
        produced = 0
        for _ in prefetch_batches(sampler.epoch(3, steps), build, device_, depth=2, gather_threads=gather_threads):
            produced += batch
        if device_.type == "cuda":
            torch.cuda.synchronize()
        producer_s = time.perf_counter() - t0
    pairs_per_s = produced / producer_s
    return {
        "benchmark": "input_pipeline", "machine": machine(), "device": device, "items": items, "batch": batch,
        "batches": steps, "image_size": image_size, "threads": threads, "gather_threads": gather_threads,
        "unique_items_per_batch": round(unique, 1),
        "image_mb_per_batch": round(unique * image_size * image_size * 3 / 2**20, 1),
        **{k: round(v, 2) for k, v in parts.items()},
        "producer_pairs_per_s": round(pairs_per_s, 1), "target_pairs_per_s": 10000,
        "serial_pairs_per_s": round(batch / (parts["sample_and_mask_ms"] + parts["host_batch_ms"]) * 1000, 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--items", type=int, default=8000)
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--batches", type=int, default=24)
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: all CPUs)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--cache-dir", default=None, help="where the image cache is written (default: a temp folder)")
    p.add_argument("--edges-per-item", type=float, default=10.0)
    p.add_argument("--image-size", type=int, default=224)
    args = p.parse_args(argv)
    print(json.dumps(measure(args.items, args.batch, args.batches, args.threads, args.device, args.cache_dir,
                             args.edges_per_item, args.image_size), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
