"""Time one RCML training step against one plain CLIP step on the same backbone and unique items.

    python -m benchmarks.step_time --batch 64 --steps 40 --threads 2
    python -m benchmarks.step_time --shape vit-b32 --batch 16 --steps 5   # the paper's backbone shape, random init

Builds the tiny backbone, a synthetic batch of B relation pairs (a share of intra rows, the rest
inter pairs under 10 relation texts in the paper's template) over U unique items, and alternates:
  rcml:      encode U items + R relations, pair similarities, rcml_loss, backward; titles and relation
             texts packed into one text-tower call (rcml_core.model.packing), as the trainer's batches are
  rcml_padded: the same step with the padded calls (titles, then relations)
  clip:      CLIPModel(input_ids, pixel_values) on the same U items, clip_loss, backward
  clip_ours: the same CLIP loss through RCMLModel.encode_items + clip_embeddings, backward
and, to show where RCML's extra time goes:
  relations:    the relation texts through the text tower (encode_relations), backward
  conditioning: pair similarities + rcml_loss on cached (detached) token features, backward
Steps are interleaved so that machine load hits every variant alike; medians are reported, with the
forward-only (no_grad) medians. Ratios, not absolute times, are what compare across machines.
Memory: the bytes autograd saves for the backward pass of one rcml / clip step (benchmarks.shapes),
and the CUDA allocator's peak on a GPU.
Compute: the FLOPs of one forward + backward step (torch.utils.flop_counter), the achieved TFLOP/s and,
given the device's peak (--peak-tflops, e.g. 989 for an H100/H200 in dense bf16), the model FLOPs
utilisation (MFU). --autocast bf16 runs the steps under torch.autocast (the trainer's GPU setting);
--compile wraps the model with torch.compile (--compile-backend, inductor by default).

    # on a GPU: the paper's shape, bf16, compiled, MFU
    python -m benchmarks.step_time --shape vit-b32 --batch 128 --steps 20 --autocast bf16 --compile --peak-tflops 989
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext

import torch

from benchmarks.shapes import (
    VIT_B32,
    cuda_peak_bytes,
    machine,
    saved_activation_bytes,
    vit_b32_backbone,
)
from rcml_core.loss import LossConfig, clip_loss, rcml_loss
from rcml_core.model.backbone import BackboneConfig, build_backbone
from rcml_core.model.batch import PairBatch
from rcml_core.model.packing import pack_when_smaller
from rcml_core.model.rcml import RCMLConfig, RCMLModel

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
    items = model.backbone.tokenize([titles[i] for i in unique.tolist()])
    rels = model.backbone.tokenize(relations)
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
        packed_text=pack_when_smaller([items.input_ids, rels.input_ids], [items.attention_mask, rels.attention_mask]),
    )


def _median_ms(samples: list[float]) -> float:
    return 1000.0 * statistics.median(samples)


def measure(batch_size: int = 64, steps: int = 40, warmup: int = 5, threads: int = 2, intra_share: float = 0.5,
            beta: float = 0.6, seed: int = 0, backbone_config: BackboneConfig | None = None, shape: str = "tiny",
            device: str = "cpu", autocast: str = "none", compile_backend: str | None = None,
            peak_tflops: float | None = None) -> dict:
    """Median step times (ms) of RCML and CLIP, forward+backward and forward-only, their ratios, memory and
    FLOPs. autocast: "none" | "bf16"; compile_backend: a torch.compile backend, or None for eager."""
    if autocast not in ("none", "bf16"):
        raise ValueError(f"autocast must be 'none' or 'bf16', got {autocast!r}")
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _measure(batch_size, steps, warmup, threads, intra_share, beta, seed, backbone_config, shape,
                        torch.device(device), autocast, compile_backend, peak_tflops)
    finally:
        torch.set_num_threads(previous_threads)


def step_flops(fn: Callable[[], torch.Tensor]) -> int:
    """FLOPs of one forward + backward of `fn` (matmuls, attention, convolutions), as torch counts them."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        fn().backward()
    return int(counter.get_total_flops())


