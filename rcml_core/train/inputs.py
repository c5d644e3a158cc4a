"""Model inputs prepared once per run: tokenised titles, cached images, relation texts.

Titles are tokenised once and sliced per batch to the longest title in it (dynamic
padding); images come from the decoded uint8 cache (rcml_core.data.images) and are
normalised on the fly; relation texts are tokenised once. Nothing here is redone per
epoch, so the loader is never the bottleneck (DESIGN §6: loader >= 5x consumption).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rcml_core.data.images import image_array
from rcml_core.data.schema import INTRA_RELATION_ID, RelationalDataset
from rcml_core.model.backbone import Backbone
from rcml_core.model.tokenizer import tokenize

# The `no_edge_text` ablation (paper 4.4): every inter relation text becomes this one text;
# the graph's connectivity is kept.
NEUTRAL_RELATION_TEXT = "These two items are related."


def relation_texts(dataset: RelationalDataset, neutral_edge_text: bool) -> list[str]:
    """Relation text by relation id, with the neutral text substituted under `no_edge_text`."""
    texts = dataset.relations["text"].tolist()
    if neutral_edge_text:
        texts = [t if rid == INTRA_RELATION_ID else NEUTRAL_RELATION_TEXT for rid, t in enumerate(texts)]
    return texts


@dataclass
class ItemTensors:
    input_ids: torch.Tensor  # (U, n) long
    attention_mask: torch.Tensor  # (U, n) long
    pixel_values: torch.Tensor  # (U, 3, S, S) float


def _to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Host tensor -> device; to CUDA from pinned memory without blocking the host."""
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


class ModelInputs:
    """Everything the model reads about a dataset, prepared once."""

    def __init__(
        self,
        dataset: RelationalDataset,
        backbone: Backbone,
        neutral_edge_text: bool = False,
        image_cache_dir: Path | None = None,
    ) -> None:
        self.dataset = dataset
        self.backbone = backbone
        titles = dataset.items["text"].tolist()
        tok = tokenize(backbone, titles)
        self.text_ids = tok.input_ids  # (N, L)
        self.text_lengths = tok.attention_mask.sum(dim=1)  # (N,)
        self.titles_truncated = int(tok.truncated)
        # A private, writable in-memory copy of the decoded cache (the cache file itself is a read-only memmap).
        self.images = torch.from_numpy(np.array(image_array(dataset, backbone.image_size, image_cache_dir)))  # (N, S, S, 3)
        self.mean = torch.tensor(backbone.image_mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(backbone.image_std, dtype=torch.float32).view(1, 3, 1, 1)
        self.relation_texts = relation_texts(dataset, neutral_edge_text)
        rel = tokenize(backbone, self.relation_texts)
        self.relation_ids = rel.input_ids  # (R, Lr)
        self.relation_mask = rel.attention_mask
        self.relations_truncated = int(rel.truncated)

    @property
    def n_items(self) -> int:
        return int(self.text_ids.shape[0])

    def pixels(self, index: torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
        """(U,) item indices -> (U, 3, S, S) normalised float pixels on `device`.

        On CUDA the uint8 images travel (pinned, non-blocking: a quarter of the float bytes) and are
        normalised on the device.
        """
        raw = _to_device(self.images[index], torch.device(device))  # (U, S, S, 3) uint8
        x = raw.permute(0, 3, 1, 2).float().div_(255.0)  # (U, 3, S, S)
        return (x - self.mean.to(x.device)) / self.std.to(x.device)

    def titles(self, index: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Host token ids and mask of the given items' titles, (U, n), padded to the longest among them."""
        index = torch.as_tensor(np.asarray(index), dtype=torch.long)
        n = int(self.text_lengths[index].max()) if len(index) else 1
        ids = self.text_ids[index, :n]  # (U, n)
        mask = (torch.arange(n)[None, :] < self.text_lengths[index][:, None]).long()  # (U, n)
        return ids, mask

    def items(self, index: np.ndarray | torch.Tensor, device: torch.device | str = "cpu",
              titles: tuple[torch.Tensor, torch.Tensor] | None = None) -> ItemTensors:
        """Tensors for the given items, titles padded to the longest among them (`titles`: what
        self.titles(index) returned, when the caller has it already)."""
        index = torch.as_tensor(np.asarray(index), dtype=torch.long)
        ids, mask = titles if titles is not None else self.titles(index)
        device = torch.device(device)
        return ItemTensors(
            input_ids=_to_device(ids, device),
            attention_mask=_to_device(mask, device),
            pixel_values=self.pixels(index, device),
        )

    def relations(self, relation_ids: np.ndarray | torch.Tensor, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids and mask of the given relations, padded to the longest among them."""
        index = torch.as_tensor(np.asarray(relation_ids), dtype=torch.long)
        mask = self.relation_mask[index]
        n = int(mask.sum(dim=1).max())
        return self.relation_ids[index, :n].to(device), mask[:, :n].to(device)

    def concat_texts(self, item_index: np.ndarray, relation_id: int) -> list[str]:
        """Baseline input (paper 4.3.1): the product title with the relation text appended.

        The title comes first so that truncation at the token limit cuts the relation text,
        never the product's own title.
        """
        titles = self.dataset.items["text"].to_numpy()[np.asarray(item_index)]
        return [f"{t} . {self.relation_texts[relation_id]}" for t in titles]
