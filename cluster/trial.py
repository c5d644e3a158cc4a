"""The per-trial driver: one Tune trial = one Ray Train run of the RCML trainer.

Tune calls `run_trial(config)` with the trial's values (`beta`, `seed`, `variant`, ...)
in the flat override keys of `rcml train`. It resolves and validates the full run
config, opens (or, on a restart, reopens) the trial's MLflow child run through the sweep's
tracking relay (cluster.tracking_relay: trials import no MLflow), builds a
`TorchTrainer` named after the trial id (no timestamp: a restarted trial finds its Train run again)
and runs it where the plan's trial path says (cluster.trial_path: in this actor or on a worker
group; the path also says how the run reports and who retries it, up to `max_failures`).

A trial that raises or diverges fails alone: Tune records the error (its root cause, e.g.
"diverged at step 12: loss is nan"), the driver ends its child run FAILED with that reason
(`rcml.failure`, cluster.callbacks) and the sweep goes on with the others.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ray.train
from ray import tune
from ray.train.torch import TorchTrainer

from cluster.ray_compat import quiet_ray_train_logs
from cluster.resources import TrialPlan
from cluster.study import Study, format_override
from cluster.tracking_relay import open_trial_run
from cluster.worker import local_run_dir, train_worker
from rcml_core.config import Override
from rcml_core.errors import RCMLError
from tracking.run_tags import TAG_CONFIGURATION, TAG_SEED, configuration_label, seed_value


class TrialFailed(RuntimeError):
    """A trial's training run failed; the message is the root cause (e.g. 'diverged at step 12: ...')."""


@dataclass(frozen=True)
class TrialSettings:
    """Everything fixed for all trials of a sweep (passed with `tune.with_parameters`)."""

    study: Study
    preset: str
    overrides: tuple[Override, ...]  # sweep-wide overrides (data, budget, command line)
    runs_root: str  # trial run folders (the loop's out_dir) live under it
    train_storage: str  # Ray Train storage_path of the sweep's Train runs (local folder or URI)
    plan: TrialPlan
    tracking: Any | None  # the sweep's tracking relay (cluster.tracking_relay.start_relay); None: record nothing
    max_failures: int = 0  # retries of a trial after failures (by Tune or Ray Train: cluster.trial_path)
    final_splits: tuple[str, ...] = ("val",)  # splits each trial fully evaluates at its end


def trial_overrides(settings: TrialSettings, config: Mapping[str, Any], trial_id: str) -> list[Override]:
    """The trial's overrides on top of the preset: sweep-wide ones, the trial's values, its run folder.

    The worker resolves them into the run config (cluster.worker); the launcher validated every
    value of the study before the sweep started.
    """
    values = sorted(settings.study.expand(config).items())  # typed, as the study gave them
    out_dir = str(local_run_dir(settings.runs_root, trial_id))
    device = "cuda" if settings.plan.use_gpu else "cpu"  # recorded; the worker pins the granted device itself
    return [*settings.overrides, *values, ("out_dir", out_dir), ("train.num_threads", settings.plan.torch_threads),
            ("train.device", device)]


def run_name(config: Mapping[str, Any], keys: Sequence[str]) -> str:
    """The child run's name in the MLflow UI: the study's axes and the seed, e.g. 'beta=0.6 seed=1'."""
    shown = [k for k in (*keys, "seed") if k in config] or sorted(config)
    return " ".join(format_override(k, config[k]) for k in shown) or "trial"


def failure_reason(exc: BaseException) -> str:
    """The root cause of a failed Train run, in one line (the rank-0 worker's error first)."""
    failures = getattr(exc, "worker_failures", None)
    if failures:
        exc = failures[min(failures)]
    seen: list[BaseException] = []
    node: BaseException | None = exc
    while node is not None and node not in seen:
        seen.append(node)
        if isinstance(node, RCMLError):
            return str(node)
        node = getattr(node, "cause", None) or node.__cause__
    root = seen[-1]
    lines = [line for line in str(root).splitlines() if line.strip()]
    return f"{type(root).__name__}: {lines[-1] if lines else ''}".strip()


def build_trainer(settings: TrialSettings, overrides: list[str], trial_id: str, run_id: str | None) -> TorchTrainer:
    plan = settings.plan
    return TorchTrainer(
        train_worker,
        train_loop_config={"preset": settings.preset, "overrides": overrides, "tracking": settings.tracking,
                           "mlflow_run_id": run_id, "final_splits": settings.final_splits,
                           "trial_path": plan.path, "use_gpu": plan.use_gpu},
        scaling_config=plan.path.scaling_config(plan),
        run_config=ray.train.RunConfig(
            name=f"train-{trial_id}",  # no timestamp: a restarted trial resumes this Train run
            storage_path=settings.train_storage,
            failure_config=ray.train.FailureConfig(max_failures=settings.max_failures),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=1),
            callbacks=plan.path.train_callbacks(),
            logging_config=ray.train.LoggingConfig(log_level="WARNING"),  # the sweep prints its own progress
        ),
    )


def run_trial(config: dict[str, Any], settings: TrialSettings) -> None:
    """Tune function trainable: train one configuration on Ray Train (see the module docstring)."""
    quiet_ray_train_logs()
    context = tune.get_context()
    trial_id = context.get_trial_id()
    run_id = None
    if settings.tracking is not None:
        run_id = open_trial_run(settings.tracking, trial_id, run_name(config, settings.study.axes),
                                tags={"rcml.trial_name": context.get_trial_name(), TAG_SEED: seed_value(config),
                                      TAG_CONFIGURATION: configuration_label(config, settings.study.axes)})
    try:
        build_trainer(settings, trial_overrides(settings, config, trial_id), trial_id, run_id).fit()
    except Exception as exc:  # noqa: BLE001 - reported to Tune with its root cause
        # The driver's TrialRunsCallback ends the run FAILED with this reason. Not here: when ASHA stops a
        # trial, Tune tears its Train run down and fit() raises too, but that trial ends FINISHED.
        raise TrialFailed(failure_reason(exc)) from None
    # The run stays RUNNING: the driver ends it FINISHED once Tune has recorded this trial complete
    # (cluster.callbacks), so that an interrupt in between cannot leave a FINISHED run for a trial
    # that --resume runs again.
