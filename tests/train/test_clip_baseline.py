"""The CLIP baseline trains and is evaluated on one embedding: its relation attention stays frozen at W_V = W_o = I,
so the training-time z of its items is the backbone's own normalize(h) that every evaluation task reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from rcml_core.data.schema import INTRA_RELATION_ID
from rcml_core.eval.embedders import ConcatEmbedder, PlainEmbedder, encode_item_pool, relation_embeddings
from rcml_core.model.rcml import RCMLModel
from rcml_core.train.loop import train
from rcml_core.train.run_config import resolve_run_config
from rcml_core.train.session import build_session, load_checkpoint_session

ATTENTION = ("attention.w_q", "attention.w_k", "attention.w_v", "attention.w_o")


def _training_time_embedding(model: RCMLModel, session, items: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """z of each item on the intra rows the baseline trains on (beta = 1, prob mode, relation 0)."""
    with torch.no_grad():
        feats = encode_item_pool(model, session.inputs, items, 64, session.device)
        relations = relation_embeddings(model, session.inputs, session.device)
        rows = torch.arange(len(items))
        out = model.condition(feats, relations, rows, torch.full_like(rows, INTRA_RELATION_ID),
                              torch.ones_like(rows, dtype=torch.bool))
    return out.text, out.image


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().max())


@pytest.fixture(scope="module")
def trained_clip(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("clip-run")
    overrides = [f"data={tiny_data}", f"out_dir={out}", "method=clip", "epochs=1", "batch_size=16",
                 "max_steps_per_epoch=4", "lr=1e-2", "optim.warmup_fraction=0"]
    initial = build_session(resolve_run_config("tiny", overrides=overrides)).model
    train(resolve_run_config("tiny", overrides=overrides), final_splits=())
    return initial, load_checkpoint_session(out / "checkpoints" / "last", device="cpu")


def test_the_clip_baseline_trains_its_backbone_but_not_the_relation_attention(trained_clip) -> None:
    initial, session = trained_clip
    before, after = dict(initial.named_parameters()), dict(session.model.named_parameters())
    for name in ATTENTION:
        assert torch.equal(before[name], after[name]), f"{name} moved"
        assert not after[name].requires_grad
    assert torch.equal(after["attention.w_v"], torch.eye(after["attention.w_v"].shape[0]))
    moved = [n for n in before if not n.startswith("attention.") and not torch.equal(before[n], after[n])]
    assert any(n.startswith("clip.text_model") for n in moved) and any(n.startswith("clip.vision_model") for n in moved)


def test_the_trained_embedding_is_the_one_every_evaluation_task_reads(trained_clip) -> None:
    _, session = trained_clip
    model = session.model.eval()
    items = session.dataset.item_indices("val")
    text, image = _training_time_embedding(model, session, items)
    plain = PlainEmbedder(model, session.inputs, items, 64, session.device)  # "CLIP fine-tuned", validity features
    concat = ConcatEmbedder(model, session.inputs, items, 64, session.device)  # the paper's baseline protocol
    p_text, p_image = plain.embed(items, INTRA_RELATION_ID)
    assert _max_diff(text, p_text) < 1e-6 and _max_diff(image, p_image) < 1e-6
    c_text, c_image = concat.embed(items, INTRA_RELATION_ID)
    assert _max_diff(text, c_text) < 1e-6 and _max_diff(image, c_image) < 1e-6
    inter = int(session.dataset.inter_relation_ids[0])
    assert _max_diff(image, concat.embed(items, inter)[1]) < 1e-6  # concatenation changes the text only
    with torch.no_grad():
        clip = model.clip_embeddings(encode_item_pool(model, session.inputs, items, 64, session.device))
    assert _max_diff(text, clip.text) < 1e-6 and _max_diff(image, clip.image) < 1e-6


def test_a_drifted_value_map_would_be_caught(trained_clip) -> None:
    # What the audit found: with W_V, W_o trainable the trained z is normalize(h W_V^T W_o), not normalize(h).
    _, session = trained_clip
    model = session.model.eval()
    items = session.dataset.item_indices("val")
    with torch.no_grad():
        model.attention.w_v.add_(0.05 * torch.randn_like(model.attention.w_v))
    try:
        text, _ = _training_time_embedding(model, session, items)
        p_text, _ = PlainEmbedder(model, session.inputs, items, 64, session.device).embed(items, INTRA_RELATION_ID)
        assert _max_diff(text, p_text) > 1e-3
    finally:
        with torch.no_grad():
            model.attention.w_v.copy_(torch.eye(model.attention.w_v.shape[0]))


def test_only_the_baseline_freezes_the_attention() -> None:
    assert resolve_run_config("tiny", overrides=["method=clip"]).effective_model.freeze_attention
    assert resolve_run_config("tiny", overrides=["method=clip_plain"]).effective_model.freeze_attention
    assert not resolve_run_config("tiny").effective_model.freeze_attention
