"""Relation-pair batches for training (paper 3.2).

A training example is a relation pair (i, j, e): an inter-sample edge of the training
graph in a random direction, or an intra-sample pair (i, i, e_intra). An epoch is every
training edge once plus `intra_fraction` of intra pairs, shuffled with a seed derived
from (seed, epoch), so a resumed run sees exactly the batches it would have seen.
Without inter edges (the `no_inter_edges` ablation, the CLIP baseline) an epoch holds
the same number of pairs, all intra (every item about equally often), so every variant
gets the same compute per epoch.

With `category_groups` > 0, an epoch's shuffled pairs are laid out in runs of `category_groups` pairs
whose targets share a category (the first two levels of the category path, e.g. "Baby > Feeding"),
and the runs are shuffled: a batch then holds B / category_groups categories, so most of a row's
in-batch negatives are of its positive's category and only what sets items apart within a
category (colour, material, ...) separates them. Every pair is still seen once per epoch.

Each batch carries its false-negative mask: column s is excluded from row r's
denominator when target j_s is the same item as the positive j_r, is the anchor i_r
itself, or is related to i_r under any relation of the training graph (the paper's
N(i) holds only unrelated samples). The graph test walks each anchor's neighbour list
(an adjacency index built once), O(B^2 + sum of the anchors' degrees) per batch rather
than a search per (row, column): 33 ms at B = 512 was one third of a GPU step's budget.

Data parallel (world_size > 1): `batch_size` is the global batch, the pairs of one
optimisation step, whatever the number of workers (docs/architecture.md). Each rank takes
an equal, disjoint slice of the step's pairs (its rows) and gets its rows' false-negative
mask over the whole step's targets (every rank computes the epoch's pairs identically), so
the ranks together compute one process's loss on the step (rcml_core.distributed). The
last, partial batch is always dropped: every rank must run the same number of steps, or
the gradient all-reduces stop pairing up and the job hangs until the collective times out.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from rcml_core.errors import ConfigError
from rcml_core.data.format.schema import INTRA_RELATION_ID, RelationalDataset
from rcml_core.runtime.run_config import SamplerConfig


@dataclass(frozen=True)
class PairIndexBatch:
    """One rank's rows of a step's batch of relation pairs, as dataset item indices.

    The step's batch has C = B x world_size rows, rank k holding rows k B .. (k + 1) B - 1; every
    row's candidates are the C targets of the step, so row r's positive is column rank B + r.
    """

    src: np.ndarray  # (B,) int64 anchor item i
    dst: np.ndarray  # (B,) int64 target item j
    relation: np.ndarray  # (B,) int64 relation id (0 = intra)
    false_negative: np.ndarray  # (B, C) bool, True where column s must not count as a negative of row r
    step_relation: np.ndarray | None = None  # (C,) relation id of every row of the step; None: `relation`
    rank: int = 0

    def __post_init__(self) -> None:
        b, c = len(self), self.false_negative.shape[1]
        if self.false_negative.shape[0] != b or c % b or not 0 <= self.rank < c // b:
            raise ValueError(f"PairIndexBatch: false_negative {self.false_negative.shape} does not fit {b} rows "
                             f"of rank {self.rank}")
        if self.step_relation is not None and self.step_relation.shape != (c,):
            raise ValueError(f"PairIndexBatch.step_relation: expected ({c},), got {self.step_relation.shape}")

    @property
    def intra(self) -> np.ndarray:
        return self.relation == INTRA_RELATION_ID

    @property
    def world_size(self) -> int:
        return int(self.false_negative.shape[1] // len(self))

    @property
    def step_relations(self) -> np.ndarray:
        """(C,) relation ids of every row of the step, this rank's included."""
        return self.relation if self.step_relation is None else self.step_relation

    def __len__(self) -> int:
        return int(self.src.shape[0])


HUB_FACTOR = 16  # RelatedPairs.outer: walk a neighbour list up to 16x the batch's distinct targets, else search it


