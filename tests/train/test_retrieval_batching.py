"""Retrieval conditions every (item, relation) pair it needs in one batched call, with the same scores
as conditioning item by item under each relation."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from rcml_core.data.format.io import load_dataset
from rcml_core.eval.embedders import ConcatEmbedder, PlainEmbedder, RCMLEmbedder
from rcml_core.eval.similarity import candidate_scores, relation_projection_scores
from rcml_core.eval.tasks import retrieval_scores
from rcml_core.runtime.run_config import resolve_run_config
from rcml_core.runtime.session import build_session


@pytest.fixture(scope="module")
def session(tiny_data: Path):
    return build_session(resolve_run_config("tiny", overrides=[f"data={tiny_data}", "device=cpu"]))


def _queries_over_every_relation(tiny_data: Path):
    ds = load_dataset(tiny_data)
    base = ds.retrieval["val"]
    relations = np.concatenate([[0], ds.inter_relation_ids])  # the intra relation too
    return replace(base, relation=relations[np.arange(len(base)) % len(relations)])


def _per_query_reference(embedder, queries, training_free: bool) -> dict[str, np.ndarray]:
    out: dict[str, list[np.ndarray]] = {}
    for q in range(len(queries.src)):
        items = np.concatenate([[queries.src[q]], queries.candidates[q]])
        pool, pos = np.unique(items, return_inverse=True)
        text, image = embedder.embed(pool, int(queries.relation[q]))
        a_t, a_i = text[pos[:1]], image[pos[:1]]  # (1, d)
        c_t, c_i = text[pos[1:]][None], image[pos[1:]][None]  # (1, C, d)
        if training_free:
            r = embedder.relation_vector(int(queries.relation[q]))[None]
            scores = relation_projection_scores(a_t, a_i, c_t, c_i, r)
        else:
            scores = candidate_scores(a_t, a_i, c_t, c_i)
        for s, v in scores.items():
            out.setdefault(s, []).append(v.double().numpy())
    return {s: np.concatenate(v) for s, v in out.items()}


@pytest.mark.parametrize("kind", ["rcml", "concat", "plain", "training_free"])
def test_batched_retrieval_scores_equal_conditioning_each_query_on_its_own(session, tiny_data, kind) -> None:
    queries = _queries_over_every_relation(tiny_data)
    assert len(np.unique(queries.relation)) >= 3
    items = np.unique(np.concatenate([queries.src, queries.candidates.ravel()]))
    cls = {"rcml": RCMLEmbedder, "concat": ConcatEmbedder}.get(kind, PlainEmbedder)
    with torch.no_grad():
        embedder = cls(session.model.eval(), session.inputs, items, 16, session.device)
        got = retrieval_scores(embedder, queries, training_free=kind == "training_free")
        want = _per_query_reference(embedder, queries, training_free=kind == "training_free")
    assert set(got) == set(want)
    for s in want:
        assert got[s].shape == queries.candidates.shape
        np.testing.assert_allclose(got[s], want[s], atol=1e-5, err_msg=s)


def test_rcml_embed_pairs_conditions_each_item_on_its_own_relation(session, tiny_data) -> None:
    queries = _queries_over_every_relation(tiny_data)
    items = np.unique(queries.src)[:6]
    relations = np.array([0, 1, 2, 1, 0, 2])[: len(items)]
    with torch.no_grad():
        embedder = RCMLEmbedder(session.model.eval(), session.inputs, items, 4, session.device)
        text, image = embedder.embed_pairs(items, relations)
        for p, (item, rel) in enumerate(zip(items, relations)):
            t, i = embedder.embed(np.array([item]), int(rel))
            assert torch.allclose(text[p], t[0], atol=1e-6) and torch.allclose(image[p], i[0], atol=1e-6)
    assert not torch.allclose(text[1], embedder.embed(items[1:2], 2)[0][0])  # the relation matters

