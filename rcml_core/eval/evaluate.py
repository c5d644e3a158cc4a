"""Evaluate a model on one split: the paper's three tasks under the model's protocol, with intervals.

`evaluate_split` scores a model in memory (per-epoch validation reads its flat `evaluate`);
`evaluate_run` adds what a run's final evaluation reports (reference scorers, the training-free
score on the run's untrained backbone); `evaluate_checkpoint` does that for a saved checkpoint.

Protocols (the `method` of the run, docs/evaluation.md):
- "rcml": items conditioned on each query's relation (RCMLEmbedder);
- "clip": the paper's CLIP baseline, the relation text appended to each title (ConcatEmbedder); its own
  embeddings with the relation ignored are reported beside it under `plain_` (PlainEmbedder);
- "clip_plain": the same baseline evaluated (and so selected) on its own embeddings; the concatenated
  protocol is reported beside it under `concat_`.

Every Hit@k / MRR comes with its 95 % cluster-bootstrap interval over distinct query pairs and the
query / pair counts (rcml_core.eval.results); the per-query outcomes travel in the `EvalResult`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from rcml_core.config import check_choice, check_range
from rcml_core.data.format.schema import RelationalDataset, RetrievalSet
from rcml_core.eval import keys
from rcml_core.eval.embedders import ConcatEmbedder, Embedder, PlainEmbedder, RCMLEmbedder
from rcml_core.eval.reference import reference_result
from rcml_core.eval.results import EvalResult
from rcml_core.eval.tasks import (
    relation_type_report,
    relation_type_scores,
    retrieval_outcomes,
    retrieval_scores,
    validity_report,
)
from rcml_core.eval.training_free import training_free_result, untrained_backbone
from rcml_core.model.rcml import RCMLModel
from rcml_core.runtime.device import exact_fp32
from rcml_core.runtime.inputs import ModelInputs
from rcml_core.runtime.layout import BACKBONE_DIR
from rcml_core.runtime.session import RunSession, load_checkpoint_session

TASKS: tuple[str, ...] = ("retrieval", "relation_type", "validity")
PROTOCOLS: tuple[str, ...] = ("rcml", "clip", "clip_plain")


def first_queries(queries: RetrievalSet, n: int | None) -> RetrievalSet:
    """The fixed set's first n queries (the set is already a seeded sample)."""
    if n is None or n >= len(queries):
        return queries
    return replace(queries, src=queries.src[:n], relation=queries.relation[:n], candidates=queries.candidates[:n])


@dataclass(frozen=True)
class EvalOptions:
    tasks: tuple[str, ...] = TASKS
    batch_size: int = 256  # items per backbone call
    max_queries: int | None = None  # the fixed retrieval set's first N (per-epoch validation)
    probe_c: float = 1.0  # inverse L2 strength of the validity probe
    seed: int = 0  # the validity probe's seed
    reference: bool = False  # also the model-free reference scorers (rcml_core.eval.reference)

    def __post_init__(self) -> None:
        for task in self.tasks:
            check_choice("eval.tasks", task, TASKS)
        check_range("eval.batch_size", self.batch_size, 1, integer=True)
        if self.max_queries is not None:
            check_range("eval.max_queries", self.max_queries, 1, integer=True)
        check_range("eval.probe_c", self.probe_c, 0, low_open=True)


@torch.no_grad()
def evaluate_split(model: RCMLModel, inputs: ModelInputs, dataset: RelationalDataset, split: str, method: str,
                   device: torch.device, options: EvalOptions = EvalOptions()) -> EvalResult:
    """Metrics (keyed `{split}/...`, rcml_core.eval.keys) and per-query outcomes of `model` on `split`."""
    if method not in PROTOCOLS:
        raise ValueError(f"unknown method {method!r}; known: {PROTOCOLS}")
    was_training = model.training
    model.eval()
    items = dataset.item_indices(split)
    bs = options.batch_size
    if method == "rcml":
        main: Embedder = RCMLEmbedder(model, inputs, items, bs, device)
        relational, plain, side = main, None, {}
    else:
        concat = ConcatEmbedder(model, inputs, items, bs, device)
        plain = concat.plain_view()  # the same item pass: CLIP's own embeddings
        main, side = (concat, {keys.PLAIN: plain}) if method == "clip" else (plain, {keys.CONCAT: concat})
        relational = concat  # relation-type prediction needs the relation: the concatenated protocol
    result = EvalResult(split)
    queries = first_queries(dataset.retrieval[split], options.max_queries) if split in dataset.retrieval else None
    if "retrieval" in options.tasks and queries is not None:
        for prefix, embedder in {keys.MODEL: main, **side}.items():
            outcomes = retrieval_outcomes(retrieval_scores(embedder, queries), queries, dataset.n_items)
            result = result.merged(EvalResult(split, outcomes.report(split, prefix), {prefix: outcomes}))
    metrics = dict(result.metrics)
    prefix = f"{split}/"
    if "relation_type" in options.tasks and split in dataset.relation_type:
        pairs = dataset.relation_type[split]
        inter = dataset.inter_relation_ids
        scores = relation_type_scores(relational, pairs, inter)
        metrics.update(relation_type_report(scores, pairs.true[:, inter], prefix))
    if "validity" in options.tasks and split in dataset.validity and "train" in dataset.validity:
        probe_cls = RCMLEmbedder if method == "rcml" else PlainEmbedder
        train_set = dataset.validity["train"]
        train_items = np.unique(np.concatenate([train_set.src, train_set.dst]))
        train_embedder = probe_cls(model, inputs, train_items, bs, device)
        eval_embedder = main if plain is None else plain
        metrics.update(validity_report(train_embedder, train_set, eval_embedder, dataset.validity[split], prefix,
                                       options.probe_c, options.seed))
    result = EvalResult(split, metrics, result.outcomes)
    if options.reference and queries is not None:
        result = result.merged(reference_result(dataset, queries))
    model.train(was_training)
    return result


def evaluate_run(session: RunSession, split: str, backbone_dir: Path, training_free: bool = True,
                 tasks: tuple[str, ...] = TASKS) -> EvalResult:
    """`tasks` of the run's protocol on `split` with intervals, the reference scorers, and (unless
    training_free=False) the training-free score on the run's untrained backbone (rebuilt from `backbone_dir`)."""
    config = session.config
    options = EvalOptions(tasks=tasks, batch_size=config.eval.batch_size, probe_c=config.eval.validity_probe_c,
                          seed=config.seed, reference=True)
    result = evaluate_split(session.model, session.inputs, session.dataset, split, config.method, session.device,
                            options)
    if training_free and split in session.dataset.retrieval:
        backbone = untrained_backbone(config.effective_backbone, backbone_dir)
        result = result.merged(training_free_result(backbone, session.dataset, session.dataset.retrieval[split],
                                                    session.device, config.eval.batch_size, session.inputs))
    return result


def evaluate_checkpoint(checkpoint: Path | str, split: str = "test", data: Path | str | None = None,
                        device: str | torch.device = "auto", training_free: bool = True) -> EvalResult:
    """Every metric of a saved checkpoint on one split (its own method's protocol), with per-query outcomes:
    `evaluate_run` on the checkpoint's session (`.metrics` is the flat dict)."""
    session = load_checkpoint_session(checkpoint, data=data, device=device)
    with exact_fp32(session.device):
        return evaluate_run(session, split, Path(checkpoint) / BACKBONE_DIR, training_free=training_free)
