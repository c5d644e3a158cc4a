"""The per-worker training function Ray Train runs on every worker of a trial.

It turns the trial's overrides into an rcml_core training run:

- the run config is resolved here, on the worker (preset -> overrides; validated), so the
  trial driver and Ray Train's controller never import torch models, transformers or the
  dataset code: on a 2-core machine those imports dominate a trial's start-up;
- rank / world size from `ray.train.get_context()`; the model is wrapped for DDP with
  `ray.train.torch.prepare_model` (a no-op with one worker);
- resume: when Ray Train hands back a checkpoint (`ray.train.get_checkpoint()`, after a
  worker failure or a resumed sweep), it is unpacked into the run folder and the loop
  resumes from it exactly (rcml_core.train.checkpoint);
- every epoch (validation at epoch 0 included) the metrics and the run's checkpoints
  (`last/`, `best/`) are reported with `ray.train.report` on every rank (the call is a
  barrier), the checkpoint by rank 0 only;
- only rank 0 records into MLflow (`MlflowTracker` on the trial's child run).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import ray.train

# Ray Train logs every report (all metrics) and every checkpoint at INFO on the worker; the sweep prints its
# own one-line progress and MLflow has the metrics. (The first of these loggers is named after its file path,
# so it escapes the level set by ray.train.LoggingConfig.)
QUIET_LOGGERS = ("ray.train.v2._internal.execution.context", "ray.train.v2._internal.execution.storage")


def _quiet_ray_train_logs() -> None:
    import ray.train.v2._internal.execution.context as train_context

    for name in (*QUIET_LOGGERS, train_context.__file__):
        logging.getLogger(name).setLevel(logging.WARNING)
CHECKPOINTS_DIR = "checkpoints"  # the loop's checkpoint folder inside a run folder (last/, best/)
BACKBONE_DIR = "backbone"  # rcml_core.train.session.BACKBONE_DIR (the run's tokenizer and backbone config)


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
    backbone = ckpt_dir / "last" / BACKBONE_DIR
    if backbone.is_dir():  # the tokenizer the run was started with
        shutil.copytree(backbone, run_dir / BACKBONE_DIR, dirs_exist_ok=True)


def needs_unused_parameter_search(config) -> bool:
    """DDP must look for parameters without gradients when the attention gets none (beta = 1, prob mix)."""
    model = config.effective_model
    return model.beta >= 1.0 and model.summary_mix == "prob" and not config.effective_sampler.use_inter_edges


def train_worker(loop_config: dict[str, Any]) -> None:
    """`train_loop_per_worker`. loop_config: `preset`, `overrides` (key=value, the run folder included),
    `tracking` (SweepTracking or None) and `mlflow_run_id`."""
    import torch
    import torch.distributed as torch_dist

    from rcml_core.train.loop import DistContext, train
    from rcml_core.train.run_config import resolve_run_config
    from rcml_core.train.tracker import NoopTracker

    _quiet_ray_train_logs()
    context = ray.train.get_context()
    rank, world, local_rank = context.get_world_rank(), context.get_world_size(), context.get_local_rank()
    config = resolve_run_config(loop_config["preset"], overrides=list(loop_config["overrides"]))
    run_dir = Path(config.out_dir)
    if local_rank == 0:  # one restore per node; the others wait at the barrier below
        restore_run_dir(run_dir, ray.train.get_checkpoint())
    if world > 1 and torch_dist.is_initialized():
        torch_dist.barrier()

    tracker = NoopTracker()
    handle, run_id = loop_config.get("tracking"), loop_config.get("mlflow_run_id")
    if rank == 0 and handle is not None and run_id is not None:
        from tracking.mlflow_tracker import MlflowTracker

        tracker = MlflowTracker(handle.client(), run_id, while_running=True)

    final_epoch: list[tuple[int, dict[str, float], Path | None]] = []

    def send(epoch: int, metrics: dict[str, float], checkpoint: Path | None) -> None:
        payload = {**metrics, "epoch": epoch}
        if checkpoint is not None:  # rank 0: the folder holding last/ and best/
            ray.train.report(payload, checkpoint=ray.train.Checkpoint.from_directory(str(checkpoint.parent)),
                             checkpoint_dir_name=f"epoch_{epoch:03d}")
        else:
            ray.train.report(payload)

    def report(epoch: int, metrics: dict[str, float], checkpoint: Path | None) -> None:
        # The last epoch is reported after the run's final evaluation: Tune may stop a trial as soon as it
        # sees its last result (ASHA at max_t), which would cut that evaluation short.
        if epoch == config.train.epochs:
            final_epoch.append((epoch, metrics, checkpoint))
        else:
            send(epoch, metrics, checkpoint)

    find_unused = needs_unused_parameter_search(config)

    def wrap(module: torch.nn.Module) -> torch.nn.Module:
        if world == 1:
            return module
        return ray.train.torch.prepare_model(module, move_to_device=False,
                                             parallel_strategy_kwargs={"find_unused_parameters": find_unused})

    train(config, tracker=tracker, on_epoch_end=report,
          dist=DistContext(rank=rank, world_size=world, local_rank=local_rank), wrap_model=wrap, resume=True,
          final_splits=tuple(loop_config.get("final_splits", ("val",))))
    for epoch, metrics, checkpoint in final_epoch:
        send(epoch, metrics, checkpoint)
