"""The CLIP baselines every sweep trains beside its selected configuration, evaluated on the same test queries.

A sweep's test table shows RCML next to the CLIP baselines, not only next to the model-free floors
(docs/evaluation.md). After selection, one `method=clip` run per selected seed trains on the
sweep's data with the sweep's budget and fixed overrides, and with the selected configuration's
shared training hyperparameters (`SHARED_AXES`: lr, tau, batch size, ... when the study swept
them), so RCML and CLIP differ in the method only. Each run keeps its best epoch by its own
validation Hit@5 and is evaluated on test exactly as it was trained (rcml_core.eval.evaluate):

- `concat_` keys, "CLIP-concat": the run's own protocol, the relation text appended to each title
  (the paper's CLIP baseline; the protocol it was selected on);
- `plain_` keys, "CLIP fine-tuned (plain)": the same checkpoint's own embeddings, relation ignored.

The runs are Ray tasks with a trial's resources (a GPU when trials used one), all seeds at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cluster.outcome import Selection
from cluster.resources import TrialPlan
from cluster.study import SEED, Study, plain_value
from cluster.sweep_settings import SweepContext
from rcml_core.config import Override
from rcml_core.eval import keys
from rcml_core.eval.results import EvalResult, seed_table

if TYPE_CHECKING:
    import torch

    from rcml_core.train.loop import TrainResult

# Trial keys that mean the same for CLIP as for RCML; a study's other axes (beta, summary_mix, lambda_intra,
# the ablation variants) are RCML's own and do not reach the baseline.
SHARED_AXES = frozenset({"lr", "optim.lr", "weight_decay", "optim.weight_decay", "tau", "loss.tau", "batch_size",
                         "train.batch_size", "epochs", "train.epochs", "max_steps_per_epoch",
                         "train.max_steps_per_epoch", "intra_fraction", "sampler.intra_fraction"})
BASELINE_PREFIXES = (keys.CONCAT, keys.PLAIN)  # CLIP-concat, CLIP fine-tuned


def run_folder(runs_root: Path | str, seed: int) -> Path:
    """The CLIP run of `seed` under a sweep's runs folder (its best checkpoint: checkpoints/best inside)."""
    return Path(runs_root) / "baselines" / f"clip-seed{seed}"


@dataclass(frozen=True)
class BaselineSpec:
    preset: str
    overrides: tuple[Override, ...]  # the sweep's data, budget, fixed overrides, shared hyperparameters, method=clip
    seeds: tuple[int, ...]
    runs_root: str  # where the baseline runs' folders go (one per seed)


def baseline_spec(study: Study, selected: Mapping[str, Any], runs: BaselineSpec) -> BaselineSpec:
    """The CLIP runs that go beside the selected configuration `selected` (its axes' values): `runs` (the sweep's
    preset, data, budget and fixed overrides, the selected seeds) with the shared hyperparameters and method=clip."""
    config = study.expand({k: plain_value(v) for k, v in selected.items() if k != SEED})
    shared = [(k, v) for k, v in config.items() if k in SHARED_AXES]
    return replace(runs, overrides=(*runs.overrides, *shared, ("method", "clip")))


def clip_rows(result: EvalResult) -> EvalResult:
    """A `method=clip` run's test result as the sweep table's baseline rows: its protocol under `concat_`, its
    own embeddings under `plain_` (retrieval only, with intervals and counts)."""
    outcomes = {keys.CONCAT: result.outcomes[keys.MODEL], keys.PLAIN: result.outcomes[keys.PLAIN]}
    metrics = {k: v for prefix, o in outcomes.items() for k, v in o.report(result.split, prefix).items()}
    return EvalResult(result.split, metrics, outcomes)


def train_run(preset: str, overrides: Sequence[Override], out_dir: str, device: torch.device) -> TrainResult:
    """Train one run outside the Tuner: a baseline or a confirmation run, in a Ray task."""
    from rcml_core.runtime.run_config import resolve_run_config
    from rcml_core.train.loop import train

    config = resolve_run_config(preset, overrides=[*overrides, ("out_dir", out_dir), ("device", device.type)])
    return train(config, final_splits=())


def _train_and_test(preset: str, overrides: Sequence[Override], out_dir: str, use_gpu: bool) -> EvalResult:
    from cluster.final_eval import evaluate_best
    from cluster.trial_path import plan_device

    device = plan_device(use_gpu)
    run = train_run(preset, overrides, out_dir, device)
    return clip_rows(evaluate_best(run.best_checkpoint, "test", None, device).test)


def run_baselines(spec: BaselineSpec, plan: TrialPlan) -> list[EvalResult]:
    """One CLIP run per seed, trained and tested in parallel Ray tasks: each seed's `clip_rows` on test."""
    import ray

    task = plan.task(_train_and_test)
    return ray.get([task.remote(spec.preset, [*spec.overrides, ("seed", seed)],
                                str(run_folder(spec.runs_root, seed)), plan.use_gpu)
                    for seed in spec.seeds])


def baseline_table(results: Sequence[EvalResult]) -> dict[str, float]:
    """The baseline rows over seeds (`seed_table`), counts per prefix; `n_seeds` under each prefix."""
    table = seed_table(results)
    n_seeds = table.pop(f"{results[0].split}/{keys.N_SEEDS}", float(len(results))) if results else 0.0
    for prefix in BASELINE_PREFIXES:
        table[keys.count_key(results[0].split, keys.N_SEEDS, prefix)] = n_seeds
    return table


def clip_baselines(ctx: SweepContext, selection: Selection) -> list[EvalResult]:
    """The CLIP baselines' test results, one per selected seed (`clip_rows`; none with --no-baselines)."""
    settings = ctx.settings
    if not settings.baselines:
        return []
    seeds = ([int(s) for s in selection.trials[SEED]] if SEED in selection.trials else list(settings.run_seeds))
    spec = baseline_spec(ctx.study, selection.config, BaselineSpec(settings.preset, ctx.base, tuple(seeds),
                                                                   str(ctx.runs_root)))
    print(f"training the CLIP baselines on {len(seeds)} seed(s) for the test table", flush=True)
    return run_baselines(spec, ctx.plan)
