"""Evaluate a model on one split: the paper's three tasks, RCML or baseline protocol."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch

from rcml_core.data.schema import RelationalDataset, RetrievalSet
from rcml_core.eval.embedders import ConcatEmbedder, PlainEmbedder, RCMLEmbedder
from rcml_core.eval.tasks import (
    relation_type_report,
    relation_type_scores,
    retrieval_report,
    retrieval_scores,
    validity_report,
)
from rcml_core.model.rcml import RCMLModel
from rcml_core.train.inputs import ModelInputs

TASKS: tuple[str, ...] = ("retrieval", "relation_type", "validity")


def first_queries(queries: RetrievalSet, n: int | None) -> RetrievalSet:
    """The fixed set's first n queries (the set is already a seeded sample)."""
    if n is None or n >= len(queries):
        return queries
    return replace(queries, src=queries.src[:n], relation=queries.relation[:n], candidates=queries.candidates[:n])


@torch.no_grad()
def evaluate(
    model: RCMLModel,
    inputs: ModelInputs,
    dataset: RelationalDataset,
    split: str,
    method: str,
    device: torch.device,
    tasks: Sequence[str] = TASKS,
    batch_size: int = 256,
    max_queries: int | None = None,
    probe_c: float = 1.0,
    seed: int = 0,
    training_free: bool = False,
) -> dict[str, float]:
    """Metrics of `model` on `split`, keyed `{split}/...`.

    method "rcml": items conditioned on each relation (RCML protocol).
    method "clip": the baseline protocol (title + relation text through the text tower).
    training_free: also the training-free score (zA.zr)(zB.zr) on the plain embeddings, keyed `{split}/free_...`.
    """
    unknown = set(tasks) - set(TASKS)
    if unknown:
        raise ValueError(f"unknown evaluation tasks {sorted(unknown)}; known: {TASKS}")
    was_training = model.training
    model.eval()
    prefix = f"{split}/"
    embedder_cls = RCMLEmbedder if method == "rcml" else ConcatEmbedder
    items = dataset.item_indices(split)
    embedder = embedder_cls(model, inputs, items, batch_size, device)
    metrics: dict[str, float] = {}
    if "retrieval" in tasks:
        queries = first_queries(dataset.retrieval[split], max_queries)
        metrics.update(retrieval_report(retrieval_scores(embedder, queries), prefix))
    if "relation_type" in tasks and split in dataset.relation_type:
        pairs = dataset.relation_type[split]
        inter = dataset.inter_relation_ids
        scores = relation_type_scores(embedder, pairs, inter)
        metrics.update(relation_type_report(scores, pairs.true[:, inter], prefix))
    if "validity" in tasks and split in dataset.validity and "train" in dataset.validity:
        probe_cls = RCMLEmbedder if method == "rcml" else PlainEmbedder
        train_set = dataset.validity["train"]
        train_items = np.unique(np.concatenate([train_set.src, train_set.dst]))
        train_embedder = probe_cls(model, inputs, train_items, batch_size, device)
        eval_embedder = embedder if method == "rcml" else PlainEmbedder(model, inputs, items, batch_size, device)
        metrics.update(validity_report(train_embedder, train_set, eval_embedder, dataset.validity[split], prefix, probe_c, seed))
    if training_free:
        plain = PlainEmbedder(model, inputs, items, batch_size, device)
        queries = first_queries(dataset.retrieval[split], max_queries)
        metrics.update(retrieval_report(retrieval_scores(plain, queries, training_free=True), f"{prefix}free_"))
    model.train(was_training)
    return metrics
