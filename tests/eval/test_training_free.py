"""The training-free score runs on the backbone a run started from, never on a trained checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rcml_core.model.backbone import BackboneConfig, build_backbone, load_backbone, save_backbone
from rcml_core.train.loop import evaluate_checkpoint, train
from rcml_core.train.run_config import resolve_run_config
from rcml_core.train.session import BACKBONE_DIR, build_session
from rcml_core.eval.training_free import training_free_result, untrained_backbone


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_the_saved_backbone_folder_rebuilds_the_runs_initial_weights_and_tokenizer(tiny_data: Path, tmp_path: Path) -> None:
    config = resolve_run_config("tiny", overrides=[f"data={tiny_data}", "seed=1", "backbone.init_seed=3"])
    initial = build_session(config).backbone
    save_backbone(initial, tmp_path / BACKBONE_DIR, weights=False)  # what every run and checkpoint holds
    state = torch.get_rng_state()
    rebuilt = untrained_backbone(config.effective_backbone, tmp_path / BACKBONE_DIR)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's random stream is left alone
    assert _same_weights(rebuilt.clip, initial.clip)
    text = ["Feeding product number 3", "words never seen before"]
    assert rebuilt.tokenizer(text)["input_ids"] == initial.tokenizer(text)["input_ids"]
    # The folder alone holds no weights: loading it gives whatever the RNG gives at that moment.
    torch.manual_seed(12345)
    assert not _same_weights(load_backbone(tmp_path / BACKBONE_DIR).clip, initial.clip)


def test_a_pretrained_backbones_untrained_weights_are_the_pretrained_ones(tmp_path: Path) -> None:
    tiny = build_backbone(BackboneConfig(), corpus=["a tiny corpus of words", "for a pretend hub model"])
    save_backbone(tiny, tmp_path / "hub", weights=True)  # stands in for openai/clip-vit-base-patch32
    config = BackboneConfig(preset="clip-vit-b32", name_or_path=str(tmp_path / "hub"))
    assert _same_weights(untrained_backbone(config).clip, tiny.clip)


def test_the_free_score_of_a_trained_run_is_that_of_its_untrained_backbone(tiny_data: Path, tmp_path: Path) -> None:
    overrides = [f"data={tiny_data}", f"out_dir={tmp_path / 'run'}", "epochs=1", "batch_size=16",
                 "max_steps_per_epoch=3", "lr=1e-2"]
    config = resolve_run_config("tiny", overrides=overrides)
    fresh = build_session(config)  # the weights the run starts from
    result = train(config, final_splits=("val",))
    queries = fresh.dataset.retrieval["val"]
    want = training_free_result(fresh.backbone, fresh.dataset, queries, fresh.device).metrics
    last = result.run_dir / "checkpoints" / "last"  # trained for 3 steps (on 4-way queries epoch 0 is "best")
    trained = training_free_result(load_backbone_of(last), fresh.dataset, queries, fresh.device)
    got = result.final["val"]
    free = {k: v for k, v in got.items() if k.startswith("val/free_")}
    assert free == pytest.approx(want)
    assert free["val/free_n_pairs"] > 0 and "val/free_hit@5_ci_lo" in free
    assert trained.metrics != pytest.approx(want)  # the trained checkpoint scores differently
    checkpoint = evaluate_checkpoint(last, split="val").metrics
    assert {k: v for k, v in checkpoint.items() if k.startswith("val/free_")} == pytest.approx(want)


def load_backbone_of(checkpoint: Path):
    from rcml_core.train.session import load_checkpoint_session

    return load_checkpoint_session(checkpoint, device="cpu").backbone
