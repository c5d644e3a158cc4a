"""Training batches carry their titles and relation texts packed, and the packed step is the padded step."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from rcml_core.loss import LossConfig
from rcml_core.train.batching import PairRelations, make_pair_batch
from rcml_core.runtime.run_config import resolve_run_config
from rcml_core.train.sampler import PairSampler
from rcml_core.runtime.session import build_session


@pytest.fixture(scope="module")
def session(tiny_data: Path):
    return build_session(resolve_run_config("tiny", overrides=[f"data={tiny_data}", "device=cpu"]))


@pytest.mark.parametrize("relation_negatives", [False, True])
def test_a_training_batch_packs_its_titles_and_relations_and_gives_the_padded_loss(session,
                                                                                  relation_negatives) -> None:
    config = session.config
    sampler = PairSampler(session.dataset, 16, config.effective_sampler, seed=0)
    pair_relations = PairRelations(session.dataset) if relation_negatives else None
    batches = (make_pair_batch(session.inputs, b, torch.device("cpu"), relation_negatives, pair_relations)
               for b in sampler.epoch(0, 10))
    # packing is used where it takes fewer slots than the two padded calls (pack_when_smaller): most batches
    batch = next((b for b in batches if b.packed_text is not None), None)
    assert batch is not None, "none of the first 10 batches packed"
    packed = batch.packed_text
    assert packed.num_texts == batch.num_items + batch.num_relations
    assert int(packed.lengths.sum()) == int(batch.item_attention_mask.sum() + batch.relation_attention_mask.sum())
    assert packed.input_ids.numel() <= batch.item_input_ids.numel() + batch.relation_input_ids.numel()  # else padded
    loss_config = LossConfig(relation_negatives=relation_negatives)
    with torch.no_grad():
        packed_loss = session.model.loss(batch, loss_config).total
        padded_loss = session.model.loss(dataclasses.replace(batch, packed_text=None), loss_config).total
    assert float(packed_loss) == pytest.approx(float(padded_loss), abs=1e-5)
