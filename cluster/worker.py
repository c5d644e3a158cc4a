"""The per-worker training function Ray Train runs on every worker of a trial.

It turns the trial's overrides into an rcml_core training run:

- the run config is resolved here, on the worker (preset -> overrides; validated), so the
  trial driver and Ray Train's controller never import torch models, transformers or the
  dataset code: on a 2-core machine those imports dominate a trial's start-up;
- rank / world size from `ray.train.get_context()` on a worker group (rank 0 of 1 in the
  trial); the model is wrapped for DDP with `ray.train.torch.prepare_model` when there is
  more than one worker;
- the device follows the trial's resource plan (`plan_device`): the granted GPU when the plan
  has GPUs, the CPU otherwise (Ray no longer hides GPUs from CPU-only actors, so "auto" could put
  a --cpu trial on cuda:0); a GPU grant that torch cannot use is an error naming the node, never
  a silent CPU run;
- resume: when Ray hands back a checkpoint (after a failure or a resumed sweep), it is
  unpacked into the run folder and the loop resumes from it exactly
  (rcml_core.runtime.checkpoint);
- every epoch (validation at epoch 0 included) the metrics and the run's checkpoints
  (`last/`, `best/`) are reported on every rank (the call is a barrier), the checkpoint by
  rank 0 only;
- where reports go (`report_to`): "train", `ray.train.report` / `ray.train.get_checkpoint`
  on a Ray Train worker group (TuneReportCallback forwards them to Tune); "tune", straight to
  the trial with `ray.tune.report` / `ray.tune.get_checkpoint` when the loop runs inside the
  trial's actor (Ray Train local mode keeps reports to itself);
- only rank 0 records into MLflow: a `RelayTracker` on the trial's child run, through the sweep's
  tracking relay (cluster.tracking_relay; no MLflow import here); first the node it trains on
  (cluster.nodes.node_tags: Ray node id, host name, node type).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ray.train

from cluster.connect import ClusterError
from rcml_core.runtime.layout import BACKBONE_DIR, CHECKPOINTS_DIR, LAST

if TYPE_CHECKING:
    import torch

# Ray Train logs every report (all metrics) and every checkpoint at INFO on the worker; the sweep prints its
# own one-line progress and MLflow has the metrics. (The first of these loggers is named after its file path,
# so it escapes the level set by ray.train.LoggingConfig.)
# In a trial that trains in its own actor, Tune's function session logs every checkpoint (ray.train._internal.storage)
# and Ray Train says it runs in local mode for every trial (ray.train.v2.api.config).
QUIET_LOGGERS = ("ray.train.v2._internal.execution.context", "ray.train.v2._internal.execution.storage",
                 "ray.train._internal.storage", "ray.train.v2.api.config")


def quiet_ray_train_logs() -> None:
    import ray.train.v2._internal.execution.context as train_context

    for name in (*QUIET_LOGGERS, train_context.__file__):
        logging.getLogger(name).setLevel(logging.WARNING)


def local_run_dir(runs_root: str, trial_id: str) -> Path:
    """The trial's run folder on this node: under runs_root when writable, else the temp folder."""
    root = Path(runs_root)
    try:
        root.mkdir(parents=True, exist_ok=True)
        if os.access(root, os.W_OK):
            return root / trial_id
    except OSError:
        pass
    return Path(tempfile.gettempdir()) / "rcml-runs" / trial_id


def restore_run_dir(run_dir: Path, checkpoint: ray.train.Checkpoint | None) -> None:
    """Make the run folder's checkpoints exactly Ray's latest reported checkpoint (or none).

    Checkpoints newer than Ray's record (a crash between saving and reporting) are dropped, so
    the run resumes from the state Ray Train and Tune know about.
    """
    ckpt_dir = run_dir / CHECKPOINTS_DIR
    if ckpt_dir.exists():
        shutil.rmtree(ckpt_dir)
    if checkpoint is None:
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    with checkpoint.as_directory() as src:
        shutil.copytree(src, ckpt_dir)
    backbone = ckpt_dir / LAST / BACKBONE_DIR
    if backbone.is_dir():  # the tokenizer the run was started with
        shutil.copytree(backbone, run_dir / BACKBONE_DIR, dirs_exist_ok=True)


def plan_device(use_gpu: bool, on_worker_group: bool) -> torch.device:
    """The device this trial process was granted: its GPU when the plan has GPUs, else the CPU.

    Under Ray Train the GPU is `ray.train.torch.get_device()`; in the trial's own actor (Ray Train
    local mode), the granted GPU's position in CUDA_VISIBLE_DEVICES. Raises ClusterError, naming the
    node, when GPUs were granted but torch sees no CUDA device (a CPU build of torch, a driver
    mismatch).
    """
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
    if on_worker_group:
        return ray.train.torch.get_device()
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    return torch.device("cuda", visible.index(granted[0]) if granted[0] in visible else 0)


