"""Time one RCML training step against one plain CLIP step on the same backbone and unique items.

    python -m benchmarks.step_time --batch 64                                  # tiny preset
    python -m benchmarks.step_time --shape vit-b32 --batch 16 --rounds 20      # the paper's backbone shape, random init

Builds the backbone and, for every round, a new synthetic batch of B relation pairs (a share of intra
rows, the rest inter pairs under 10 relation texts in the paper's template) over U unique items, so that
the shapes (U, title length, packed rows) vary from step to step as the trainer's batches do
(--fixed-batch: one batch throughout). Each round times every variant once, on the round's batch:
  rcml:      encode U items + R relations, pair similarities, rcml_loss, backward; titles and relation
             texts packed into one text-tower call (rcml_core.model.packing), as the trainer's batches are
  clip:      CLIPModel(input_ids, pixel_values) on the same U items, clip_loss, backward
  rcml_padded: the same step with the padded calls (titles, then relations)
  clip_ours: the same CLIP loss through RCMLModel.encode_items + clip_embeddings, backward
and, to show where RCML's extra time goes:
  relations:    the relation texts through the text tower (encode_relations), backward
  conditioning: pair similarities + rcml_loss on cached (detached) token features, backward: RCML's
                fixed cost on top of the towers
  rcml_forward, clip_forward: the forward passes alone (no_grad)
Rounds interleave the variants (benchmarks.measure): each ratio is the median of the per-round ratios
with its 95 % bootstrap CI and min / max, and a target counts as met only when the CI's upper end is
under it. Ratios, not absolute times, are what compare across machines.
Memory: the bytes autograd saves for the backward pass of one rcml / clip step (benchmarks.shapes),
and the CUDA allocator's peak on a GPU.
Compute: the FLOPs of one forward + backward step (torch.utils.flop_counter), the achieved TFLOP/s and,
given the device's peak (--peak-tflops, e.g. 989 for an H100/H200 in dense bf16), the model FLOPs
utilisation (MFU). --autocast bf16 runs the steps under torch.autocast (the trainer's GPU setting);
--compile wraps the model with torch.compile (--compile-backend, inductor by default); the warm-up rounds
then hold the compilation, and the new shapes of later rounds recompile or run dynamic-shape graphs as
they would in training (`compile_counters`, `warmup_s`).

    # on a GPU: the paper's shape, bf16, compiled, MFU
    python -m benchmarks.step_time --shape vit-b32 --batch 128 --rounds 20 --autocast bf16 --compile --peak-tflops 989
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
from collections.abc import Callable, Sequence
from contextlib import nullcontext

import torch

from benchmarks.measure import (
    MeasureConfig,
    Target,
    add_measure_arguments,
    config_from_args,
    describe,
    ratio_summary,
    run_rounds,
    set_allocator,
    variant_summary,
)
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
                    seed: int, all_relations: bool = False) -> PairBatch:
    """B rows over items drawn from `titles`; unique items and the relations the rows use re-indexed from 0
    (the trainer's make_pair_batch encodes only the batch's own relations too; all_relations: every text of
    `relations`, as it does under loss.relation_negatives); false negatives masked."""
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(0, len(titles), (batch,), generator=g)
    is_intra = torch.rand(batch, generator=g) < intra_share
    dst = torch.where(is_intra, src, (src + torch.randint(1, len(titles), (batch,), generator=g)) % len(titles))
    rel = torch.where(is_intra, 0, torch.randint(1, len(relations), (batch,), generator=g))
    unique, inverse = torch.unique(torch.cat([src, dst]), return_inverse=True)  # (U,), (2B,)
    src, dst = inverse[:batch], inverse[batch:]
    if all_relations:
        used = torch.arange(len(relations))
    else:
        used, rel = torch.unique(rel, return_inverse=True)  # (R,) relation texts the rows use, (B,) into them
    items = model.backbone.tokenize([titles[i] for i in unique.tolist()])
    rels = model.backbone.tokenize([relations[i] for i in used.tolist()])
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


def measure(batch_size: int = 64, config: MeasureConfig | None = None, threads: int = 1,
            intra_share: float = 0.5, beta: float = 0.6, seed: int = 0, backbone_config: BackboneConfig | None = None,
            shape: str = "tiny", device: str = "cpu", autocast: str = "none", compile_backend: str | None = None,
            peak_tflops: float | None = None, variants: Sequence[str] | None = None, fixed_batch: bool = False,
            allocator: str = "fixed", all_relations: bool = False) -> dict:
    """Step times of the variants (ms), the ratios with their CIs, memory and FLOPs (module docstring).

    autocast: "none" | "bf16"; compile_backend: a torch.compile backend, or None for eager; variants: names
    from VARIANTS (default: all for tiny, DEFAULT_VIT_VARIANTS for vit-b32); fixed_batch: time one batch
    every round instead of a new one per round (the old, optimistic setting under torch.compile); all_relations:
    every relation text in every batch (what loss.relation_negatives makes the trainer encode)."""
    if autocast not in ("none", "bf16"):
        raise ValueError(f"autocast must be 'none' or 'bf16', got {autocast!r}")
    chosen = tuple(variants) if variants else (VARIANTS if shape == "tiny" else DEFAULT_VIT_VARIANTS)
    unknown = sorted(set(chosen) - set(VARIANTS))
    if unknown or not {"rcml", "clip"} <= set(chosen):
        raise ValueError(f"variants must include rcml and clip, from {VARIANTS}; got {list(chosen)}")
    allocator_set = set_allocator(allocator)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        result = _measure(batch_size, config or MeasureConfig(rounds=DEFAULT_ROUNDS), intra_share, beta, seed,
                          backbone_config, shape, torch.device(device), autocast, compile_backend, peak_tflops,
                          chosen, fixed_batch, all_relations)
    finally:
        torch.set_num_threads(previous_threads)
    return {"threads": threads, "allocator": allocator_set, **result}


def step_flops(fn: Callable[[], torch.Tensor]) -> int:
    """FLOPs of one forward + backward of `fn` (matmuls, attention, convolutions), as torch counts them."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        fn().backward()
    return int(counter.get_total_flops())


