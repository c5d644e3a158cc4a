"""Inference ms/sample, RCML against CLIP (paper Table 2: 14.32 vs 9.17 ms; target <= 1.2x), and the
relation-conditioned index: a catalog encoded once, queried under a relation text never seen in training.

    python -m benchmarks.inference [--shape tiny|vit-b32] [--items 2048] [--batch 64] [--threads 2]

Both models embed the same items (titles and images) in batches of --batch:
  clip: CLIPModel(input_ids, pixel_values) -> text_embeds, image_embeds (the plain CLIP forward);
  rcml: the same towers once per item (token features), then the relation-guided attention under one
        relation (its text encoded once per batch) -> relation-conditioned text and image embeddings.
Index: build time (backbone over the catalog), the first query under a new relation (conditions the whole
catalog), and queries per second once that relation is cached.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence

import numpy as np
import torch

from benchmarks.shapes import machine, median_s, vit_b32_backbone
from benchmarks.step_time import synthetic_texts
from rcml_core.model.backbone import BackboneConfig, build_backbone
from rcml_core.model.rcml import RCMLConfig, RCMLModel
from rcml_core.serve import RCMLEncoder, RelationIndex

UNSEEN_RELATION = "Bought by grandparents preparing a nursery for visiting twins"


def _model(shape: str, titles: list[str], relations: list[str]) -> RCMLModel:
    corpus = titles + relations + [UNSEEN_RELATION]
    backbone = vit_b32_backbone(corpus) if shape == "vit-b32" else build_backbone(BackboneConfig(), corpus)
    return RCMLModel(backbone, RCMLConfig()).eval()


@torch.no_grad()
def measure(shape: str = "tiny", items: int = 2048, batch: int = 64, threads: int = 2, repeats: int = 3,
            queries: int = 200) -> dict:
    torch.set_num_threads(threads)
    titles, relations = synthetic_texts(items, seed=0)
    model = _model(shape, titles, relations)
    size = model.backbone.image_size
    g = torch.Generator().manual_seed(0)
    pixels = torch.randn(items, 3, size, size, generator=g)
    chunks = []
    for start in range(0, items, batch):
        tok = model.backbone.tokenize(titles[start : start + batch])
        chunks.append((tok.input_ids, tok.attention_mask, pixels[start : start + batch]))
    rel = model.backbone.tokenize([relations[1]])
    inter = torch.zeros(1, dtype=torch.bool)

    def clip_all() -> None:
        for ids, mask, px in chunks:
            model.clip(input_ids=ids, attention_mask=mask, pixel_values=px)

    def rcml_all() -> None:
        for ids, mask, px in chunks:
            feats = model.encode_items(ids, mask, px)
            h = model.encode_relations(rel.input_ids, rel.attention_mask)
            model.relation_table(feats, h, inter)

    t_clip, t_rcml = median_s(clip_all, repeats), median_s(rcml_all, repeats)
    out = {
        "benchmark": "inference", "machine": machine(), "shape": shape, "items": items, "batch": batch,
        "threads": threads, "clip_ms_per_sample": round(1000 * t_clip / items, 4),
        "rcml_ms_per_sample": round(1000 * t_rcml / items, 4), "ratio": round(t_rcml / t_clip, 3),
        "target": "<= 1.2", "paper_ms_per_sample": {"rcml": 14.32, "clip": 9.17, "ratio": 1.56},
    }

    encoder = RCMLEncoder(model, torch.device("cpu"))
    images = (np.random.default_rng(0).integers(0, 256, (items, size, size, 3))).astype(np.uint8)
    t0 = time.perf_counter()
    index = RelationIndex(encoder, titles, list(images), batch_size=batch)
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    index.query(0, UNSEEN_RELATION, k=10)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for q in range(queries):
        index.query(q % items, UNSEEN_RELATION, k=10)
    cached = time.perf_counter() - t0
    out["index"] = {"catalog_items": items, "build_s": round(build, 3), "first_query_new_relation_s": round(first, 4),
                    "queries_per_s_cached_relation": round(queries / cached, 1),
                    "relation": UNSEEN_RELATION}
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shape", choices=["tiny", "vit-b32"], default="tiny")
    p.add_argument("--items", type=int, default=2048)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    print(json.dumps(measure(args.shape, args.items, args.batch, args.threads, args.repeats), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
