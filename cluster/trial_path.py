"""Where a trial trains, and everything that follows from it: one class per way, the only place that knows both.

A trial is a Tune function (the per-trial driver, cluster.trial) and a Ray Train run of the RCML loop
(cluster.worker). The run trains in one of two places:

- `InActor` (one worker, the default): Ray Train's local mode (`num_workers=0`) runs the loop inside the
  trial's own actor, which holds the worker's CPU / GPU. No TrainController, worker, synchronisation or
  placement-group actors start: on the 2-core machine those cost ~28 s per trial (docs/performance.md §5),
  and a grid sweep reuses the trial actor with torch and the model code already imported. The loop reports
  and checkpoints straight to Tune (`ray.tune.report`; Ray Train's local mode keeps reports to itself), the
  trial's latest checkpoint is Tune's (`checkpoint_dir_name`, relative to the trial's folder), and Tune
  retries the trial from it.
- `OnWorkerGroup` (always for DDP, `num_workers > 1`; `--worker-group` for one worker): the driver asks for
  a small fraction of a CPU and waits on Ray Train's workers. Tune rejects 0, and with a whole CPU per driver
  two trials on a 2-CPU machine each hold a CPU their workers need and wait for each other forever
  (`WorkerGroupStartupTimeoutError`). Workers report with `ray.train.report`, `TuneReportCallback` forwards
  to Tune with the checkpoint's location (`checkpoint_path`), and Ray Train retries the run inside the
  trial; a restarted trial finds its Train run (named after the trial) and its checkpoints again.

`cluster.resources.plan_trials` picks the path once per sweep and carries it in the `TrialPlan`; the driver,
the worker, the Tuner and the trials table ask it and never test which one it is.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from cluster.connect import ClusterError

if TYPE_CHECKING:
    import pandas as pd
    import ray.train
    import ray.tune
    import torch

    from cluster.resources import TrialPlan


def plan_device(use_gpu: bool) -> torch.device:
    """The device this process was granted: its GPU when the plan has GPUs, else the CPU.

    The granted GPU is found by its position in CUDA_VISIBLE_DEVICES (Ray no longer hides GPUs from CPU-only
    actors, so "auto" could put a --cpu trial on cuda:0). Raises ClusterError, naming the node, when GPUs
    were granted but torch sees no CUDA device (a CPU build of torch, a driver mismatch): never a silent
    CPU run.
    """
    import ray
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
    """The one worker trains inside the trial's actor (module docstring)."""

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
        import ray.train

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

    def latest_checkpoint(self) -> ray.tune.Checkpoint | None:
        from ray import tune

        return tune.get_checkpoint()

    def report(self, metrics: dict, folder: Path | None, name: str) -> None:
        """Report one epoch's metrics and, when given, the folder holding its checkpoints."""
        from ray import tune

        tune.report(metrics, checkpoint=None if folder is None else tune.Checkpoint.from_directory(str(folder)))

    # -- Tune's record (cluster.outcome)
    def checkpoint_location(self, reported: str, trial_dir: str | None) -> str | None:
        return None if trial_dir is None else f"{trial_dir.rstrip('/')}/{reported}"


@dataclass(frozen=True)
class OnWorkerGroup:
    """The trial's driver waits on a Ray Train worker group (module docstring)."""

    description: ClassVar[str] = "on a Ray Train worker group"
    checkpoint_key: ClassVar[str] = "checkpoint_path"  # a Ray Train run's checkpoint, as TuneReportCallback forwards it

    def trial_resources(self, plan: TrialPlan) -> dict[str, float]:
        return {"cpu": plan.driver_cpus}  # the workers ask for their own

    def scaling_config(self, plan: TrialPlan) -> ray.train.ScalingConfig:
        import ray.train

        return ray.train.ScalingConfig(num_workers=plan.num_workers, use_gpu=plan.use_gpu,
                                       resources_per_worker=plan.resources_per_worker)

    def train_callbacks(self) -> list:
        from ray.tune.integration.ray_train import TuneReportCallback

        return [TuneReportCallback()]

    def tune_retries(self, max_failures: int) -> int:
        return 0  # Ray Train retries the run inside the trial (cluster.trial)

    def reuse_actors(self, asha: bool) -> bool:
        # With ASHA, a stopped trial's Train run goes on inside fit() while the next trial would reuse the actor.
        return not asha

    def ranks(self) -> tuple[int, int, int]:
        import ray.train

        context = ray.train.get_context()
        return context.get_world_rank(), context.get_world_size(), context.get_local_rank()

    def device(self, use_gpu: bool) -> torch.device:
        import ray.train.torch

        device = plan_device(use_gpu)  # the same check that this node's torch can use its GPU
        return ray.train.torch.get_device() if device.type == "cuda" else device

    def latest_checkpoint(self) -> ray.train.Checkpoint | None:
        import ray.train

        return ray.train.get_checkpoint()

    def report(self, metrics: dict, folder: Path | None, name: str) -> None:
        import ray.train

        if folder is None:
            ray.train.report(metrics)
        else:
            ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(str(folder)),
                             checkpoint_dir_name=name)

    def checkpoint_location(self, reported: str, trial_dir: str | None) -> str | None:
        return reported


TrialPath = InActor | OnWorkerGroup
PATHS: tuple[TrialPath, ...] = (OnWorkerGroup(), InActor())


def choose(num_workers: int, in_trial: bool | None) -> TrialPath:
    """`in_trial` as the user gave it (None: in the actor when there is one worker)."""
    return InActor() if (num_workers == 1 if in_trial is None else in_trial) else OnWorkerGroup()


def latest_checkpoint(history: pd.DataFrame, trial_dir: str | None) -> str | None:
    """A trial's latest checkpoint from its reported results, whichever path it trained on (a resumed sweep
    may have changed it)."""
    for path in PATHS:
        if path.checkpoint_key in history and history[path.checkpoint_key].notna().any():
            found = path.checkpoint_location(str(history[path.checkpoint_key].dropna().iloc[-1]), trial_dir)
            if found is not None:
                return found
    return None