DEFAULT_ROUNDS = 40  # +-5 % took 10-15 pairs on CPU time, 30 to over 40 on wall time on the shared VM (docs)
# train steps (forward + backward) and forward-only passes; see the module docstring
VARIANTS: tuple[str, ...] = ("rcml", "clip", "rcml_padded", "clip_ours", "relations", "conditioning",
                             "rcml_forward", "clip_forward")
DEFAULT_VIT_VARIANTS: tuple[str, ...] = ("rcml", "clip")
# the product's target, and issue 21's goal for the ViT-B/32 shape (docs/performance.md)
TRAIN_TARGETS = (Target("<=", 1.2), Target("<=", 1.1))
RATIOS = {  # name: (numerator, denominator, targets)
    "train_rcml_over_clip": ("rcml", "clip", TRAIN_TARGETS),
    "forward_rcml_over_clip": ("rcml_forward", "clip_forward", TRAIN_TARGETS),
    "train_rcml_padded_over_clip": ("rcml_padded", "clip", ()),
    "train_clip_ours_over_clip": ("clip_ours", "clip", ()),
    "train_relations_over_clip": ("relations", "clip", ()),
    "train_conditioning_over_clip": ("conditioning", "clip", ()),
}


class _Steps:
    """The loss of every variant on the current batch (replaced by `use`, untimed, before each round)."""

    def __init__(self, model: RCMLModel, run_model, run_clip, cast) -> None:
        self.model, self.run_model, self.run_clip, self.cast = model, run_model, run_clip, cast
        self.loss_config = LossConfig()
        self.batch: PairBatch | None = None

    def use(self, batch: PairBatch) -> None:
        self.batch, self.padded = batch, dataclasses.replace(batch, packed_text=None)
        with torch.no_grad():  # cached features standing in for the towers' outputs (the conditioning variant)
            self.items = self.model.encode_items(batch.item_input_ids, batch.item_attention_mask, batch.pixel_values)
            self.relations = self.model.encode_relations(batch.relation_input_ids, batch.relation_attention_mask)
        for f in (self.items.text, self.items.image):
            f.tokens.requires_grad_(True)
        self.relations.requires_grad_(True)

    def rcml(self, eager: bool = False) -> torch.Tensor:
        b = self.batch
        with nullcontext() if eager else self.cast():
            sims = (self.model if eager else self.run_model)(b)
            return rcml_loss(sims, b.negative_mask, b.intra, self.loss_config).total

    def rcml_padded(self) -> torch.Tensor:
        b = self.padded
        with self.cast():
            return rcml_loss(self.run_model(b), b.negative_mask, b.intra, self.loss_config).total

    def clip(self, eager: bool = False) -> torch.Tensor:
        b = self.batch
        with nullcontext() if eager else self.cast():
            out = (self.model.clip if eager else self.run_clip)(
                input_ids=b.item_input_ids, attention_mask=b.item_attention_mask, pixel_values=b.pixel_values)
            return clip_loss(out.text_embeds, out.image_embeds, self.loss_config.tau)

    def clip_ours(self) -> torch.Tensor:
        b, m = self.batch, self.model
        with self.cast():
            emb = m.clip_embeddings(m.encode_items(b.item_input_ids, b.item_attention_mask, b.pixel_values))
            return clip_loss(emb.text, emb.image, self.loss_config.tau)

    def relations(self) -> torch.Tensor:
        b = self.batch
        with self.cast():
            return self.model.encode_relations(b.relation_input_ids, b.relation_attention_mask).float().sum()

    def conditioning(self) -> torch.Tensor:
        b = self.batch
        with self.cast():
            sims = self.model.pair_similarities(self.items, self.relations, b.src, b.dst, b.rel, b.intra)
            return rcml_loss(sims, b.negative_mask, b.intra, self.loss_config).total

    def timed(self, name: str) -> Callable[[], None]:
        """The callable one round times: a train step (zero_grad, forward, backward) or a forward pass."""
        if name.endswith("_forward"):
            loss = getattr(self, name.removesuffix("_forward"))

            def forward() -> None:
                with torch.no_grad():
                    loss()

            return forward
        loss = getattr(self, name)

        def train() -> None:
            self.model.zero_grad(set_to_none=True)
            loss().backward()

        return train


