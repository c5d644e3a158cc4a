"""Item embeddings under chosen relations, for pictures of the embedding space (the report's Figure 6).

A checkpoint embeds a sample of one split's items under each of a few relations, through the same
embedder its evaluation uses (rcml_core.eval.evaluate): RCML conditions every item on the relation,
the CLIP baseline (`method=clip`) appends the relation text to the title, `clip_plain` ignores the
relation. The result is each item's unit AVG embedding (text and image averaged, the AVG similarity).

    relations = busiest_relations(dataset, "test", 2)
    items = sample_items(dataset, "test", 400, seed=0)
    views = checkpoint_views(best_dir, dataset, items, relations)   # (R, U, d)

The dataset is passed in, not loaded again, so one loaded dataset serves every checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rcml_core.config import config_from_dict
from rcml_core.data.format.schema import RelationalDataset
from rcml_core.eval.embedders import ConcatEmbedder, Embedder, PlainEmbedder, RCMLEmbedder
from rcml_core.eval.similarity import average_embedding
from rcml_core.model.backbone import load_backbone
from rcml_core.model.rcml import RCMLModel
from rcml_core.runtime.checkpoint import load_model_weights, read_checkpoint_config
from rcml_core.runtime.device import resolve_device
from rcml_core.runtime.inputs import ModelInputs
from rcml_core.runtime.layout import BACKBONE_DIR
from rcml_core.runtime.run_config import RunConfig


@dataclass(frozen=True)
class ItemViews:
    """Unit AVG embeddings of the same items under each relation."""

    method: str  # the checkpoint's method: its evaluation protocol (rcml, clip, clip_plain)
    items: np.ndarray  # (U,) dataset item indices, sorted
    relations: tuple[int, ...]  # (R,) relation ids
    embeddings: np.ndarray  # (R, U, d) float32, unit rows


def busiest_relations(dataset: RelationalDataset, split: str, n: int = 2) -> tuple[int, ...]:
    """The `n` inter relations with the most retrieval queries on `split` (ties: the lower id)."""
    if split not in dataset.retrieval:
        raise ValueError(f"{dataset.root}: no retrieval queries on split {split!r}")
    inter = set(dataset.inter_relation_ids.tolist())
    ids, counts = np.unique(dataset.retrieval[split].relation, return_counts=True)
    ranked = sorted((int(i) for i in ids if int(i) in inter), key=lambda i: (-counts[ids == i][0], i))
    if len(ranked) < n:
        raise ValueError(f"{dataset.root}: split {split!r} has queries of {len(ranked)} relation(s), {n} needed")
    return tuple(ranked[:n])


def sample_items(dataset: RelationalDataset, split: str, max_items: int, seed: int = 0) -> np.ndarray:
    """(U,) sorted item indices of `split`: all of them, or a seeded sample of `max_items`."""
    items = dataset.item_indices(split)
    if len(items) > max_items:
        items = np.random.default_rng(seed).choice(items, size=max_items, replace=False)
    return np.sort(items)


def _embedder(method: str, model: RCMLModel, inputs: ModelInputs, items: np.ndarray, batch_size: int,
              device: torch.device) -> Embedder:
    if method == "rcml":
        return RCMLEmbedder(model, inputs, items, batch_size, device)
    if method == "clip":
        return ConcatEmbedder(model, inputs, items, batch_size, device)
    return PlainEmbedder(model, inputs, items, batch_size, device)


@torch.no_grad()
def checkpoint_views(checkpoint: Path | str, dataset: RelationalDataset, items: np.ndarray,
                     relations: tuple[int, ...], device: str | torch.device = "cpu",
                     batch_size: int = 256) -> ItemViews:
    """A saved checkpoint (`best/` folder) embedding `items` of `dataset` under each of `relations`."""
    checkpoint = Path(checkpoint)
    config = config_from_dict(RunConfig, read_checkpoint_config(checkpoint))
    torch_device = device if isinstance(device, torch.device) else resolve_device(device)
    backbone = load_backbone(checkpoint / BACKBONE_DIR)
    model = RCMLModel(backbone, config.effective_model)
    load_model_weights(checkpoint, model)
    model = model.to(torch_device).eval()
    inputs = ModelInputs(dataset, backbone, neutral_edge_text=config.neutral_edge_text)
    items = np.sort(np.asarray(items, dtype=np.int64))
    embedder = _embedder(config.method, model, inputs, items, batch_size, torch_device)
    out = []
    for relation in relations:
        text, image = embedder.embed(items, int(relation))  # (U, d) each
        out.append(average_embedding(text, image).float().cpu().numpy())
    return ItemViews(config.method, items, tuple(int(r) for r in relations), np.stack(out))  # (R, U, d)
