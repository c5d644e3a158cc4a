"""Test evaluation of the selected configuration, on the cluster.

Each of its trials' best checkpoint (`best/` inside the trial's latest Ray Train
checkpoint) is evaluated as a Ray task with a worker's resources (a GPU when trials used
one), all seeds in parallel. Each task returns a `SelectedEvaluation`: the test split's
`EvalResult` (every metric of the paper's three tasks with intervals, the reference
scorers, the training-free score on the run's untrained backbone, and the per-query
outcomes, so the launcher can pool the seeds) and the training-free score on the val
selection queries (for the val tables, beside the reference scorers); `val_floors` puts those
beside the reference scorers on the same queries. With --ood-data, `ood_metrics` evaluates the same
checkpoints on a second dataset's test queries (the out-of-domain column of the report's Table 1).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import ray
import torch
from ray.train import Checkpoint

from cluster.paths import storage_root
from cluster.resources import TrialPlan
from rcml_core.data.format.schema import RelationalDataset
from rcml_core.eval import keys
from rcml_core.eval.evaluate import evaluate_checkpoint, evaluate_run, first_queries
from rcml_core.eval.results import EvalResult, seed_table
from rcml_core.eval.training_free import training_free_result, untrained_backbone
from rcml_core.runtime.device import exact_fp32
from rcml_core.runtime.layout import BACKBONE_DIR, BEST
from rcml_core.runtime.session import load_checkpoint_session


@dataclass(frozen=True)
class SelectedEvaluation:
    test: EvalResult  # the evaluated split: every task, reference scorers, training-free score, outcomes
    val_free: EvalResult  # the training-free score on the val selection queries (empty without val queries)


def fetch_best_checkpoint(checkpoint_path: str, storage_path: str, dest: Path) -> Path:
    """Copy the trial checkpoint's `best/` folder to `dest` (a local folder); returns it."""
    checkpoint = Checkpoint(checkpoint_path, filesystem=storage_root(storage_path)[0])
    with checkpoint.as_directory() as local:
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(Path(local) / BEST, dest)
    return dest


def evaluate_best(best: Path, split: str, val_queries: int | None,
                  device: str | torch.device = "auto") -> SelectedEvaluation:
    """A local `best/` checkpoint folder on `split`, and the training-free score on val's first `val_queries`."""
    session = load_checkpoint_session(best, device=device)
    config = session.config
    with exact_fp32(session.device):  # the towers' bf16 (on CUDA) stays; scores in fp32
        test = evaluate_run(session, split, best / BACKBONE_DIR)
        val_free = EvalResult("val")
        if "val" in session.dataset.retrieval:
            backbone = untrained_backbone(config.effective_backbone, best / BACKBONE_DIR)
            val_free = training_free_result(backbone, session.dataset,
                                            first_queries(session.dataset.retrieval["val"], val_queries),
                                            session.device, config.eval.batch_size, session.inputs)
    return SelectedEvaluation(test, val_free)


def _evaluate(checkpoint_path: str, storage_path: str, split: str, val_queries: int | None,
              use_gpu: bool) -> SelectedEvaluation:
    from cluster.trial_path import plan_device

    checkpoint = Checkpoint(checkpoint_path, filesystem=storage_root(storage_path)[0])
    with checkpoint.as_directory() as local:  # the device the task was granted, as the trials' (cluster.worker)
        return evaluate_best(Path(local) / BEST, split, val_queries, plan_device(use_gpu))


def evaluate_trials(checkpoint_paths: list[str], storage_path: str, plan: TrialPlan, split: str = "test",
                    val_queries: int | None = None) -> list[SelectedEvaluation]:
    """Each checkpoint on `split` (and the training-free score on val), computed in parallel Ray tasks."""
    task = plan.task(_evaluate)
    return ray.get([task.remote(path, storage_path, split, val_queries, plan.use_gpu) for path in checkpoint_paths])


def _evaluate_ood(checkpoint_path: str, storage_path: str, ood_data: str, use_gpu: bool) -> EvalResult:
    from cluster.trial_path import plan_device

    checkpoint = Checkpoint(checkpoint_path, filesystem=storage_root(storage_path)[0])
    with checkpoint.as_directory() as local:
        return evaluate_checkpoint(Path(local) / BEST, "test", data=ood_data, device=plan_device(use_gpu))


def ood_metrics(checkpoint_paths: list[str], storage_path: str, plan: TrialPlan,
                ood_data: str | None) -> dict[str, float]:
    """The selected checkpoints on the out-of-domain dataset `ood_data` (test split, every scorer of
    `evaluate_checkpoint` on its queries: the model, the training-free score, the reference scorers fitted on
    that dataset's train edges), over the seeds (`seed_table`), keyed `ood/test/...`; {} without one."""
    if ood_data is None:
        return {}
    task = plan.task(_evaluate_ood)
    results = ray.get([task.remote(path, storage_path, str(ood_data), plan.use_gpu) for path in checkpoint_paths])
    return {keys.staged(keys.OOD, k): v for k, v in seed_table(results).items()}


def val_floors(dataset: RelationalDataset, val_queries: int | None, free: list[EvalResult]) -> dict[str, float]:
    """The reference scorers (fitted on train edges) and the training-free score over the selected seeds, on
    the val selection queries: the floor beside the sweep's val table."""
    from rcml_core.eval.reference import reference_result

    if "val" not in dataset.retrieval:
        return {}
    out = reference_result(dataset, first_queries(dataset.retrieval["val"], val_queries)).metrics
    free = [r for r in free if r.outcomes]
    if free:
        table = seed_table(free)
        table[keys.count_key("val", keys.N_SEEDS, keys.FREE)] = table.pop(f"val/{keys.N_SEEDS}")
        out.update(table)
    return out
