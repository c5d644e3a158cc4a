"""Checkpoints that resume exactly and load safely.

A checkpoint is a folder:

    model.safetensors   model weights (safetensors: no pickle)
    trainer.pt          optimiser + scheduler state + RNG states, loaded with weights_only=True
                        (a weights-only checkpoint, such as a run's `best`, has RNG states only)
    state.json          epoch, step, best metric and its epoch, history of validation metrics
    config.json         the resolved run config (also written beside the run)
    backbone/           the backbone's config, tokenizer and image settings, without weights (also
                        beside the run): what rebuilds the model around the weights

Writes are atomic: the folder is written under a temporary name beside it, every file and the
folder are fsynced, then the previous checkpoint is moved aside (`.<name>.old`), the new one
renamed into place and the old one deleted. A process killed at any point leaves either the new
checkpoint or the previous one loadable: when it died between the two renames, the checkpoint
is missing under its name and `.<name>.old` holds the previous one, which `recover_checkpoint`
(called by the next save and before every load) puts back. A write that fails (a full disk,
ENOSPC, whichever writer meets it) raises `CheckpointWriteError` naming the folder and the
file system's refusal, and the previous checkpoint is kept.

A run keeps two: `last` (full, what a run resumes from) and `best` (weights only: AdamW's
two moments are twice the model, ~1.2 GB more per checkpoint at ViT-B/32, uploaded with
every improvement; nothing resumes from `best`).
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from rcml_core.errors import RCMLError
from rcml_core.writable import fsync_dir, fsync_file, write_refusal
from rcml_core.runtime.layout import CONFIG_FILE, MODEL_FILE, STATE_FILE, TRAINER_FILE



@dataclass
class TrainState:
    """Progress of a run; saved in every checkpoint."""

    epoch: int = 0  # epochs completed
    step: int = 0  # optimiser steps taken
    best_metric: float = float("-inf")
    best_epoch: int = -1
    bad_epochs: int = 0  # epochs since the best (early stopping)
    history: list[dict[str, float]] = field(default_factory=list)  # per-epoch validation metrics

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["best_metric"] = None if not np.isfinite(self.best_metric) else self.best_metric
        return d

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainState:
        data = dict(data)
        if data.get("best_metric") is None:
            data["best_metric"] = float("-inf")
        return cls(**data)


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if hasattr(model, "module") else model


def rng_state() -> dict[str, Any]:
    return {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state()[1].astype(np.int64).tolist(),
        "numpy_pos": int(np.random.get_state()[2]),
        "python": [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(("MT19937", np.asarray(state["numpy"], dtype=np.uint32), state["numpy_pos"], 0, 0.0))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


class CheckpointWriteError(RCMLError):
    """A checkpoint could not be written (full disk, unwritable folder); the previous one is kept."""


def _fsync_tree(folder: Path) -> None:
    """Persist every file under `folder` and the folder entries themselves before the rename publishes them."""
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            fsync_file(path)
    for sub in [p for p in folder.rglob("*") if p.is_dir()] + [folder, folder.parent]:
        fsync_dir(sub)  # a no-op where a file system cannot fsync a folder


def recover_checkpoint(directory: Path | str) -> bool:
    """Put the previous checkpoint back when a write died between its two renames; whether one is there now."""
    directory = Path(directory)
    old = directory.with_name(f".{directory.name}.old")
    if not directory.exists() and old.is_dir():
        old.rename(directory)
    return directory.is_dir()


def save_checkpoint(
    directory: Path | str,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    scheduler: Any | None,
    state: TrainState,
    config: dict[str, Any],
    write_extra: Callable[[Path], None] | None = None,
) -> Path:
    """Write a checkpoint folder atomically; returns its path.

    write_extra(tmp_dir) may add files (e.g. the tokenizer) before the folder is renamed into place.
    """
    directory = Path(directory)
    recover_checkpoint(directory)
    tmp = directory.with_name(f".{directory.name}.tmp")
    try:
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        _write_files(tmp, model, optimizer, scheduler, state, config)
        if write_extra is not None:
            write_extra(tmp)
        _fsync_tree(tmp)
    except Exception as exc:
        refusal = write_refusal(exc)
        shutil.rmtree(tmp, ignore_errors=True)
        if refusal is None:
            raise  # not the file system: a bug stays a bug
        raise CheckpointWriteError(f"cannot write checkpoint {directory} (in {tmp}): "
                                   f"{refusal}; the previous checkpoint is kept") from exc
    if directory.exists():
        old = directory.with_name(f".{directory.name}.old")
        if old.exists():
            shutil.rmtree(old)
        directory.rename(old)
        tmp.rename(directory)
        shutil.rmtree(old)
    else:
        tmp.rename(directory)
    return directory


def _write_files(tmp: Path, model: nn.Module, optimizer: torch.optim.Optimizer | None, scheduler: Any | None,
                 state: TrainState, config: dict[str, Any]) -> None:
    weights = {k: v.detach().cpu().contiguous() for k, v in _unwrap(model).state_dict().items()}
    save_file(weights, str(tmp / MODEL_FILE))
    trainer = {"rng": rng_state()}
    if optimizer is not None:
        trainer["optimizer"] = optimizer.state_dict()
    if scheduler is not None:
        trainer["scheduler"] = scheduler.state_dict()
    with open(tmp / TRAINER_FILE, "wb") as f:  # through a Python file: its OSError is the context of torch's error
        torch.save(trainer, f)
    (tmp / STATE_FILE).write_text(json.dumps(state.to_json(), indent=2))
    (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True))


def read_checkpoint_config(directory: Path | str) -> dict[str, Any]:
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise RCMLError(f"{directory} is not a checkpoint: {CONFIG_FILE} is missing")
    return json.loads(path.read_text())


def load_model_weights(directory: Path | str, model: nn.Module) -> None:
    recover_checkpoint(directory)
    path = Path(directory) / MODEL_FILE
    if not path.is_file():
        raise RCMLError(f"{directory} is not a checkpoint: {MODEL_FILE} is missing")
    try:
        missing, unexpected = _unwrap(model).load_state_dict(load_file(str(path)), strict=False)
    except RuntimeError as exc:  # shape mismatches
        raise RCMLError(f"checkpoint {directory} does not match the model: {str(exc).splitlines()[-1].strip()}") from None
    if missing or unexpected:
        raise RCMLError(
            f"checkpoint {directory} does not match the model: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )


def load_checkpoint(
    directory: Path | str,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    restore_rng: bool = True,
) -> TrainState:
    """Restore weights (and optimiser, scheduler, RNG when given); returns the TrainState."""
    directory = Path(directory)
    load_model_weights(directory, model)
    trainer = torch.load(directory / TRAINER_FILE, map_location="cpu", weights_only=True)
    if optimizer is not None and "optimizer" not in trainer:
        raise RCMLError(f"checkpoint {directory} holds weights only (no optimiser state): resume from the run's "
                        "`last` checkpoint, or load its weights with load_model_weights")
    if optimizer is not None:
        optimizer.load_state_dict(trainer["optimizer"])
    if scheduler is not None and "scheduler" in trainer:
        scheduler.load_state_dict(trainer["scheduler"])
    if restore_rng:
        set_rng_state(trainer["rng"])
    return TrainState.from_json(json.loads((directory / STATE_FILE).read_text()))
