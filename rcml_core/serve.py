"""Serving a trained RCML checkpoint: encode items once, condition on any relation text.

    encoder = RCMLEncoder.from_checkpoint("runs/x/checkpoints/best")
    items = encoder.encode_items(titles, images)        # backbone once per item: token cache
    z = encoder.condition(items, ["Bought by parents of twins"])  # (R, U, d) text and image

Needs no dataset: the checkpoint holds the tokenizer, image settings and weights. A
relation text never seen in training is conditioned like any other (its h_E comes from
the text tower). `RelationIndex` keeps a catalog's token cache and answers top-k queries
under a relation; the MLflow pyfunc model (tracking.pyfunc_model) wraps the encoder.

Stands on rcml_core.runtime (checkpoint folders, run config, device) and the model, and scores with
the evaluation's AVG similarity (rcml_core.eval.similarity); it never imports rcml_core.train.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from rcml_core.config import config_from_dict
from rcml_core.data.format.images import clip_preprocess
from rcml_core.eval.similarity import average_embedding
from rcml_core.model.backbone import load_backbone
from rcml_core.model.encoders import TokenFeatures
from rcml_core.model.outputs import ConditionedEmbeddings, ItemFeatures
from rcml_core.model.rcml import RCMLModel
from rcml_core.runtime.checkpoint import load_model_weights, read_checkpoint_config
from rcml_core.runtime.run_config import RunConfig
from rcml_core.runtime.device import resolve_device
from rcml_core.runtime.layout import BACKBONE_DIR


class RCMLEncoder:
    """A trained RCMLModel in eval mode with its tokenizer and image preprocessing."""

    def __init__(self, model: RCMLModel, device: torch.device, method: str = "rcml") -> None:
        self.model = model.eval()
        self.device = device
        self.method = method
        b = model.backbone
        self.mean = torch.tensor(b.image_mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(b.image_std, dtype=torch.float32).view(1, 3, 1, 1)

    @classmethod
    def from_checkpoint(cls, checkpoint: Path | str, device: str = "auto") -> RCMLEncoder:
        checkpoint = Path(checkpoint)
        config = config_from_dict(RunConfig, read_checkpoint_config(checkpoint))
        backbone = load_backbone(checkpoint / BACKBONE_DIR)
        torch_device = resolve_device(device)
        model = RCMLModel(backbone, config.effective_model)
        load_model_weights(checkpoint, model)
        return cls(model.to(torch_device), torch_device, config.method)

    def pixels(self, images: Sequence[Image.Image | np.ndarray | str | Path]) -> Tensor:
        """Images (PIL, uint8 HxWx3 arrays or file paths) -> (U, 3, S, S) normalised pixels."""
        size = self.model.backbone.image_size
        arrays = []
        for image in images:
            if isinstance(image, (str, Path)):
                with Image.open(image) as im:
                    arrays.append(clip_preprocess(im, size))
            elif isinstance(image, np.ndarray):
                arrays.append(clip_preprocess(Image.fromarray(image), size))
            else:
                arrays.append(clip_preprocess(image, size))
        x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().div_(255.0)  # (U, 3, S, S)
        return (x - self.mean) / self.std

    @torch.no_grad()
    def encode_items(self, titles: Sequence[str], images: Sequence, batch_size: int = 256) -> ItemFeatures:
        """Token features of U items (the backbone runs once per item)."""
        if len(titles) != len(images):
            raise ValueError(f"encode_items: {len(titles)} titles but {len(images)} images")
        texts, pics = [], []
        for start in range(0, len(titles), batch_size):
            tok = self.model.backbone.tokenize(list(titles[start : start + batch_size]))
            px = self.pixels(images[start : start + batch_size]).to(self.device)
            feats = self.model.encode_items(tok.input_ids.to(self.device), tok.attention_mask.to(self.device), px)
            texts.append(feats.text)
            pics.append(feats.image)
        return ItemFeatures(text=TokenFeatures.cat(texts), image=TokenFeatures.cat(pics))

    @torch.no_grad()
    def encode_relations(self, texts: Sequence[str]) -> Tensor:
        """(R, d) h_E of relation texts."""
        tok = self.model.backbone.tokenize(list(texts))
        return self.model.encode_relations(tok.input_ids.to(self.device), tok.attention_mask.to(self.device))

    @torch.no_grad()
    def condition(self, items: ItemFeatures, relations: Sequence[str] | Tensor,
                  intra: bool = False) -> ConditionedEmbeddings:
        """Unit z of every item under every relation: (R, U, d) text and image.

        `intra=True` conditions as an intra-sample pair (with the summary-token term)."""
        h = relations if isinstance(relations, Tensor) else self.encode_relations(relations)  # (R, d)
        kinds = torch.full((h.shape[0],), intra, dtype=torch.bool, device=self.device)
        table = self.model.relation_table(items, h, kinds)
        return ConditionedEmbeddings(text=table.text.float(), image=table.image.float())


class RelationIndex:
    """A catalog encoded once; top-k neighbours of a query item under any relation text (AVG similarity).

    The backbone runs once per catalog item (the token cache); a relation's conditioned catalog is
    computed at its first query and kept for the next `cache_relations` distinct relations.
    """

    def __init__(self, encoder: RCMLEncoder, titles: Sequence[str], images: Sequence, batch_size: int = 256,
                 cache_relations: int = 32) -> None:
        self.encoder = encoder
        self.features = encoder.encode_items(titles, images, batch_size)
        self.cache_relations = cache_relations
        self._cache: dict[str, Tensor] = {}  # relation text -> (U, d), oldest first

    def __len__(self) -> int:
        return len(self.features)

    @torch.no_grad()
    def embeddings(self, relation: str) -> Tensor:
        """(U, d) unit AVG embeddings of the catalog under `relation`."""
        if relation in self._cache:
            return self._cache[relation]
        z = self.encoder.condition(self.features, [relation])
        out = average_embedding(z.text[0], z.image[0])
        if self.cache_relations:
            if len(self._cache) >= self.cache_relations:
                self._cache.pop(next(iter(self._cache)))
            self._cache[relation] = out
        return out

    @torch.no_grad()
    def query(self, item: int, relation: str, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Indices and scores of the k catalog items closest to `item` under `relation` (itself excluded)."""
        z = self.embeddings(relation)  # (U, d)
        scores = z @ z[item]  # (U,)
        scores[item] = float("-inf")
        top = torch.topk(scores, min(k, len(self) - 1))
        return top.indices.cpu().numpy(), top.values.cpu().numpy()