def _measure(batch_size: int, steps: int, warmup: int, threads: int, intra_share: float, beta: float, seed: int,
             backbone_config: BackboneConfig | None, shape: str, device: torch.device, autocast: str,
             compile_backend: str | None, peak_tflops: float | None) -> dict:
    titles, relations = synthetic_texts(4 * batch_size, seed)
    if shape == "vit-b32":
        backbone = vit_b32_backbone(titles + relations, seed)
        shape_info = VIT_B32
    else:
        backbone_config = backbone_config or BackboneConfig()
        backbone = build_backbone(backbone_config, titles + relations)
        shape_info = {k: getattr(backbone_config, k) for k in ("hidden_size", "num_layers", "image_size",
                                                                "patch_size", "projection_dim")}
    model = RCMLModel(backbone, RCMLConfig(beta=beta)).to(device)
    batch = synthetic_batch(model, titles, relations, batch_size, intra_share, seed)
    batch = batch.to(device)
    loss_config = LossConfig()
    clip = model.clip
    # the timed modules; flops are counted on the eager ones (same arithmetic)
    run_model = torch.compile(model, backend=compile_backend) if compile_backend else model
    run_clip = torch.compile(model.clip, backend=compile_backend) if compile_backend else model.clip

    def cast():
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16) if autocast == "bf16" else nullcontext()

    def rcml_step() -> torch.Tensor:
        with cast():
            return rcml_loss(run_model(batch), batch.negative_mask, batch.intra, loss_config).total

    def rcml_eager() -> torch.Tensor:
        return rcml_loss(model(batch), batch.negative_mask, batch.intra, loss_config).total

    padded = dataclasses.replace(batch, packed_text=None)

    def rcml_padded_step() -> torch.Tensor:
        with cast():
            return rcml_loss(run_model(padded), padded.negative_mask, padded.intra, loss_config).total

    def clip_eager() -> torch.Tensor:
        out = clip(input_ids=batch.item_input_ids, attention_mask=batch.item_attention_mask,
                   pixel_values=batch.pixel_values)
        return clip_loss(out.text_embeds, out.image_embeds, loss_config.tau)

    def clip_step() -> torch.Tensor:
        with cast():
            out = run_clip(input_ids=batch.item_input_ids, attention_mask=batch.item_attention_mask,
                           pixel_values=batch.pixel_values)
            return clip_loss(out.text_embeds, out.image_embeds, loss_config.tau)

    def clip_ours_step() -> torch.Tensor:
        with cast():
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
        with cast():
            return model.encode_relations(batch.relation_input_ids, batch.relation_attention_mask).float().sum()

    def conditioning_step() -> torch.Tensor:
        with cast():
            sims = model.pair_similarities(items, cached_relations, batch.src, batch.dst, batch.rel, batch.intra)
            return rcml_loss(sims, batch.negative_mask, batch.intra, loss_config).total

    variants: dict[str, Callable[[], torch.Tensor]] = {
        "rcml": rcml_step, "rcml_padded": rcml_padded_step, "clip": clip_step, "clip_ours": clip_ours_step,
        "relations": relations_step,
        "conditioning": conditioning_step,
    }
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    train = {name: [] for name in variants}
    infer = {name: [] for name in variants}
    for i in range(warmup + steps):
        for name, step in variants.items():
            model.zero_grad(set_to_none=True)
            sync()
            t0 = time.perf_counter()
            step().backward()
            sync()
            t1 = time.perf_counter()
            with torch.no_grad():
                step()
            sync()
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
        # None: packing would take more slots than padding, and the step runs the padded calls
        "packed_text_rows": int(batch.packed_text.input_ids.shape[0]) if batch.packed_text is not None else None,
        "packed_text_row_length": batch.packed_text.row_length if batch.packed_text is not None else None,
        "threads": threads,
        "device": str(device),
        "machine": machine(),
        "shape": shape,
        "autocast": autocast,
        "compile": compile_backend,
        "backbone": shape_info,
        "steps": steps,
        "train_ms": {name: round(_median_ms(v), 2) for name, v in train.items()},
        "forward_ms": {name: round(_median_ms(v), 2) for name, v in infer.items()},
    }
    result["train_ratio_rcml_over_clip"] = round(result["train_ms"]["rcml"] / result["train_ms"]["clip"], 3)
    result["forward_ratio_rcml_over_clip"] = round(result["forward_ms"]["rcml"] / result["forward_ms"]["clip"], 3)
    padded_ratio = result["train_ms"]["rcml_padded"] / result["train_ms"]["clip"]
    result["train_ratio_rcml_padded_over_clip"] = round(padded_ratio, 3)
    flops = {"rcml": step_flops(rcml_eager), "clip": step_flops(clip_eager)}
    model.zero_grad(set_to_none=True)
    result["gflops_per_step"] = {k: round(v / 1e9, 3) for k, v in flops.items()}
    result["achieved_tflops"] = {k: round(flops[k] / (result["train_ms"][k] / 1000) / 1e12, 4) for k in flops}
    if peak_tflops:
        result["peak_tflops"] = peak_tflops
        result["mfu"] = {k: round(v / peak_tflops, 4) for k, v in result["achieved_tflops"].items()}
    memory = {name: saved_activation_bytes(variants[name], model.parameters()) for name in ("rcml", "clip")}
    result["activation_mb"] = {k: round(v / 2**20, 2) for k, v in memory.items()}
    result["activation_ratio_rcml_over_clip"] = round(memory["rcml"] / memory["clip"], 3)
    peaks = {name: cuda_peak_bytes(lambda f=variants[name]: f().backward()) for name in ("rcml", "clip")}
    if all(v is not None for v in peaks.values()):
        result["cuda_peak_mb"] = {k: round(v / 2**20, 1) for k, v in peaks.items()}
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
    parser.add_argument("--shape", choices=["tiny", "vit-b32"], default="tiny",
                        help="vit-b32: openai/clip-vit-base-patch32's shapes, random init (ignores the size flags)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--autocast", choices=["none", "bf16"], default="none", help="torch.autocast dtype")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model (and CLIP's) first")
    parser.add_argument("--compile-backend", default="inductor")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="the device's peak TFLOP/s at the run's precision: reports MFU")
    args = parser.parse_args(argv)
    backbone_config = BackboneConfig(
        hidden_size=args.hidden, intermediate_size=4 * args.hidden, num_layers=args.layers,
        num_heads=max(1, args.hidden // 16), image_size=args.image_size, patch_size=args.patch_size,
        projection_dim=args.projection_dim,
    )
    result = measure(args.batch, args.steps, args.warmup, args.threads, args.intra_share, args.beta, args.seed,
                     backbone_config, args.shape, args.device, args.autocast,
                     args.compile_backend if args.compile else None, args.peak_tflops)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
