"""`best` holds the weights only (it is evaluated, registered and uploaded on every improvement, never
resumed from); `last` keeps the optimiser and scheduler for exact resume."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rcml_core.errors import RCMLError
from rcml_core.train.checkpoint import TRAINER_FILE, load_checkpoint
from rcml_core.train.loop import evaluate_checkpoint, train
from rcml_core.train.optim import build_optimizer
from rcml_core.train.run_config import resolve_run_config
from rcml_core.train.session import load_checkpoint_session


@pytest.fixture(scope="module")
def run(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("best-run")
    config = resolve_run_config("tiny", overrides=[f"data={tiny_data}", f"out_dir={out}", "batch_size=16", "epochs=1",
                                                   "max_steps_per_epoch=2", "device=cpu"])
    train(config, final_splits=())
    return out / "checkpoints"


def test_best_is_weights_only_and_last_keeps_the_optimiser(run: Path) -> None:
    best = torch.load(run / "best" / TRAINER_FILE, weights_only=True)
    last = torch.load(run / "last" / TRAINER_FILE, weights_only=True)
    assert set(best) == {"rng"} and {"optimizer", "scheduler", "rng"} <= set(last)
    size = lambda folder: sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())  # noqa: E731
    # AdamW's two moments are twice the trainable weights: last is about three times best
    assert size(run / "last") > 2.5 * size(run / "best")


def test_best_evaluates_but_refuses_to_resume_an_optimiser(run: Path) -> None:
    assert "val/hit@5" in evaluate_checkpoint(run / "best", split="val", device="cpu", training_free=False).metrics
    session = load_checkpoint_session(run / "best", device="cpu")
    optimizer = build_optimizer(session.model, session.config.optim)
    with pytest.raises(RCMLError, match="holds weights only .* resume from the run's `last`"):
        load_checkpoint(run / "best", session.model, optimizer)
    load_checkpoint(run / "last", session.model, optimizer)  # the full one resumes
