"""The training loop: selection from epoch 0, exact resume, divergence, config errors."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rcml_core.errors import ConfigError, DivergedError
from rcml_core.model.rcml import RCMLModel
from rcml_core.train.loop import train
from rcml_core.runtime.run_config import resolve_run_config
from rcml_core.train.tracker import NoopTracker


class RecordingTracker(NoopTracker):
    """What the loop logs, kept in memory: (metrics, step) per log_metrics call, and the tags."""

    def __init__(self) -> None:
        self.logged: list[tuple[dict, int]] = []
        self.tags: dict[str, str] = {}

    def log_metrics(self, metrics, step: int) -> None:
        self.logged.append((dict(metrics), step))

    def set_tags(self, tags) -> None:
        self.tags.update(tags)


def _config(data: Path, out: Path, *extra: str):
    # device=cpu: the exact-resume test needs bit-identical steps, which CUDA's nondeterministic
    # index_select / gather backward (and bf16 towers) do not give; on a GPU host "auto" would pick CUDA
    return resolve_run_config("tiny", overrides=[f"data={data}", f"out_dir={out}", "batch_size=16", "epochs=2",
                                                 "train.log_every=1", "device=cpu", *extra])


def test_run_validates_at_epoch_0_and_records_every_epoch(tiny_data: Path, tmp_path: Path) -> None:
    tracker = RecordingTracker()
    seen = []
    result = train(_config(tiny_data, tmp_path / "run"), tracker=tracker,
                   on_epoch_end=lambda e, m, c: seen.append((e, m["val/hit@5"], c is not None)))
    assert [e for e, _, _ in seen] == [0, 1, 2] and all(c for _, _, c in seen)
    report = json.loads((tmp_path / "run/metrics.json").read_text())
    assert [round(h["epoch"]) for h in report["epochs"]] == [0, 1, 2]
    assert report["best_epoch"] == result.best_epoch
    best = max(report["epochs"], key=lambda h: h["val/hit@5"])  # first maximum wins (strict improvement)
    assert result.best_epoch == round(best["epoch"])
    assert set(report["final"]["val"]) >= {"val/hit@5", "val/mrr_tt", "val/rtype_top3_avg", "val/validity_acc",
                                           "val/free_hit@5"}
    epoch_steps = [step for metrics, step in tracker.logged if "val/hit@5" in metrics]
    assert epoch_steps == [0, 1, 2]
    assert (tmp_path / "run/checkpoints/best/backbone").is_dir()


def test_resume_after_interruption_equals_an_uninterrupted_run(tiny_data: Path, tmp_path: Path) -> None:
    straight = train(_config(tiny_data, tmp_path / "straight"))

    class Interrupt(Exception):
        pass

    def stop_after_epoch_1(epoch: int, metrics: dict, checkpoint) -> None:
        if epoch == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        train(_config(tiny_data, tmp_path / "resumed"), on_epoch_end=stop_after_epoch_1)
    resumed = train(_config(tiny_data, tmp_path / "resumed"))

    a = load_file(str(straight.run_dir / "checkpoints/last/model.safetensors"))
    b = load_file(str(resumed.run_dir / "checkpoints/last/model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    strip = lambda h: {k: v for k, v in h.items() if not k.startswith("time/")}  # noqa: E731
    assert [strip(h) for h in straight.history] == [strip(h) for h in resumed.history]


def test_resuming_with_a_different_model_config_is_refused(tiny_data: Path, tmp_path: Path) -> None:
    train(_config(tiny_data, tmp_path / "run", "epochs=1"))
    with pytest.raises(ConfigError, match=r"cannot resume .* different \['model'\]"):
        train(_config(tiny_data, tmp_path / "run", "epochs=2", "beta=0.2"))


def test_nan_loss_stops_with_diverged_at_step_and_a_failed_status(tiny_data: Path, tmp_path: Path, monkeypatch) -> None:
    real_loss = RCMLModel.loss
    calls = {"n": 0}

    def loss_going_nan(self, batch, config):
        out = real_loss(self, batch, config)
        calls["n"] += 1
        if calls["n"] == 3:
            return dataclasses.replace(out, total=out.total * float("nan"))
        return out

    monkeypatch.setattr(RCMLModel, "loss", loss_going_nan)
    tracker = RecordingTracker()
    with pytest.raises(DivergedError, match="diverged at step 2"):
        train(_config(tiny_data, tmp_path / "run"), tracker=tracker)
    assert tracker.tags["status"] == "failed" and "diverged at step 2" in tracker.tags["failure"]
    assert "diverged at step 2" in (tmp_path / "run/FAILED").read_text()


def test_invalid_config_fails_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"model.beta must be in \[0, 1\]"):
        resolve_run_config("tiny", overrides=["beta=1.5", f"out_dir={tmp_path / 'x'}"])
    with pytest.raises(ConfigError, match=r"unknown key"):
        resolve_run_config("tiny", overrides=["betta=0.5"])
    assert not (tmp_path / "x").exists()


def test_the_run_seed_changes_the_random_initialisation(tmp_path: Path) -> None:
    a = resolve_run_config("tiny", overrides=["seed=0"])
    b = resolve_run_config("tiny", overrides=["seed=3"])
    assert a.effective_backbone.init_seed != b.effective_backbone.init_seed
    assert a.effective_model.init_seed != b.effective_model.init_seed


def test_the_exact_resume_test_trains_on_the_cpu_even_where_cuda_is_present(tiny_data: Path, tmp_path: Path,
                                                                             monkeypatch) -> None:
    from rcml_core.runtime.device import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a GPU host, as far as "auto" can tell
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("auto").type == "cuda"
    assert resolve_device(_config(tiny_data, tmp_path).train.device).type == "cpu"
