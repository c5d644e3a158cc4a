"""The per-worker training function Ray Train runs on every worker of a trial (`train_worker`).

- the run config is resolved here, on the worker (preset -> overrides; validated), so the trial driver
  and Ray Train's controller never import torch models, transformers or the dataset code: on a 2-core
  machine those imports dominate a trial's start-up;
- where the trial trains (`trial_path`, cluster.trial_path) gives the rank, world size and device, Ray's
  latest checkpoint and where reports go; more than one worker wraps the model for DDP;
- resume: Ray's latest checkpoint is unpacked into the run folder and the loop resumes from it exactly;
- every epoch (validation at epoch 0 included) each rank reports its metrics (a barrier), rank 0 also the
  folder holding `last/` and `best/`;
- only rank 0 records into MLflow, through the sweep's tracking relay (cluster.tracking_relay; no MLflow
  import here), first the node it trains on (cluster.nodes.node_tags).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cluster.ray_compat import quiet_ray_train_logs
from rcml_core.runtime.layout import BACKBONE_DIR, CHECKPOINTS_DIR, LAST

if TYPE_CHECKING:
    import ray.train
    import torch


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


def train_worker(loop_config: dict[str, Any]) -> None:
    """`train_loop_per_worker`. loop_config: `preset`, `overrides` (key=value, the run folder included),
    `tracking` (the sweep's tracking relay or None), `mlflow_run_id`, `trial_path` (where it trains:
    cluster.trial_path) and `use_gpu` (the plan's)."""
    import ray.train.torch
    import torch
    import torch.distributed as torch_dist

    from rcml_core.train.loop import DistContext, train
    from rcml_core.runtime.run_config import resolve_run_config
    from rcml_core.train.tracker import NoopTracker

    quiet_ray_train_logs()
    path = loop_config["trial_path"]
    rank, world, local_rank = path.ranks()
    config = resolve_run_config(loop_config["preset"], overrides=list(loop_config["overrides"]))
    tracker = NoopTracker()
    relay, run_id = loop_config.get("tracking"), loop_config.get("mlflow_run_id")
    if rank == 0 and relay is not None and run_id is not None:
        from cluster.tracking_relay import RelayTracker
        from cluster.nodes import node_tags

        tracker = RelayTracker(relay, run_id)
        tracker.set_tags(node_tags())  # where the trial trains, recorded before anything can fail
    device = path.device(bool(loop_config.get("use_gpu", False)))
    run_dir = Path(config.out_dir)
    if local_rank == 0:  # one restore per node; the others wait at the barrier below
        restore_run_dir(run_dir, path.latest_checkpoint())
    if world > 1 and torch_dist.is_initialized():
        torch_dist.barrier()

    final_epoch: list[tuple[int, dict[str, float], Path | None]] = []
    trained: list[int] = []  # the epochs this attempt ran

    def send(epoch: int, metrics: dict[str, float], checkpoint: Path | None) -> None:
        # rank 0's checkpoint: the folder holding last/ and best/
        path.report({**metrics, "epoch": epoch}, None if checkpoint is None else checkpoint.parent,
                    f"epoch_{epoch:03d}")

    def report(epoch: int, metrics: dict[str, float], checkpoint: Path | None) -> None:
        # The last epoch is reported after the run's final evaluation: Tune may stop a trial as soon as it
        # sees its last result (ASHA at max_t), which would cut that evaluation short.
        trained.append(epoch)
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

    result = train(config, tracker=tracker, on_epoch_end=report,
                   dist=DistContext(rank=rank, world_size=world, local_rank=local_rank, device=device),
                   wrap_model=wrap, resume=True, final_splits=tuple(loop_config.get("final_splits", ("val",))))
    if not trained and result.history:  # restarted after its last epoch (its driver died before Tune saw it end):
        # its last result again, so that Tune (and ASHA, which refuses a result without its metric) sees one
        last = run_dir / CHECKPOINTS_DIR / LAST if rank == 0 else None
        final_epoch.append((len(result.history) - 1, result.history[-1], last))
    for epoch, metrics, checkpoint in final_epoch:
        send(epoch, metrics, checkpoint)
