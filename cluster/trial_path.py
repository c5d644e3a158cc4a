"""Where a trial trains, and what follows from it: one class per way, the only code that knows both.

`InActor` (one worker, the default) runs the loop in the trial's own actor (Ray Train's local mode: no
worker group to start, ~28 s per trial on the 2-core machine, docs/performance.md §5); `OnWorkerGroup`
(DDP, or `--worker-group`) waits on a Ray Train worker group. Each says what the trial asks Tune for, how
Ray Train scales, the rank and device, where reports and checkpoints go, the checkpoint's key in Tune's
results and who retries the trial; the table is in docs/architecture.md ("The trial path").
`cluster.resources.plan_trials` picks one per sweep and the `TrialPlan` carries it.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import ray
import ray.train
from ray import tune
from ray.tune.integration.ray_train import TuneReportCallback

from cluster.connect import ClusterError

if TYPE_CHECKING:
    import pandas as pd
    import torch

    from cluster.resources import TrialPlan


def plan_device(use_gpu: bool) -> torch.device:
    """The device this process was granted: the CPU unless the plan has GPUs (Ray no longer hides GPUs from
    CPU-only actors), else the granted GPU's index in CUDA_VISIBLE_DEVICES. A GPU torch cannot use (a CPU
    build, a driver mismatch) is a ClusterError naming the node, never a silent CPU run."""
    import torch

    if not use_gpu:
        return torch.device("cpu")
    granted = [str(i) for i in ray.get_gpu_ids()]
    if not granted or not torch.cuda.is_available():
        node = f"{socket.gethostname()} (Ray node {ray.get_runtime_context().get_node_id()[:12]})"
        cause = ("Ray granted it no GPU id" if not granted else
                 f"torch {torch.__version__} (CUDA build: {torch.version.cuda or 'none'}) sees no CUDA device")
        raise ClusterError(f"this trial was planned on a GPU but on node {node} {cause}; install a CUDA build of "
                           "torch that matches the node's driver, or run the sweep with --cpu")
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    return torch.device("cuda", visible.index(granted[0]) if granted[0] in visible else 0)


@dataclass(frozen=True)
class InActor:
    """The one worker trains inside the trial's actor; Tune retries it from its latest checkpoint."""

    description: ClassVar[str] = "in the trial's process"
    checkpoint_key: ClassVar[str] = "checkpoint_dir_name"  # Tune's, relative to the trial's folder

    # -- the driver side (cluster.resources, cluster.trial, cluster.tuner)
    def trial_resources(self, plan: TrialPlan) -> dict[str, float]:
        """What the trial's actor asks Tune for: the driver's share and the worker's."""
        res = {"cpu": round(plan.trial_cpus, 6)}
        if plan.use_gpu:
            res["gpu"] = plan.gpus_per_worker
        if plan.worker_resource:
            res[plan.worker_resource] = 1.0
        return res

    def scaling_config(self, plan: TrialPlan) -> ray.train.ScalingConfig:
        return ray.train.ScalingConfig(num_workers=0)  # Ray Train's local mode: the loop runs in this actor

    def train_callbacks(self) -> list:
        return []  # the loop reports to Tune itself

    def tune_retries(self, max_failures: int) -> int:
        return max_failures  # Tune restarts the trial from its latest checkpoint

    def reuse_actors(self, asha: bool) -> bool:
        return True  # a trial ASHA stops after a result is parked in tune.report: its actor is free at once

    # -- the worker side (cluster.worker)
    def ranks(self) -> tuple[int, int, int]:
        """(rank, world size, local rank): the one worker (Ray refuses ray.train.get_context() here)."""
        return 0, 1, 0

    def device(self, use_gpu: bool) -> torch.device:
        return plan_device(use_gpu)

    def latest_checkpoint(self) -> tune.Checkpoint | None:
        return tune.get_checkpoint()

    def report(self, metrics: dict, folder: Path | None, name: str) -> None:
        """Report one epoch's metrics and, when given, the folder holding its checkpoints."""
        tune.report(metrics, checkpoint=None if folder is None else tune.Checkpoint.from_directory(str(folder)))


@dataclass(frozen=True)
class OnWorkerGroup:
    """The trial's driver (a tenth of a CPU: Tune rejects 0, and a whole CPU per driver starves the workers on
    a 2-CPU machine) waits on a Ray Train worker group, which Ray Train retries."""

    description: ClassVar[str] = "on a Ray Train worker group"
    checkpoint_key: ClassVar[str] = "checkpoint_path"  # a Ray Train run's checkpoint, as TuneReportCallback forwards it

    def trial_resources(self, plan: TrialPlan) -> dict[str, float]:
        return {"cpu": plan.driver_cpus}  # the workers ask for their own

    def scaling_config(self, plan: TrialPlan) -> ray.train.ScalingConfig:
        return ray.train.ScalingConfig(num_workers=plan.num_workers, use_gpu=plan.use_gpu,
                                       resources_per_worker=plan.resources_per_worker)

    def train_callbacks(self) -> list:
        return [TuneReportCallback()]

    def tune_retries(self, max_failures: int) -> int:
        return 0  # Ray Train retries the run inside the trial (cluster.trial)

    def reuse_actors(self, asha: bool) -> bool:
        # With ASHA, a stopped trial's Train run goes on inside fit() while the next trial would reuse the actor.
        return not asha

    def ranks(self) -> tuple[int, int, int]:
        context = ray.train.get_context()
        return context.get_world_rank(), context.get_world_size(), context.get_local_rank()

    def device(self, use_gpu: bool) -> torch.device:
        import ray.train.torch  # imports torch: not in the driver

        device = plan_device(use_gpu)  # the same check that this node's torch can use its GPU
        return ray.train.torch.get_device() if device.type == "cuda" else device

    def latest_checkpoint(self) -> ray.train.Checkpoint | None:
        return ray.train.get_checkpoint()

    def report(self, metrics: dict, folder: Path | None, name: str) -> None:
        checkpoint = None if folder is None else ray.train.Checkpoint.from_directory(str(folder))
        ray.train.report(metrics, checkpoint=checkpoint, checkpoint_dir_name=name if checkpoint else None)


TrialPath = InActor | OnWorkerGroup


def choose(num_workers: int, in_trial: bool | None) -> TrialPath:
    """`in_trial` as the user gave it (None: in the actor when there is one worker)."""
    return InActor() if (num_workers == 1 if in_trial is None else in_trial) else OnWorkerGroup()


def latest_checkpoint(history: pd.DataFrame, trial_dir: str | None) -> str | None:
    """A trial's latest checkpoint from its reported results, whichever path it trained on (a resumed sweep
    may have changed it): Ray Train's location, else Tune's folder under the trial's."""
    for key, under in ((OnWorkerGroup.checkpoint_key, ""), (InActor.checkpoint_key, trial_dir)):
        if under is not None and key in history and history[key].notna().any():
            found = str(history[key].dropna().iloc[-1])
            return f"{under.rstrip('/')}/{found}" if under else found
    return None
