"""Time one RCML training step against one plain CLIP step on the same backbone and unique items.

    python -m benchmarks.step_time --batch 64 --steps 40 --threads 2

Builds the tiny backbone, a synthetic batch of B relation pairs (a share of intra rows, the rest
inter pairs under 10 relation texts in the paper's template) over U unique items, and alternates:
  rcml:      encode U items + R relations, pair similarities, rcml_loss, backward
  clip:      CLIPModel(input_ids, pixel_values) on the same U items, clip_loss, backward
  clip_ours: the same CLIP loss through RCMLModel.encode_items + clip_embeddings, backward
and, to show where RCML's extra time goes:
  relations:    the relation texts through the text tower (encode_relations), backward
  conditioning: pair similarities + rcml_loss on cached (detached) token features, backward
Steps are interleaved so that machine load hits every variant alike; medians are reported, with the
forward-only (no_grad) medians. Ratios, not absolute times, are what compare across machines.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Sequence

import torch

from rcml_core.loss import LossConfig, clip_loss, rcml_loss
from rcml_core.model.backbone import BackboneConfig, build_backbone
from rcml_core.model.batch import PairBatch
from rcml_core.model.rcml import RCMLConfig, RCMLModel
from rcml_core.model.tokenizer import tokenize

CATEGORIES = ["Feeding", "Nursery", "Toys", "Safety", "Bathing", "Strollers", "Diapering", "Health", "Gear", "Apparel"]
INTRA_TEXT = "These two items represent the same product. Align their features accordingly."


def synthetic_texts(num_items: int, seed: int) -> tuple[list[str], list[str]]:
    """Item titles (6-14 words) and 1 intra + 10 inter relation texts in the appendix A.2 template."""
    g = torch.Generator().manual_seed(seed)
    words = [f"w{i}" for i in range(400)]
    titles = []
    for _ in range(num_items):
        n = int(torch.randint(6, 15, (1,), generator=g))
        titles.append(" ".join(words[int(j)] for j in torch.randint(0, len(words), (n,), generator=g)))
    relations = [INTRA_TEXT] + [
        f"Co-purchased by people who primarily buy {CATEGORIES[k]}, followed by {CATEGORIES[(k + 3) % 10]}, "
        f"with minimal interest in {CATEGORIES[(k + 5) % 10]} and {CATEGORIES[(k + 7) % 10]}."
        for k in range(10)
    ]
    return titles, relations


def synthetic_batch(model: RCMLModel, titles: list[str], relations: list[str], batch: int, intra_share: float,
                    seed: int) -> PairBatch:
    """B rows over items drawn from `titles`; unique items re-indexed 0..U-1; false negatives masked."""
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(0, len(titles), (batch,), generator=g)
    is_intra = torch.rand(batch, generator=g) < intra_share
    dst = torch.where(is_intra, src, (src + torch.randint(1, len(titles), (batch,), generator=g)) % len(titles))
    rel = torch.where(is_intra, 0, torch.randint(1, len(relations), (batch,), generator=g))
    unique, inverse = torch.unique(torch.cat([src, dst]), return_inverse=True)  # (U,), (2B,)
    src, dst = inverse[:batch], inverse[batch:]
    items = tokenize(model.backbone, [titles[i] for i in unique.tolist()])
    rels = tokenize(model.backbone, relations)
    size = model.backbone.image_size
    return PairBatch(
        item_input_ids=items.input_ids,
        item_attention_mask=items.attention_mask,
        pixel_values=torch.randn(len(unique), 3, size, size, generator=g),
        relation_input_ids=rels.input_ids,
        relation_attention_mask=rels.attention_mask,
        src=src,
        dst=dst,
        rel=rel,
        intra=is_intra,
        negative_mask=(dst[None, :] == dst[:, None]) | (dst[None, :] == src[:, None]),  # (B, B)
    )


def _median_ms(samples: list[float]) -> float:
    return 1000.0 * statistics.median(samples)


def measure(batch_size: int = 64, steps: int = 40, warmup: int = 5, threads: int = 2, intra_share: float = 0.5,
            beta: float = 0.6, seed: int = 0, backbone_config: BackboneConfig | None = None) -> dict:
    """Median step times (ms) of RCML and CLIP, forward+backward and forward-only, and their ratios."""
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _measure(batch_size, steps, warmup, threads, intra_share, beta, seed, backbone_config)
    finally:
        torch.set_num_threads(previous_threads)


def _measure(batch_size: int, steps: int, warmup: int, threads: int, intra_share: float, beta: float, seed: int,
             backbone_config: BackboneConfig | None) -> dict:
    titles, relations = synthetic_texts(4 * batch_size, seed)
    backbone_config = backbone_config or BackboneConfig()
    backbone = build_backbone(backbone_config, titles + relations)
    model = RCMLModel(backbone, RCMLConfig(beta=beta))
    batch = synthetic_batch(model, titles, relations, batch_size, intra_share, seed)
    loss_config = LossConfig()
    clip = model.clip

    def rcml_step() -> torch.Tensor:
        return rcml_loss(model(batch), batch.negative_mask, batch.intra, loss_config).total

    def clip_step() -> torch.Tensor:
        out = clip(input_ids=batch.item_input_ids, attention_mask=batch.item_attention_mask,
                   pixel_values=batch.pixel_values)
        return clip_loss(out.text_embeds, out.image_embeds, loss_config.tau)

    def clip_ours_step() -> torch.Tensor:
        emb = model.clip_embeddings(model.encode_items(batch.item_input_ids, batch.item_attention_mask,
                                                       batch.pixel_values))
        return clip_loss(emb.text, emb.image, loss_config.tau)

    with torch.no_grad():
        items = model.encode_items(batch.item_input_ids, batch.item_attention_mask, batch.pixel_values)
        cached_relations = model.encode_relations(batch.relation_input_ids, batch.relation_attention_mask)
    for f in (items.text, items.image):
        f.tokens.requires_grad_(True)  # cached features standing in for the towers' outputs
    cached_relations.requires_grad_(True)

    def relations_step() -> torch.Tensor:
        return model.encode_relations(batch.relation_input_ids, batch.relation_attention_mask).sum()

    def conditioning_step() -> torch.Tensor:
        sims = model.pair_similarities(items, cached_relations, batch.src, batch.dst, batch.rel, batch.intra)
        return rcml_loss(sims, batch.negative_mask, batch.intra, loss_config).total

    variants: dict[str, Callable[[], torch.Tensor]] = {
        "rcml": rcml_step, "clip": clip_step, "clip_ours": clip_ours_step, "relations": relations_step,
        "conditioning": conditioning_step,
    }
    train = {name: [] for name in variants}
    infer = {name: [] for name in variants}
    for i in range(warmup + steps):
        for name, step in variants.items():
            model.zero_grad(set_to_none=True)
            t0 = time.perf_counter()
            step().backward()
            t1 = time.perf_counter()
            with torch.no_grad():
                step()
            t2 = time.perf_counter()
            if i >= warmup:
                train[name].append(t1 - t0)
                infer[name].append(t2 - t1)
    result = {
        "batch_rows": batch.num_rows,
        "unique_items": batch.num_items,
        "relations": batch.num_relations,
        "intra_rows": int(batch.intra.sum()),
        "item_tokens": int(batch.item_input_ids.shape[1]),
        "relation_tokens": int(batch.relation_input_ids.shape[1]),
        "threads": threads,
        "backbone": {k: getattr(backbone_config, k) for k in ("hidden_size", "num_layers", "image_size", "patch_size",
                                                              "projection_dim")},
        "steps": steps,
        "train_ms": {name: round(_median_ms(v), 2) for name, v in train.items()},
        "forward_ms": {name: round(_median_ms(v), 2) for name, v in infer.items()},
    }
    result["train_ratio_rcml_over_clip"] = round(result["train_ms"]["rcml"] / result["train_ms"]["clip"], 3)
    result["forward_ratio_rcml_over_clip"] = round(result["forward_ms"]["rcml"] / result["forward_ms"]["clip"], 3)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64, help="rows B (relation pairs) per batch")
    parser.add_argument("--steps", type=int, default=40, help="timed steps per variant (median reported)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps per variant first")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--intra-share", type=float, default=0.5, help="share of intra-sample rows")
    parser.add_argument("--beta", type=float, default=0.6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hidden", type=int, default=64, help="tiny backbone width (intermediate = 4x)")
    parser.add_argument("--layers", type=int, default=2, help="tiny backbone layers per tower")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--patch-size", type=int, default=8)
    parser.add_argument("--projection-dim", type=int, default=64)
    args = parser.parse_args(argv)
    backbone_config = BackboneConfig(
        hidden_size=args.hidden, intermediate_size=4 * args.hidden, num_layers=args.layers,
        num_heads=max(1, args.hidden // 16), image_size=args.image_size, patch_size=args.patch_size,
        projection_dim=args.projection_dim,
    )
    result = measure(args.batch, args.steps, args.warmup, args.threads, args.intra_share, args.beta, args.seed,
                     backbone_config)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