class RelatedPairs:
    """Membership test for 'a and b are related under some relation' (undirected), vectorised."""

    def __init__(self, src: np.ndarray, dst: np.ndarray, n_items: int) -> None:
        self.n = int(n_items)
        lo = np.minimum(src, dst).astype(np.int64)
        hi = np.maximum(src, dst).astype(np.int64)
        self.keys = np.unique(lo * self.n + hi)  # sorted
        # adjacency (CSR) of the undirected graph, each list sorted: the neighbours of item a are
        # neighbours[offsets[a]:offsets[a + 1]]
        first, second = self.keys // self.n, self.keys % self.n
        ends = np.concatenate([first, second[first != second]])
        others = np.concatenate([second, first[first != second]])
        self.neighbours = others[np.lexsort((others, ends))]
        self.offsets = np.concatenate([[0], np.cumsum(np.bincount(ends, minlength=self.n))]).astype(np.int64)
        self._slot = np.full(self.n, -1, dtype=np.int64)  # scratch: item -> column, reset after each use
        self._slot_lock = threading.Lock()

    def contains(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Broadcasting test; returns a bool array of the broadcast shape of a and b."""
        a, b = np.broadcast_arrays(np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64))
        keys = np.minimum(a, b) * self.n + np.maximum(a, b)
        pos = np.searchsorted(self.keys, keys)
        pos = np.minimum(pos, len(self.keys) - 1) if len(self.keys) else pos
        return (self.keys[pos] == keys) if len(self.keys) else np.zeros(keys.shape, dtype=bool)

    def outer(self, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """(B,), (C,) item ids -> (B, C) bool: rows[r] and columns[c] are related; equals
        contains(rows[:, None], columns[None, :]).

        Per distinct row item: its neighbour list is walked (each neighbour looked up in a scratch
        item -> column table) when it is shorter than HUB_FACTOR x the distinct columns, else the
        columns are binary-searched in it (a popular item has thousands of neighbours).
        """
        rows, columns = np.asarray(rows, dtype=np.int64), np.asarray(columns, dtype=np.int64)
        targets, column_of = np.unique(columns, return_inverse=True)  # (T,), (C,)
        items, row_of = np.unique(rows, return_inverse=True)  # (U,), (B,)
        starts, stops = self.offsets[items], self.offsets[items + 1]  # (U,) each
        degree = stops - starts
        related = np.zeros((len(items), len(targets)), dtype=bool)  # (U, T)
        walked = np.flatnonzero(degree <= HUB_FACTOR * len(targets))
        counts = degree[walked]
        owner = np.repeat(walked, counts)  # (sum of degrees,) the item whose list each entry is in
        first_entry = np.repeat(starts[walked] - (np.cumsum(counts) - counts), counts)  # list start - output start
        entry = np.arange(len(owner)) + first_entry  # (sum of degrees,) positions in self.neighbours
        with self._slot_lock:
            self._slot[targets] = np.arange(len(targets))
            column = self._slot[self.neighbours[entry]]  # -1: not a column of this batch
            self._slot[targets] = -1
        hit = column >= 0
        related[owner[hit], column[hit]] = True
        for k in np.flatnonzero(degree > HUB_FACTOR * len(targets)):
            neighbours = self.neighbours[starts[k]:stops[k]]
            pos = np.minimum(np.searchsorted(neighbours, targets), len(neighbours) - 1)
            related[k] = neighbours[pos] == targets
        return related[row_of][:, column_of]  # (B, C)


def false_negative_mask(src: np.ndarray, dst: np.ndarray, related: RelatedPairs | None,
                        columns: np.ndarray | None = None, offset: int = 0) -> np.ndarray:
    """(B, C) bool: [r, s] True when target columns[s] is not a valid negative for row r.

    columns (C,): the candidates' targets (default: dst, C = B); row r's positive is column
    offset + r (columns[offset + r] == dst[r]). Invalid: the same item as the positive dst[r], the
    anchor src[r] itself, or (when `related` is given) an item related to src[r] in the training
    graph. The positive is False: it always belongs to the denominator.
    """
    columns = dst if columns is None else columns
    same_as_positive = columns[None, :] == dst[:, None]  # (B, C)
    is_anchor = columns[None, :] == src[:, None]  # (B, C)
    mask = same_as_positive | is_anchor
    if related is not None:
        mask |= related.outer(src, columns)
    rows = np.arange(len(src))
    mask[rows, rows + offset] = False
    return mask


def category_keys(categories: Iterable[str]) -> np.ndarray:
    """(N,) int64 code of each item's category at the path's first two levels ("Baby > Feeding > Cups" ->
    "Baby > Feeding"); a one-level path is its own key."""
    prefix = [" > ".join(str(c).split(" > ")[:2]) for c in categories]
    return np.unique(prefix, return_inverse=True)[1].astype(np.int64)


def grouped_order(keys: np.ndarray, run: int, rng: np.random.Generator, order: np.ndarray) -> np.ndarray:
    """`order` rearranged into runs of `run` positions with equal keys, runs in random order.

    keys: (P,) the group key of each position of `order` (already shuffled). Positions are stably
    sorted by key (so each key's positions keep their random order), cut into runs of `run` within
    each key (a key's last run may be shorter), and the runs are shuffled. (P,) -> (P,), a permutation.
    """
    by_key = np.argsort(keys, kind="stable")  # (P,)
    sorted_keys = keys[by_key]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])  # first position of each key
    rank = np.arange(len(keys)) - np.repeat(starts, np.diff(np.r_[starts, len(keys)]))  # position within its key
    run_id = np.unique(sorted_keys * (len(keys) + 1) + rank // run, return_inverse=True)[1]  # (P,)
    run_order = rng.permutation(int(run_id.max()) + 1 if len(keys) else 0)
    return order[by_key[np.argsort(run_order[run_id], kind="stable")]]


class PairSampler:
    """Deterministic, shardable epochs of relation-pair batches over one split."""

    def __init__(
        self,
        dataset: RelationalDataset,
        batch_size: int,
        config: SamplerConfig,
        seed: int,
        split: str = "train",
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if batch_size < 2:
            raise ValueError(f"batch_size must be >= 2, got {batch_size}")
        if batch_size % world_size or batch_size // world_size < 1:
            raise ConfigError(f"train.batch_size {batch_size} must be a multiple of the {world_size} data-parallel "
                              "workers: it is the global batch of a step, split evenly between them")
        self.batch_size = batch_size
        self.config = config
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.items = dataset.item_indices(split)
        edges = dataset.split_edges(split)
        self.edge_src = edges["src_idx"].to_numpy(dtype=np.int64)
        self.edge_dst = edges["dst_idx"].to_numpy(dtype=np.int64)
        self.edge_rel = edges["relation_id"].to_numpy(dtype=np.int64)
        self.related = RelatedPairs(self.edge_src, self.edge_dst, dataset.n_items) if config.mask_related else None
        self.group_key = category_keys(dataset.items["category"]) if config.category_groups else None  # (N,)
        # An epoch has the same number of pairs with or without inter edges (every edge once plus the
        # intra share), so that ablations and the CLIP baseline get the same compute per epoch.
        f = config.intra_fraction
        graph_pairs = int(round(len(self.edge_src) / (1.0 - f))) if len(self.edge_src) else len(self.items)
        if config.use_inter_edges:
            self.n_inter = len(self.edge_src)
            self.n_intra = graph_pairs - self.n_inter
        else:
            self.n_inter = 0
            self.n_intra = max(graph_pairs, len(self.items))
        n_pairs = self.n_inter + self.n_intra
        drop_last = config.drop_last or world_size > 1  # DDP: every rank runs the same number of steps
        self.steps_per_epoch = n_pairs // batch_size if drop_last else -(-n_pairs // batch_size)
        if self.steps_per_epoch < 1:
            raise ConfigError(
                f"train.batch_size {batch_size}: split {split!r} has {n_pairs} training pairs, fewer than one "
                f"batch; lower batch_size"
            )

    def __len__(self) -> int:
        return self.steps_per_epoch

    def epoch_pairs(self, epoch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All pairs of an epoch, shuffled; identical on every rank."""
        rng = np.random.default_rng([self.seed, epoch])
        if self.n_inter:
            flip = rng.random(self.n_inter) < 0.5  # random direction of each undirected edge
            src = np.where(flip, self.edge_dst, self.edge_src)
            dst = np.where(flip, self.edge_src, self.edge_dst)
            rel = self.edge_rel
        else:
            src = dst = rel = np.empty(0, dtype=np.int64)
        intra = self._intra_items(rng)
        src = np.concatenate([src, intra])
        dst = np.concatenate([dst, intra])
        rel = np.concatenate([rel, np.full(len(intra), INTRA_RELATION_ID, dtype=np.int64)])
        order = rng.permutation(len(src))
        if self.group_key is not None:
            order = grouped_order(self.group_key[dst[order]], self.config.category_groups, rng, order)
        return src[order], dst[order], rel[order]

    def _intra_items(self, rng: np.random.Generator) -> np.ndarray:
        """n_intra anchors for intra pairs: whole passes over the items, then a sample without replacement."""
        if not self.n_intra or not len(self.items):
            return np.empty(0, dtype=np.int64)
        passes, rest = divmod(self.n_intra, len(self.items))
        parts = [rng.permutation(self.items) for _ in range(passes)]
        parts.append(rng.choice(self.items, size=rest, replace=False))
        return np.concatenate(parts)

    def epoch(self, epoch: int, max_steps: int | None = None) -> Iterator[PairIndexBatch]:
        """This rank's rows of every step of `epoch` (every rank yields the same number of batches).

        Step k's batch is pairs k B_global .. (k + 1) B_global - 1 of the epoch, whatever the number of
        ranks; rank r takes its r-th equal slice as rows, with the false-negative mask of those rows
        over all of the step's targets.
        """
        src, dst, rel = self.epoch_pairs(epoch)
        steps = self.steps_per_epoch if max_steps is None else min(self.steps_per_epoch, max_steps)
        b, w = self.batch_size, self.world_size
        local = b // w
        for step in range(steps):
            window = slice(step * b, min(step * b + b, len(src)))  # the step's pairs, all ranks
            d_all, r_all = dst[window], rel[window]
            if w == 1:
                s, d, r = src[window], d_all, r_all
                if len(s) < 2:
                    break
                yield PairIndexBatch(src=s, dst=d, relation=r, false_negative=false_negative_mask(s, d, self.related))
                continue
            rows = slice(step * b + self.rank * local, step * b + (self.rank + 1) * local)
            s, d, r = src[rows], dst[rows], rel[rows]
            mask = false_negative_mask(s, d, self.related, columns=d_all, offset=self.rank * local)
            yield PairIndexBatch(src=s, dst=d, relation=r, false_negative=mask, step_relation=r_all, rank=self.rank)