def _measure(batch_size: int, config: MeasureConfig, intra_share: float, beta: float, seed: int,
             backbone_config: BackboneConfig | None, shape: str, device: torch.device, autocast: str,
             compile_backend: str | None, peak_tflops: float | None, chosen: Sequence[str],
             fixed_batch: bool, all_relations: bool) -> dict:
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
    # the timed modules; flops are counted on the eager ones (same arithmetic)
    run_model = torch.compile(model, backend=compile_backend) if compile_backend else model
    run_clip = torch.compile(model.clip, backend=compile_backend) if compile_backend else model.clip

    def cast():
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16) if autocast == "bf16" else nullcontext()

    steps = _Steps(model, run_model, run_clip, cast)
    shapes: list[dict] = []

    def setup(i: int) -> None:  # a new batch per round, as training draws one per step (shapes vary)
        batch_seed = seed if fixed_batch else seed + config.warmup + i
        batch = synthetic_batch(model, titles, relations, batch_size, intra_share, batch_seed, all_relations)
        batch = batch.to(device)
        steps.use(batch)
        if i >= 0:
            shapes.append(_batch_shape(batch))

    sync = torch.cuda.synchronize if device.type == "cuda" else None
    rounds = run_rounds({name: steps.timed(name) for name in chosen}, config, sync=sync, setup=setup)
    result = {
        "device": str(device), "machine": machine(), "shape": shape, "autocast": autocast,
        "compile": compile_backend, "backbone": shape_info, "batch_rows": batch_size,
        "batches": "one fixed batch" if fixed_batch else "a new batch per round (seeded), as in training",
        "relations": "all relation texts in every batch" if all_relations else "the relations the batch's rows use",
        "batch_shapes": _shape_summary(shapes), "measure": describe(config),
        "step_ms": {name: variant_summary(v) for name, v in rounds.samples.items()},
        "warmup_s": {name: round(sum(v), 3) for name, v in rounds.warmup.items()},
        "ratios": {name: ratio_summary(rounds.samples[a], rounds.samples[b], targets, config)
                   for name, (a, b, targets) in RATIOS.items() if a in chosen and b in chosen},
    }
    if compile_backend:
        result["compile_counters"] = _compile_counters()
    setup(0)  # FLOPs and memory of the first timed round's batch
    flops = {"rcml": step_flops(lambda: steps.rcml(eager=True)), "clip": step_flops(lambda: steps.clip(eager=True))}
    model.zero_grad(set_to_none=True)
    medians = {k: result["step_ms"][k]["median"] for k in flops}
    result["gflops_per_step"] = {k: round(v / 1e9, 3) for k, v in flops.items()}
    result["flop_ratio_rcml_over_clip"] = round(flops["rcml"] / flops["clip"], 3)
    result["achieved_tflops"] = {k: round(flops[k] / (medians[k] / 1000) / 1e12, 4) for k in flops}
    if peak_tflops:
        result["peak_tflops"] = peak_tflops
        result["mfu"] = {k: round(v / peak_tflops, 4) for k, v in result["achieved_tflops"].items()}
    memory = {"rcml": saved_activation_bytes(steps.rcml, model.parameters()),
              "clip": saved_activation_bytes(steps.clip, model.parameters())}
    result["activation_mb"] = {k: round(v / 2**20, 2) for k, v in memory.items()}
    result["activation_ratio_rcml_over_clip"] = round(memory["rcml"] / memory["clip"], 3)
    peaks = {name: cuda_peak_bytes(lambda f=getattr(steps, name): f().backward()) for name in ("rcml", "clip")}
    if all(v is not None for v in peaks.values()):
        result["cuda_peak_mb"] = {k: round(v / 2**20, 1) for k, v in peaks.items()}
    return result


