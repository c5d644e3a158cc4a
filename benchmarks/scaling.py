"""Step time and activation memory against batch size B and token count (the B^2 terms), and the memory
of a B=512 ViT-B/32 step.

    python -m benchmarks.scaling [--batches 8 16 32 64 128] [--title-words 6 14 30] [--threads 1] [--rounds 15]
                                 [--out DIR]

Tiny backbone, RCML train step (forward + backward) on synthetic batches of B relation pairs, as in
benchmarks.step_time, with the plain CLIP step on the same unique items beside it: per cell (B, title
words) the two steps interleaved in rounds (benchmarks.measure), median times, the RCML / CLIP ratio with
its 95 % bootstrap CI, and the bytes autograd saves for backward. Titles of about --title-words words set
the text token count. Writes scaling.json, a table (scaling.csv) and a plot (scaling.png) to --out.

B = 512 on the ViT-B/32 shape (`vit_b32_memory`): the towers' activation per unique item is measured at
small B and fitted linearly in the unique items; the relation tower and the B x B conditioning + loss are
measured directly at B = 512 on cached token features; plus weights, gradients and AdamW state (4 fp32
copies of the parameters). On a GPU, --measure-vit-b32 512 [--bf16] measures the allocator's peak of real
steps at that batch as well (with --device cpu, a dry run of the same code at a small B: the bytes saved for
backward instead of the allocator's peak).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from benchmarks.measure import (
    MeasureConfig,
    add_measure_arguments,
    config_from_args,
    describe,
    ratio_summary,
    run_rounds,
    set_allocator,
    variant_summary,
)
from benchmarks.shapes import cuda_peak_bytes, machine, saved_activation_bytes, vit_b32_backbone
from benchmarks.step_time import CATEGORIES, INTRA_TEXT, synthetic_batch
from rcml_core.loss import LossConfig, clip_loss, rcml_loss
from rcml_core.model.backbone import BackboneConfig, build_backbone
from rcml_core.model.rcml import RCMLConfig, RCMLModel


def _texts(n: int, words: int, seed: int) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(500)]
    titles = [" ".join(rng.choice(vocab, size=max(1, words + int(rng.integers(-2, 3))))) for _ in range(n)]
    relations = [INTRA_TEXT] + [f"Co-purchased by people who primarily buy {CATEGORIES[k]}, followed by "
                                f"{CATEGORIES[(k + 3) % 10]}, with minimal interest in {CATEGORIES[(k + 5) % 10]}."
                                for k in range(10)]
    return titles, relations


def _steps(model: RCMLModel, batch):
    loss_config = LossConfig()

    def rcml() -> torch.Tensor:
        return rcml_loss(model(batch), batch.negative_mask, batch.intra, loss_config).total

    def clip() -> torch.Tensor:
        emb = model.clip_embeddings(model.encode_items(batch.item_input_ids, batch.item_attention_mask,
                                                       batch.pixel_values))
        return clip_loss(emb.text, emb.image, loss_config.tau)

    return rcml, clip


def tiny_grid(batches: Sequence[int], words: Sequence[int], config: MeasureConfig) -> list[dict]:
    rows = []
    for w in words:
        titles, relations = _texts(4 * max(batches), w, seed=0)
        model = RCMLModel(build_backbone(BackboneConfig(), titles + relations), RCMLConfig(beta=0.6))
        for b in batches:
            batch = synthetic_batch(model, titles, relations, b, 0.5, seed=0)
            rcml, clip = _steps(model, batch)

            def train(loss=rcml) -> None:
                model.zero_grad(set_to_none=True)
                loss().backward()

            rounds = run_rounds({"rcml": train, "clip": lambda: train(clip)}, config).samples
            rcml_ms, clip_ms = variant_summary(rounds["rcml"]), variant_summary(rounds["clip"])
            ratio = ratio_summary(rounds["rcml"], rounds["clip"], (), config, with_convergence=False)
            rows.append({
                "batch": b, "title_words": w, "item_tokens": int(batch.item_input_ids.shape[1]),
                "unique_items": batch.num_items,
                "rcml_ms": rcml_ms["median"], "clip_ms": clip_ms["median"],
                "ratio": ratio["median"], "ratio_ci95_low": ratio["ci95"][0], "ratio_ci95_high": ratio["ci95"][1],
                "ratio_min": ratio["min"], "ratio_max": ratio["max"], "pairs": ratio["pairs"],
                "rcml_activation_mb": round(saved_activation_bytes(rcml, model.parameters()) / 2**20, 2),
                "clip_activation_mb": round(saved_activation_bytes(clip, model.parameters()) / 2**20, 2),
            })
            print(json.dumps(rows[-1]), flush=True)
    return rows


def vit_b32_memory(small_batches: Sequence[int], target: int) -> dict:
    """Activation memory of an RCML ViT-B/32 train step at B = `target`, computed from three measured parts:

    backbone   bytes saved per unique item by the two towers (CLIP-style step), fitted a + b U over the
               small batches (linear in the unique items U; the towers see nothing of B);
    relations  the relation texts of the B = target batch through the text tower (all 11 at B = 512);
    pairs      the conditioning + loss at B = target itself, measured on cached (random) token features of
               the target batch's U items: the B x B and R x U x n terms, without running the backbone.
    """
    titles, relations = _texts(4 * target, 10, seed=0)
    model = RCMLModel(vit_b32_backbone(titles + relations), RCMLConfig(beta=0.6))
    loss_config = LossConfig()
    points = []
    for b in small_batches:
        batch = synthetic_batch(model, titles, relations, b, 0.5, seed=0)
        _, clip = _steps(model, batch)
        points.append((batch.num_items, saved_activation_bytes(clip, model.parameters())))
    u = np.array([p[0] for p in points], dtype=float)
    fit = np.polyfit(u, np.array([p[1] for p in points], dtype=float), 1)  # bytes = fit[0] U + fit[1]
    batch = synthetic_batch(model, titles, relations, small_batches[-1], 0.5, seed=0)
    big = synthetic_batch(model, titles, relations, target, 0.5, seed=0)
    relation_bytes = saved_activation_bytes(
        lambda: model.encode_relations(big.relation_input_ids, big.relation_attention_mask).sum(),
        model.parameters())

    with torch.no_grad():
        small = model.encode_items(batch.item_input_ids[:2], batch.item_attention_mask[:2], batch.pixel_values[:2])
        h = model.encode_relations(big.relation_input_ids, big.relation_attention_mask)
    g = torch.Generator().manual_seed(0)
    width = small.text.tokens.shape[-1]

    def cached(f, n_tokens: int, mask: torch.Tensor, summary: torch.Tensor):
        tokens = torch.randn(big.num_items, n_tokens, width, generator=g).requires_grad_(True)
        return type(f)(tokens=tokens, mask=mask, summary_index=summary)

    from rcml_core.model.encoders import eot_index
    from rcml_core.model.outputs import ItemFeatures

    n_text, n_image = big.item_input_ids.shape[1], small.image.tokens.shape[1]
    items = ItemFeatures(
        text=cached(small.text, n_text, big.item_attention_mask.bool(),
                    eot_index(big.item_input_ids, big.item_attention_mask,
                              int(model.clip.config.text_config.eos_token_id))),
        image=cached(small.image, n_image, torch.ones(big.num_items, n_image, dtype=torch.bool),
                     torch.zeros(big.num_items, dtype=torch.long)),
    )
    h = h.clone().requires_grad_(True)
    pair_bytes = saved_activation_bytes(lambda: rcml_loss(
        model.pair_similarities(items, h, big.src, big.dst, big.rel, big.intra), big.negative_mask, big.intra,
        loss_config).total, model.parameters())
    backbone = float(np.polyval(fit, big.num_items))
    params = sum(p.numel() for p in model.parameters())
    state = 4 * 4 * params  # fp32 weights, gradients, AdamW exp_avg and exp_avg_sq
    rcml = backbone + relation_bytes + pair_bytes
    gib = 2**30
    return {
        "measured_backbone_activation_mb": {f"U={int(n)}": round(b / 2**20, 1) for n, b in points},
        "backbone_mb_per_unique_item": round(fit[0] / 2**20, 2),
        f"unique_items_at_batch_{target}": big.num_items,
        "relation_tower_mb": round(relation_bytes / 2**20, 1),
        f"pair_conditioning_and_loss_mb_at_batch_{target}": round(pair_bytes / 2**20, 1),
        "parameters_millions": round(params / 1e6, 2),
        f"rcml_activation_gib_at_batch_{target}": round(rcml / gib, 2),
        f"clip_activation_gib_at_batch_{target}": round(backbone / gib, 2),
        "activation_ratio_rcml_over_clip": round(rcml / backbone, 3),
        "weights_grads_adamw_gib": round(state / gib, 2),
        f"rcml_total_gib_at_batch_{target}_fp32": round((rcml + state) / gib, 2),
        "note": "fp32 activations; bf16 autocast on a GPU roughly halves the activation share",
    }


def cuda_step_peak(batch_size: int, autocast: bool, device: str = "cuda") -> dict:
    """The CUDA allocator's peak for one RCML and one CLIP ViT-B/32 train step at `batch_size`; with
    device "cpu" (a dry run of the same steps) the bytes autograd saves for backward instead."""
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--measure-vit-b32 needs a CUDA device (or --device cpu for a dry run)")
    titles, relations = _texts(4 * batch_size, 10, seed=0)
    model = RCMLModel(vit_b32_backbone(titles + relations), RCMLConfig(beta=0.6)).to(device)
    batch = synthetic_batch(model, titles, relations, batch_size, 0.5, seed=0)
    batch = batch.to(device)
    out = {"batch": batch_size, "unique_items": batch.num_items, "autocast": "bf16" if autocast else "none",
           "device": device}
    for name, fn in zip(("rcml", "clip"), _steps(model, batch)):
        def forward(f=fn) -> torch.Tensor:
            with torch.autocast(device, dtype=torch.bfloat16, enabled=autocast):
                return f()

        def step(f=forward) -> None:
            f().backward()
            model.zero_grad(set_to_none=True)

        if device == "cuda":
            step()  # allocator warm-up
            out[f"{name}_peak_gib"] = round(cuda_peak_bytes(step) / 2**30, 2)
        else:
            out[f"{name}_saved_activation_gib"] = round(saved_activation_bytes(forward, model.parameters()) / 2**30,
                                                        3)
    return out


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=110)
    for w in sorted({r["title_words"] for r in rows}):
        sub = [r for r in rows if r["title_words"] == w]
        b = [r["batch"] for r in sub]
        ratio = [r["ratio"] for r in sub]
        err = [[r["ratio"] - r["ratio_ci95_low"] for r in sub], [r["ratio_ci95_high"] - r["ratio"] for r in sub]]
        axes[0].errorbar(b, ratio, yerr=err, fmt="o-", capsize=3, label=f"~{w}-word titles")
        axes[1].plot(b, [r["rcml_activation_mb"] for r in sub], "o-", label=f"RCML, ~{w} words")
        axes[1].plot(b, [r["clip_activation_mb"] for r in sub], "x--", label=f"CLIP, ~{w} words")
    axes[0].axhline(1.0, color="grey", lw=0.8)
    labels = ("train step RCML / CLIP (median, 95 % CI)", "activations saved for backward (MB)")
    for ax, label in zip(axes, labels):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("batch B (relation pairs)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batches", type=int, nargs="+", default=[8, 16, 32, 64, 128])
    p.add_argument("--title-words", type=int, nargs="+", default=[6, 14, 30])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cuda", help="with --measure-vit-b32: cuda, or cpu for a dry run")
    p.add_argument("--vit-b32-batches", type=int, nargs="*", default=[4, 8, 16],
                   help="small batches measured on the ViT-B/32 shape for the B=512 memory fit (none: skip)")
    p.add_argument("--target-batch", type=int, default=512)
    p.add_argument("--measure-vit-b32", type=int, default=None, metavar="B",
                   help="GPU only: the allocator's peak of RCML / CLIP ViT-B/32 steps at batch B")
    p.add_argument("--bf16", action="store_true", help="with --measure-vit-b32: under bf16 autocast")
    p.add_argument("--out", type=Path, default=Path("runs/benchmarks"))
    add_measure_arguments(p, rounds=15)
    p.add_argument("--steps", dest="rounds", type=int, help=argparse.SUPPRESS)  # the former name
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    allocator = set_allocator(args.allocator)
    if args.measure_vit_b32:
        print(json.dumps({"benchmark": "scaling_cuda_peak", "machine": machine(),
                          **cuda_step_peak(args.measure_vit_b32, args.bf16, args.device)}, indent=2))
        return 0
    config = config_from_args(args)
    rows = tiny_grid(args.batches, args.title_words, config)
    result = {"benchmark": "scaling", "machine": machine(), "threads": args.threads, "allocator": allocator,
              "measure": describe(config), "tiny": rows}
    if args.vit_b32_batches:
        result["vit_b32"] = vit_b32_memory(args.vit_b32_batches, args.target_batch)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scaling.json").write_text(json.dumps(result, indent=2))
    import pandas as pd

    pd.DataFrame(rows).to_csv(args.out / "scaling.csv", index=False)
    plot(rows, args.out / "scaling.png")
    if "vit_b32" in result:
        print(json.dumps(result["vit_b32"], indent=2))
    print(f"wrote {args.out / 'scaling.csv'}, {args.out / 'scaling.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
