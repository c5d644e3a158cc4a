"""Test evaluation of the selected configuration, on the cluster.

Each of its trials' best checkpoint (`best/` inside the trial's latest Ray Train
checkpoint) is evaluated on the test split as a Ray task with a worker's resources
(a GPU when trials used one), all seeds in parallel. Every metric of the paper's three
tasks comes back (rcml_core.train.loop.evaluate_checkpoint).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.fs
import ray
from ray.train import Checkpoint

from cluster.resources import TrialPlan
from rcml_core.train.loop import evaluate_checkpoint

BEST = "best"


def storage_filesystem(storage_path: str) -> pyarrow.fs.FileSystem:
    fs, _ = pyarrow.fs.FileSystem.from_uri(storage_path if "://" in storage_path else str(Path(storage_path).resolve()))
    return fs


def fetch_best_checkpoint(checkpoint_path: str, storage_path: str, dest: Path) -> Path:
    """Copy the trial checkpoint's `best/` folder to `dest` (a local folder); returns it."""
    checkpoint = Checkpoint(checkpoint_path, filesystem=storage_filesystem(storage_path))
    with checkpoint.as_directory() as local:
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(Path(local) / BEST, dest)
    return dest


def _evaluate(checkpoint_path: str, storage_path: str, split: str, use_gpu: bool) -> dict[str, float]:
    from cluster.worker import plan_device

    checkpoint = Checkpoint(checkpoint_path, filesystem=storage_filesystem(storage_path))
    with checkpoint.as_directory() as local:  # the device the task was granted, as the trials' (cluster.worker)
        return evaluate_checkpoint(Path(local) / BEST, split=split, device=plan_device(use_gpu, on_worker_group=False))


def evaluate_trials(checkpoint_paths: list[str], storage_path: str, plan: TrialPlan,
                    split: str = "test") -> list[dict[str, float]]:
    """Metrics of each checkpoint on `split`, computed in parallel Ray tasks."""
    task = ray.remote(_evaluate).options(num_cpus=plan.cpus_per_worker,
                                         num_gpus=plan.gpus_per_worker if plan.use_gpu else 0)
    return ray.get([task.remote(path, storage_path, split, plan.use_gpu) for path in checkpoint_paths])