REPORT_TO: tuple[str, ...] = ("train", "tune")


def _report_channel(report_to: str):
    """(report(metrics, checkpoint folder or None, checkpoint name), latest checkpoint or None) for `report_to`."""
    if report_to not in REPORT_TO:
        raise ValueError(f"report_to must be one of {REPORT_TO}, got {report_to!r}")
    if report_to == "tune":
        from ray import tune

        def to_tune(metrics: dict, folder: Path | None, name: str) -> None:
            tune.report(metrics, checkpoint=None if folder is None else tune.Checkpoint.from_directory(str(folder)))

        return to_tune, tune.get_checkpoint()

    def to_train(metrics: dict, folder: Path | None, name: str) -> None:
        if folder is None:
            ray.train.report(metrics)
        else:
            ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(str(folder)),
                             checkpoint_dir_name=name)

    return to_train, ray.train.get_checkpoint()


def train_worker(loop_config: dict[str, Any]) -> None:
    """`train_loop_per_worker`. loop_config: `preset`, `overrides` (key=value, the run folder included),
    `tracking` (the sweep's tracking relay or None), `mlflow_run_id`, `report_to` ("train" or "tune") and
    `use_gpu` (the plan's)."""
    import torch
    import torch.distributed as torch_dist

    from rcml_core.train.loop import DistContext, train
    from rcml_core.runtime.run_config import resolve_run_config
    from rcml_core.train.tracker import NoopTracker

    quiet_ray_train_logs()
    report_to = loop_config.get("report_to", "train")
    if report_to == "tune":  # the one worker, inside the trial (Ray refuses ray.train.get_context() there)
        rank, world, local_rank = 0, 1, 0
    else:
        context = ray.train.get_context()
        rank, world, local_rank = context.get_world_rank(), context.get_world_size(), context.get_local_rank()
    config = resolve_run_config(loop_config["preset"], overrides=list(loop_config["overrides"]))
    tracker = NoopTracker()
    relay, run_id = loop_config.get("tracking"), loop_config.get("mlflow_run_id")
    if rank == 0 and relay is not None and run_id is not None:
        from cluster.tracking_relay import RelayTracker
        from cluster.nodes import node_tags

        tracker = RelayTracker(relay, run_id)
        tracker.set_tags(node_tags())  # where the trial trains, recorded before anything can fail
    device = plan_device(bool(loop_config.get("use_gpu", False)), on_worker_group=report_to == "train")
    run_dir = Path(config.out_dir)
    send_report, latest = _report_channel(report_to)
    if local_rank == 0:  # one restore per node; the others wait at the barrier below
        restore_run_dir(run_dir, latest)
    if world > 1 and torch_dist.is_initialized():
        torch_dist.barrier()

    final_epoch: list[tuple[int, dict[str, float], Path | None]] = []

    def send(epoch: int, metrics: dict[str, float], checkpoint: Path | None) -> None:
        # rank 0's checkpoint: the folder holding last/ and best/
        send_report({**metrics, "epoch": epoch}, None if checkpoint is None else checkpoint.parent,
                    f"epoch_{epoch:03d}")

    def report(epoch: int, metrics: dict[str, float], checkpoint: Path | None) -> None:
        # The last epoch is reported after the run's final evaluation: Tune may stop a trial as soon as it
        # sees its last result (ASHA at max_t), which would cut that evaluation short.
        if epoch == config.train.epochs:
            final_epoch.append((epoch, metrics, checkpoint))
        else:
            send(epoch, metrics, checkpoint)

    def wrap(module: torch.nn.Module) -> torch.nn.Module:
        # No unused-parameter search: every trainable parameter is in every step's graph. At beta = 1 in
        # prob mode (the CLIP baseline) W_Q, W_K get zero gradients, not none (the attention is
        # multiplied by 1 - beta = 0); tests/train/test_ddp_gradients.py proves it under DDP.
        if world == 1:
            return module
        return ray.train.torch.prepare_model(module, move_to_device=False,
                                             parallel_strategy_kwargs={"find_unused_parameters": False})

    train(config, tracker=tracker, on_epoch_end=report,
          dist=DistContext(rank=rank, world_size=world, local_rank=local_rank, device=device), wrap_model=wrap,
          resume=True,
          final_splits=tuple(loop_config.get("final_splits", ("val",))))
    for epoch, metrics, checkpoint in final_epoch:
        send(epoch, metrics, checkpoint)