def _batch_shape(batch: PairBatch) -> dict:
    packed = batch.packed_text
    return {"unique_items": batch.num_items, "item_tokens": int(batch.item_input_ids.shape[1]),
            "relations": batch.num_relations, "relation_tokens": int(batch.relation_input_ids.shape[1]),
            "intra_rows": int(batch.intra.sum()),
            # None: packing would take more slots than padding, and the step runs the padded calls
            "packed_text_rows": int(packed.input_ids.shape[0]) if packed is not None else None,
            "packed_text_row_length": packed.row_length if packed is not None else None}


def _shape_summary(shapes: list[dict]) -> dict:
    """Per field: the value when every round's batch had the same, else [min, median, max]."""
    out = {"distinct": len({tuple(s.values()) for s in shapes})}
    for key in shapes[0]:
        values = [s[key] for s in shapes if s[key] is not None]
        if len(values) < len(shapes):
            out[f"{key}_padded_rounds"] = len(shapes) - len(values)
        if values:
            out[key] = values[0] if len(set(values)) == 1 else [min(values), statistics.median(values), max(values)]
    return out


def _compile_counters() -> dict:
    """torch._dynamo's counts: frames compiled (a new shape or a failed guard compiles its frame again) and the
    graphs they produced (graph breaks make several per frame)."""
    from torch._dynamo.utils import counters

    return {"unique_graphs": int(counters["stats"]["unique_graphs"]),
            "frames_compiled": int(counters["frames"]["total"])}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64, help="rows B (relation pairs) per batch")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch.set_num_threads (1: what a trial's worker gets on a 2-CPU machine; a two-thread "
                             "team on a shared 2-vCPU machine stalls whenever another process takes a core)")
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
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=None,
                        help=f"what to time (rcml and clip always); default: all for tiny, "
                             f"{' '.join(DEFAULT_VIT_VARIANTS)} for vit-b32")
    parser.add_argument("--fixed-batch", action="store_true",
                        help="time one batch every round (default: a new batch per round, shapes varying)")
    parser.add_argument("--all-relations", action="store_true",
                        help="encode every relation text in every batch (as loss.relation_negatives makes the trainer "
                             "do); default: only the relations the batch's rows use, as make_pair_batch does")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--autocast", choices=["none", "bf16"], default="none", help="torch.autocast dtype")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model (and CLIP's) first")
    parser.add_argument("--compile-backend", default="inductor")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="the device's peak TFLOP/s at the run's precision: reports MFU")
    add_measure_arguments(parser, rounds=DEFAULT_ROUNDS, warmup=2)
    parser.add_argument("--steps", dest="rounds", type=int, help=argparse.SUPPRESS)  # the former names
    parser.add_argument("--warmup", dest="warmup_rounds", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    backbone_config = BackboneConfig(
        hidden_size=args.hidden, intermediate_size=4 * args.hidden, num_layers=args.layers,
        num_heads=max(1, args.hidden // 16), image_size=args.image_size, patch_size=args.patch_size,
        projection_dim=args.projection_dim,
    )
    result = measure(args.batch, config_from_args(args), args.threads, args.intra_share, args.beta, args.seed,
                     backbone_config, args.shape, args.device, args.autocast,
                     args.compile_backend if args.compile else None, args.peak_tflops, args.variants,
                     args.fixed_batch, args.allocator, args.all_relations)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
