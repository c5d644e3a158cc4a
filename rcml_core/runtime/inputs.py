"""Model inputs prepared once per run: tokenised titles, cached images, relation texts.

Titles are tokenised once and sliced per batch to the longest title in it (dynamic
padding); relation texts are tokenised once. Images stay in the decoded uint8 cache's
read-only memory map (rcml_core.data.format.images), whose pages the node's processes share:
a batch's images are gathered from it into a reused staging buffer (pinned when they go
to CUDA, then copied without blocking and normalised on the device), never copied whole
into a process. Node memory per catalog size: docs/performance.md §8.
"""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rcml_core.data.format.images import image_array
from rcml_core.data.format.schema import INTRA_RELATION_ID, RelationalDataset
from rcml_core.model.backbone import Backbone

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


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Host tensor -> device; to CUDA from pinned memory without blocking the host (no stream sync)."""
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


class ImageStaging:
    """A reused host buffer that a batch's uint8 images are gathered into, pinned for CUDA copies.

    One per thread that builds batches (the training loop's prefetching producer has its own). On
    CUDA the buffer is free again once the copy that read it has run: `gather` waits for the event
    `copied` recorded after that copy (the previous batch's, long done in steady state).

    The gather is a plain memory copy out of the page cache (numpy `take`, which releases the GIL),
    split over `threads` threads: no OpenMP team, which on a busy node stalls far more than it helps
    (measured on the shared 2-core machine: torch.index_select on 2 threads 125-405 ms for what one
    thread copies in 26 ms).
    """

    def __init__(self, pin: bool, threads: int = 1) -> None:
        self.pin = pin
        self.threads = max(1, int(threads))
        self.buffer: torch.Tensor | None = None  # (capacity, S, S, 3) uint8
        self.copied = None  # torch.cuda.Event after the last copy out of the buffer
        self._pool: ThreadPoolExecutor | None = None  # started on the first gather that splits

    def close(self) -> None:
        """Stop the gather threads (the buffer stays usable, gathering on one thread)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self.threads = 1

    def gather(self, images: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """images (N, S, S, 3) uint8, index (U,) long -> (U, S, S, 3), a view of the buffer."""
        u = int(index.shape[0])
        if u and (int(index.min()) < 0 or int(index.max()) >= images.shape[0]):
            raise IndexError(f"image index out of range [0, {images.shape[0]}): "
                             f"[{int(index.min())}, {int(index.max())}]")
        if self.copied is not None:
            self.copied.synchronize()  # the previous copy out of the buffer has finished
            self.copied = None
        if self.buffer is None or self.buffer.shape[0] < u or self.buffer.shape[1:] != images.shape[1:]:
            capacity = max(u, 2 * self.buffer.shape[0] if self.buffer is not None else 0)
            self.buffer = torch.empty((capacity, *images.shape[1:]), dtype=torch.uint8, pin_memory=self.pin)
        out = self.buffer[:u]
        source, target, rows = images.numpy(), out.numpy(), index.numpy()
        if self.threads == 1 or u < 2 * self.threads:
            np.take(source, rows, axis=0, out=target, mode="clip")  # "clip": no buffered copy of `out`
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="rcml-gather")
            bounds = np.linspace(0, u, self.threads + 1).astype(np.int64)
            parts = [(bounds[k], bounds[k + 1]) for k in range(self.threads)]
            list(self._pool.map(lambda p: np.take(source, rows[p[0]:p[1]], axis=0, out=target[p[0]:p[1]], mode="clip"),
                                parts))
        return out

    def to(self, raw: torch.Tensor, device: torch.device) -> torch.Tensor:
        """The gathered images on `device`; on CUDA a non-blocking copy on the current stream."""
        if device.type != "cuda":
            return raw.to(device)
        moved = raw.to(device, non_blocking=True)
        self.copied = torch.cuda.Event()
        self.copied.record()
        return moved


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
        tok = backbone.tokenize(titles)
        self.text_ids = tok.input_ids  # (N, L)
        self.text_lengths = tok.attention_mask.sum(dim=1)  # (N,)
        self.titles_truncated = int(tok.truncated)
        # The cache's read-only memory map, as a tensor that is only ever read (gathered from).
        self.image_cache = image_array(dataset, backbone.image_size, image_cache_dir)  # np.memmap, mode "r"
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            self.images = torch.from_numpy(self.image_cache)  # (N, S, S, 3) uint8, the memory map's pages
        self.mean = torch.tensor(backbone.image_mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(backbone.image_std, dtype=torch.float32).view(1, 3, 1, 1)
        self._normalisation: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}
        self._staging: dict[str, ImageStaging] = {}  # per device type, for callers without their own
        self.relation_texts = relation_texts(dataset, neutral_edge_text)
        rel = backbone.tokenize(self.relation_texts)
        self.relation_ids = rel.input_ids  # (R, Lr)
        self.relation_mask = rel.attention_mask
        self.relations_truncated = int(rel.truncated)

    @property
    def n_items(self) -> int:
        return int(self.text_ids.shape[0])

    def staging(self, device: torch.device) -> ImageStaging:
        """The shared staging buffer for `device`'s type (a thread building batches brings its own)."""
        if device.type not in self._staging:
            self._staging[device.type] = ImageStaging(pin=device.type == "cuda")
        return self._staging[device.type]

    def normalisation(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Image mean and std, (1, 3, 1, 1) each, on `device` (uploaded once)."""
        if device not in self._normalisation:
            self._normalisation[device] = (to_device(self.mean, device), to_device(self.std, device))
        return self._normalisation[device]

    def pixels(self, index: torch.Tensor, device: torch.device | str = "cpu",
               staging: ImageStaging | None = None) -> torch.Tensor:
        """(U,) item indices -> (U, 3, S, S) normalised float pixels on `device`.

        The uint8 images are gathered from the memory map into the staging buffer; on CUDA they travel
        pinned and non-blocking (a quarter of the float bytes) and are normalised on the device.
        """
        device = torch.device(device)
        staging = staging if staging is not None else self.staging(device)
        raw = staging.gather(self.images, torch.as_tensor(np.asarray(index), dtype=torch.long))  # (U, S, S, 3)
        return self.normalise(staging.to(raw, device))

    def normalise(self, raw: torch.Tensor) -> torch.Tensor:
        """(U, S, S, 3) uint8 -> (U, 3, S, S) float normalised with the backbone's mean / std, on raw's device.

        The result is a new tensor: a staging buffer that `raw` views is free again afterwards.
        """
        x = raw.permute(0, 3, 1, 2).float().div_(255.0)  # (U, 3, S, S)
        mean, std = self.normalisation(raw.device)
        return (x - mean) / std

    def titles(self, index: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Host token ids and mask of the given items' titles, (U, n), padded to the longest among them."""
        index = torch.as_tensor(np.asarray(index), dtype=torch.long)
        n = int(self.text_lengths[index].max()) if len(index) else 1
        ids = self.text_ids[index, :n]  # (U, n)
        mask = (torch.arange(n)[None, :] < self.text_lengths[index][:, None]).long()  # (U, n)
        return ids, mask

    def items(self, index: np.ndarray | torch.Tensor, device: torch.device | str = "cpu",
              titles: tuple[torch.Tensor, torch.Tensor] | None = None,
              staging: ImageStaging | None = None) -> ItemTensors:
        """Tensors for the given items, titles padded to the longest among them (`titles`: what
        self.titles(index) returned, when the caller has it already)."""
        index = torch.as_tensor(np.asarray(index), dtype=torch.long)
        ids, mask = titles if titles is not None else self.titles(index)
        device = torch.device(device)
        return ItemTensors(
            input_ids=to_device(ids, device),
            attention_mask=to_device(mask, device),
            pixel_values=self.pixels(index, device, staging),
        )

    def relations(self, relation_ids: np.ndarray | torch.Tensor,
                  device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids and mask of the given relations, padded to the longest among them; on the host
        when `device` is None."""
        index = torch.as_tensor(np.asarray(relation_ids), dtype=torch.long)
        mask = self.relation_mask[index]
        n = int(mask.sum(dim=1).max())
        ids, mask = self.relation_ids[index, :n], mask[:, :n]
        if device is None:
            return ids, mask
        device = torch.device(device)
        return to_device(ids, device), to_device(mask, device)

    def concat_texts(self, item_index: np.ndarray, relation_id: int) -> list[str]:
        """Baseline input (paper 4.3.1): the product title with the relation text appended.

        The title comes first so that truncation at the token limit cuts the relation text,
        never the product's own title.
        """
        titles = self.dataset.items["text"].to_numpy()[np.asarray(item_index)]
        return [f"{t} . {self.relation_texts[relation_id]}" for t in titles]
