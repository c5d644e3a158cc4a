"""The RCML training loop: usable alone (`rcml train`) and inside Ray Train (cluster/).

Per epoch: relation-pair batches -> RCML similarities -> loss (eq. 1-2) -> AdamW step
with cosine schedule and gradient clipping; then validation on the fixed val queries.
Validation also runs before the first step (epoch 0), and the best checkpoint by
`val/hit@5` (AVG similarity) is kept, epoch 0 included. Early stopping on
the same metric. A checkpoint per epoch allows exact resume.

Distributed: the caller wraps the model (e.g. DDP) through `wrap_model`; `batch_size` is
the global batch of a step, each rank holds an equal slice of its rows and scores them
against the whole step's candidates, so the ranks train one process's objective
(rcml_core.distributed); rank 0 validates and checkpoints, and the metrics are broadcast
so every rank takes the same early-stopping decision.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as torch_dist
from torch import nn

from rcml_core.errors import ConfigError, DivergedError
from rcml_core.eval import keys
from rcml_core.eval.evaluate import EvalOptions, evaluate_run, evaluate_split
from rcml_core.eval.results import EvalResult
from rcml_core.loss import LossConfig, LossOutput
from rcml_core.model.backbone import save_backbone
from rcml_core.model.batch import PairBatch
from rcml_core.runtime.checkpoint import (
    TrainState,
    load_checkpoint,
    load_model_weights,
    read_checkpoint_config,
    recover_checkpoint,
    save_checkpoint,
)
from rcml_core.runtime.device import exact_fp32
from rcml_core.runtime.inputs import ImageStaging
from rcml_core.runtime.layout import (
    BACKBONE_DIR,
    BEST,
    CHECKPOINTS_DIR,
    CONFIG_FILE,
    LAST,
    METRICS_FILE,
    OUTCOMES_DIR,
    SELECTION_OUTCOMES,
)
from rcml_core.runtime.run_config import RunConfig
from rcml_core.runtime.session import RunSession, build_session
from rcml_core.train.batching import PairRelations, make_pair_batch
from rcml_core.train.loss_log import LossLog
from rcml_core.train.optim import build_optimizer, build_scheduler
from rcml_core.train.prefetch import PREFETCH_DEPTH, prefetch_batches
from rcml_core.train.sampler import PairIndexBatch, PairSampler
from rcml_core.train.tracker import NoopTracker, Tracker
from rcml_core.writable import naming_refusals

# Config sections that may change when a run is resumed (how long to train, where to log).
_RESUMABLE_CHANGES = ("train", "out_dir", "eval")


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device | None = None  # where this rank runs (a Ray trial: from its plan); None: train.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


EpochHook = Callable[[int, dict[str, float], Path | None], None]


@dataclass
class TrainResult:
    run_dir: Path
    best_checkpoint: Path
    best_epoch: int
    history: list[dict[str, float]]
    final: dict[str, dict[str, float]]
    status: str  # "finished" | "early_stopped"


def _broadcast(obj: Any, dist: DistContext) -> Any:
    if dist.world_size > 1 and torch_dist.is_available() and torch_dist.is_initialized():
        box = [obj]
        torch_dist.broadcast_object_list(box, src=0)
        return box[0]
    return obj


def _barrier(dist: DistContext) -> None:
    if dist.world_size > 1 and torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()


def _check_resume_compatible(saved: dict[str, Any], current: dict[str, Any], where: Path) -> None:
    diff = sorted(k for k in set(saved) | set(current) if k not in _RESUMABLE_CHANGES and saved.get(k) != current.get(k))
    if diff:
        raise ConfigError(
            f"cannot resume from {where}: the run was started with different {diff}; "
            "use another out_dir or pass resume=False to start over"
        )


class TrainStep(nn.Module):
    """The unit a distributed wrapper (DDP) wraps: its forward is the whole loss, eq. 1."""

    def __init__(self, model: nn.Module, loss_config: LossConfig) -> None:
        super().__init__()
        self.model = model
        self.loss_config = loss_config

    def forward(self, batch: PairBatch) -> LossOutput:
        return self.model.loss(batch, self.loss_config)


class _Trainer:
    """State of one training run; `run()` is the loop."""

    def __init__(self, config: RunConfig, tracker: Tracker, hook: EpochHook | None, dist: DistContext,
                 wrap_model: Callable[[nn.Module], nn.Module] | None) -> None:
        self.config = config
        self.dist = dist
        self.hook = hook
        self.tracker = tracker if dist.is_main else NoopTracker()
        self.run_dir = Path(config.out_dir).resolve()
        self.ckpt_dir = self.run_dir / CHECKPOINTS_DIR
        backbone_dir = self.run_dir / BACKBONE_DIR
        if dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        # Rank 0 builds the tokenizer (tiny preset) and saves it; the others load the same one.
        if not dist.is_main:
            _barrier(dist)
        self.session: RunSession = build_session(config, backbone_dir=backbone_dir, local_rank=dist.local_rank,
                                                 device=dist.device)
        if dist.is_main:
            if not (backbone_dir / "config.json").exists():
                save_backbone(self.session.backbone, backbone_dir, weights=False)
            _barrier(dist)
        self.model = self.session.model
        self.device = self.session.device  # the model runs its towers in the run's precision (runtime.device)
        self.loss_config = config.effective_loss
        step = TrainStep(self.model, self.loss_config)
        self.step_module = wrap_model(step) if wrap_model else step
        self.pair_relations = PairRelations(self.session.dataset) if self.loss_config.relation_negatives else None
        self.sampler = PairSampler(
            self.session.dataset, config.train.batch_size, config.effective_sampler, config.seed,
            rank=dist.rank, world_size=dist.world_size,
        )
        cap = config.train.max_steps_per_epoch
        self.steps_per_epoch = len(self.sampler) if cap is None else min(len(self.sampler), cap)
        self.optimizer = build_optimizer(self.model, config.optim)
        self.scheduler = build_scheduler(self.optimizer, config.optim, max(1, self.steps_per_epoch * config.train.epochs))
        self.state = TrainState()

    # -- pieces ------------------------------------------------------------------------
    def validate(self, epoch: int) -> dict[str, float]:
        metrics: dict[str, float] | None = None
        if self.dist.is_main:
            with exact_fp32(self.device):  # fp32 scores: bf16 ones tie, and ties count against the positive
                options = EvalOptions(tasks=("retrieval",), batch_size=self.config.eval.batch_size,
                                      max_queries=self.config.eval.max_val_queries)
                metrics = evaluate_split(self.model, self.session.inputs, self.session.dataset, "val",
                                         self.config.method, self.device, options).metrics
            metrics["epoch"] = float(epoch)
        return _broadcast(metrics, self.dist)

    def train_epoch(self, epoch: int) -> dict[str, float]:
        self.model.train()
        losses = LossLog(self.device)  # read back every log_every steps only: no host-device sync per step
        n = 0
        t0 = time.perf_counter()
        batches = prefetch_batches(self.sampler.epoch(epoch, self.steps_per_epoch), self._build_batch, self.device,
                                   depth=PREFETCH_DEPTH if self.device.type == "cuda" else 0)
        with closing(batches):  # stops the producer thread when the epoch ends early (divergence, interruption)
            for batch in batches:
                out = self.step_module(batch)
                losses.add(out, self.state.step)
                self.optimizer.zero_grad(set_to_none=True)
                out.total.backward()
                if self.config.optim.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.optim.grad_clip)
                self.optimizer.step()
                self.scheduler.step()
                self.state.step += 1
                n += 1
                if self.state.step % self.config.train.log_every == 0:
                    self.tracker.log_metrics({f"train/{k}_step": v for k, v in losses.latest().items()},
                                             step=self.state.step)
        elapsed = time.perf_counter() - t0
        metrics = {f"train/{k}": v for k, v in losses.means().items()}
        metrics["train/steps"] = float(n)
        metrics["time/epoch_s"] = elapsed
        metrics["time/pairs_per_s"] = n * self.config.train.batch_size / max(elapsed, 1e-9)  # the global batch
        metrics["train/lr"] = float(self.scheduler.get_last_lr()[0])
        return metrics

    def _build_batch(self, index_batch: PairIndexBatch, staging: ImageStaging) -> PairBatch:
        return make_pair_batch(self.session.inputs, index_batch, self.device, self.loss_config.relation_negatives,
                               self.pair_relations, staging=staging)

    def save(self, name: str, weights_only: bool = False) -> Path:
        directory = self.ckpt_dir / name
        save_checkpoint(
            directory, self.model, None if weights_only else self.optimizer, None if weights_only else self.scheduler,
            self.state, self.config.to_dict(),
            write_extra=lambda tmp: save_backbone(self.session.backbone, tmp / BACKBONE_DIR, weights=False),
        )
        return directory

    def end_of_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        """Selection, checkpoints, logging and the epoch hook (all ranks)."""
        value = metrics[keys.SELECTION_METRIC]
        improved = value > self.state.best_metric
        if improved:
            self.state.best_metric, self.state.best_epoch, self.state.bad_epochs = value, epoch, 0
        else:
            self.state.bad_epochs += 1
        self.state.epoch = epoch
        metrics = dict(metrics, **{keys.BEST_SELECTION: self.state.best_metric,
                                    f"{keys.BEST_PREFIX}epoch": float(self.state.best_epoch)})
        self.state.history.append(metrics)
        checkpoint = None
        if self.dist.is_main:
            if improved:
                self.save(BEST, weights_only=True)  # runs resume from `last`; best is for evaluation
            checkpoint = self.save(LAST)
            self.tracker.log_metrics(metrics, step=epoch)
        if self.hook is not None:  # its own refusals are not the run folder's (a sweep uploads to its storage)
            with naming_refusals(f"epoch {epoch}'s report (the on_epoch_end hook: in a sweep, the checkpoint upload "
                                 "to its storage)"):
                self.hook(epoch, metrics, checkpoint)

    # -- the loop ----------------------------------------------------------------------
    def run(self, resume: bool, final_splits: tuple[str, ...]) -> TrainResult:
        last = self.ckpt_dir / LAST
        if resume and recover_checkpoint(last):  # a write killed between its renames left the previous one aside
            _check_resume_compatible(read_checkpoint_config(last), self.config.to_dict(), last)
            self.state = load_checkpoint(last, self.model, self.optimizer, self.scheduler)
        if self.dist.is_main:
            (self.run_dir / CONFIG_FILE).write_text(json.dumps(self.config.to_dict(), indent=2, sort_keys=True))
            self.tracker.log_params(self.config.to_dict())
            self.tracker.log_artifact(self.run_dir / "config.json")  # at the start: a run stopped early has it too
            self.tracker.set_tags({"method": self.config.method, "ablation": self.config.ablation.name,
                                   "summary_mix": self.config.effective_model.summary_mix})
            inputs = self.session.inputs
            self.tracker.log_metrics({"data/titles_truncated": inputs.titles_truncated,
                                      "data/relations_truncated": inputs.relations_truncated}, step=0)
        if not self.state.history:  # epoch 0: the untrained model is a candidate too
            self.end_of_epoch(0, self.validate(0))
        status = "finished"
        patience = self.config.train.early_stopping_patience
        for epoch in range(self.state.epoch + 1, self.config.train.epochs + 1):
            if patience and self.state.bad_epochs >= patience:
                status = "early_stopped"
                break
            train_metrics = self.train_epoch(epoch)
            self.end_of_epoch(epoch, {**train_metrics, **self.validate(epoch)})
        return self.finish(status, final_splits)

    def finish(self, status: str, final_splits: tuple[str, ...]) -> TrainResult:
        """Evaluate the best checkpoint (all tasks, intervals, reference scorers and the training-free score
        on the untrained backbone) on `final_splits`, and save per-query outcomes beside metrics.json:
        `outcomes/<split>.npz` per final split and `outcomes/selection-val.npz`, the val retrieval outcomes on
        the selection queries, from which a sweep pools a configuration's interval over its seeds."""
        best = self.ckpt_dir / BEST
        final: dict[str, dict[str, float]] = {}
        if self.dist.is_main:
            load_model_weights(best, self.model)
            outcomes_dir = self.run_dir / OUTCOMES_DIR
            results: dict[str, EvalResult] = {}
            for split in final_splits:
                with exact_fp32(self.device):
                    results[split] = evaluate_run(self.session, split, self.run_dir / BACKBONE_DIR)
                final[split] = results[split].metrics
                self.tracker.log_metrics({keys.staged(keys.FINAL, k): v for k, v in final[split].items()},
                                         step=self.state.epoch)
                results[split].save(outcomes_dir / f"{split}.npz")
            cap = self.config.eval.max_val_queries
            if "val" in results and cap is None:
                selection = results["val"]
            else:  # the queries validation selected on: the model's retrieval outcomes only (one more validation)
                with exact_fp32(self.device):
                    selection = evaluate_split(self.model, self.session.inputs, self.session.dataset, "val",
                                               self.config.method, self.device,
                                               EvalOptions(tasks=("retrieval",), batch_size=self.config.eval.batch_size,
                                                           max_queries=cap))
            selection.save(outcomes_dir / SELECTION_OUTCOMES)
            report = {
                "status": status,
                "best_epoch": self.state.best_epoch,
                keys.BEST_SELECTION_FIELD: self.state.best_metric,
                "epochs": self.state.history,
                "final": final,
                "data": {"titles_truncated": self.session.inputs.titles_truncated,
                         "relations_truncated": self.session.inputs.relations_truncated},
                "config": self.config.to_dict(),
            }
            path = self.run_dir / METRICS_FILE
            path.write_text(json.dumps(report, indent=2, default=_json_default))
            self.tracker.log_artifact(path)
            self.tracker.log_artifact(self.run_dir / CONFIG_FILE)
            self.tracker.log_artifact(outcomes_dir)
            self.tracker.set_tags({"status": status, "best_epoch": str(self.state.best_epoch)})
        final = _broadcast(final, self.dist)
        return TrainResult(self.run_dir, best, self.state.best_epoch, self.state.history, final, status)


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value)}")


def train(
    config: RunConfig,
    tracker: Tracker | None = None,
    on_epoch_end: EpochHook | None = None,
    dist: DistContext = DistContext(),
    wrap_model: Callable[[nn.Module], nn.Module] | None = None,
    resume: bool = True,
    final_splits: tuple[str, ...] = ("val",),
) -> TrainResult:
    """Train one configuration; see the module docstring. Raises DivergedError on a NaN/inf loss."""
    with naming_refusals(f"run folder {config.out_dir}"):  # a full disk: one line naming it, whichever writer met it
        trainer = _Trainer(config, tracker or NoopTracker(), on_epoch_end, dist, wrap_model)
    try:
        with naming_refusals(f"run folder {config.out_dir}"):
            return trainer.run(resume, final_splits)
    except DivergedError as exc:
        trainer.tracker.set_tags({"status": "failed", "failure": str(exc)})
        if dist.is_main:
            (trainer.run_dir / "FAILED").write_text(f"{exc}\n")
        raise

