"""Serving a checkpoint: encode items once, condition them on relation texts never seen in training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from rcml_core.data.format.io import load_dataset
from rcml_core.serve import RCMLEncoder, RelationIndex
from rcml_core.train.loop import train
from rcml_core.runtime.run_config import resolve_run_config


@pytest.fixture(scope="module")
def checkpoint(tiny_data: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("serve-run")
    config = resolve_run_config("tiny", overrides=[f"data={tiny_data}", "epochs=1", "batch_size=16",
                                                    "max_steps_per_epoch=2", f"out_dir={out}", "device=cpu"])
    return train(config, resume=False).best_checkpoint


def test_an_encoder_loads_from_the_checkpoint_alone_and_conditions_on_any_relation(checkpoint, tiny_data) -> None:
    ds = load_dataset(tiny_data)
    encoder = RCMLEncoder.from_checkpoint(checkpoint, device="cpu")
    titles = ds.items["text"].tolist()[:5]
    images = [ds.image_path(i) for i in range(5)]
    items = encoder.encode_items(titles, images, batch_size=2)  # chunks padded to a common length
    z = encoder.condition(items, ["Bought by parents of twins", "A relation never seen in training"])
    assert z.text.shape == (2, 5, encoder.model.backbone.width) and z.image.shape == z.text.shape
    assert torch.allclose(z.text.norm(dim=-1), torch.ones(2, 5), atol=1e-5)
    assert not torch.allclose(z.text[0], z.text[1])  # the relation changes the embedding


def test_the_encoder_matches_the_training_time_conditioning(checkpoint, tiny_data) -> None:
    """The serving path and the evaluation path give the same embeddings for a dataset relation."""
    from rcml_core.eval.embedders import RCMLEmbedder
    from rcml_core.runtime.session import load_checkpoint_session

    session = load_checkpoint_session(checkpoint, device="cpu")
    index = np.arange(4)
    relation = 1
    expected_text, expected_image = RCMLEmbedder(session.model, session.inputs, index, 8, session.device).embed(
        index, relation)
    encoder = RCMLEncoder.from_checkpoint(checkpoint, device="cpu")
    ds = session.dataset
    items = encoder.encode_items(ds.items["text"].tolist()[:4], [ds.image_path(i) for i in index])
    z = encoder.condition(items, [session.inputs.relation_texts[relation]])
    assert torch.allclose(z.text[0], expected_text, atol=1e-5)
    assert torch.allclose(z.image[0], expected_image, atol=1e-5)


def test_a_relation_index_answers_top_k_queries_without_the_item_itself(checkpoint, tiny_data) -> None:
    ds = load_dataset(tiny_data)
    encoder = RCMLEncoder.from_checkpoint(checkpoint, device="cpu")
    n = 12
    index = RelationIndex(encoder, ds.items["text"].tolist()[:n], [ds.image_path(i) for i in range(n)])
    ids, scores = index.query(3, "Bought together for a newborn", k=5)
    assert len(ids) == 5 and 3 not in ids and np.all(np.diff(scores) <= 1e-6)
