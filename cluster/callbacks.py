"""Driver-side Tune callback that keeps every trial's MLflow child run in a terminal state.

- A trial completes: its run is ended FINISHED here, when Tune has recorded the trial complete,
  not by the trial itself. A sweep interrupted between a trial's last step and Tune's record of
  it then never shows a FINISHED run for a trial that `--resume` runs again (the run is still
  RUNNING, the interrupt ends it KILLED, the resumed trial reopens it). Tags say how it ended:
  `rcml.stopped_by=early_stopping` when the loop's patience stopped it, `rcml.stopped_by=asha`
  when ASHA stopped it before its last epoch (a normal outcome of a search, not a failure),
  none when it trained to the end (also when ASHA's max_t stops it on its final result).
- A trial errors (the trial ends its run FAILED with the root cause when it can), errors before
  its run existed, or its actor died (OOM, node lost): the run is created if needed and ended
  FAILED with Tune's error.

`StopOnStorageRefusal`: a trial that failed because a disk refused a write (full, over quota, read-only)
stops the sweep as Ctrl+C does, since every trial after it would fail the same way; the tune stage then
ends the sweep with one line naming the refusal (cluster/tuner.py).

`UsageCallback` (placed before it): Tune starting a trial and ending it bound the time the trial held
its resources; its cost metrics (tracking/cost.py) are logged on its child run before the run ends.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping

from ray.tune import Callback

from cluster.outcome import trial_error
from cluster.resources import TrialPlan
from rcml_core.eval.keys import SELECTION_METRIC
from tracking import cost
from tracking.mlflow_tracker import MlflowTracker
from tracking.sweep_runs import (FINISHED, RUNNING, TAG_STOPPED_BY, SweepTracking, end_run, find_trial_run,
                                 settle_trial_run)


class TrialRunsCallback(Callback):
    def __init__(self, tracking: SweepTracking, epochs: int) -> None:
        self.tracking = tracking
        self.epochs = epochs  # a trial that reported this epoch trained to the end

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        client = self.tracking.client()
        run = find_trial_run(self.tracking, trial.trial_id, client)
        if run is not None and run.info.status == RUNNING:
            completed = int((trial.last_result or {}).get("epoch", -1)) >= self.epochs
            stopped_by = ("early_stopping" if run.data.tags.get("status") == "early_stopped"  # the loop's own patience
                          else None if completed else "asha")
            end_run(client, run.info.run_id, FINISHED, {TAG_STOPPED_BY: stopped_by} if stopped_by else {})

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        settle_trial_run(self.tracking, trial.trial_id, "ERROR", trial_error(trial))


# What the kernel says when a write is refused for want of room or permission (errno 28, 122, 30), as it
# appears in a trial's error text.
STORAGE_REFUSALS = ("No space left on device", "Disk quota exceeded", "Read-only file system")


class StopOnStorageRefusal(Callback):
    def __init__(self) -> None:
        self.refusal: str | None = None  # the first such trial's error line

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        line = trial_error(trial)
        if self.refusal is None and any(r in line for r in STORAGE_REFUSALS):
            self.refusal = f"trial {trial.trial_id}: {line}"
            os.kill(os.getpid(), signal.SIGINT)  # Tune stops its trials and keeps its state, as on Ctrl+C


class UsageCallback(Callback):
    """Logs each trial's cost metrics (tracking.cost) on its child run when the trial ends."""

    def __init__(self, tracking: SweepTracking, plan: TrialPlan, prices: Mapping[str, float]) -> None:
        self.tracking = tracking
        self.held = cost.Held(cpus=plan.trial_cpus, gpus=plan.trial_gpus)
        self.prices = dict(prices)
        self.started: dict[str, float] = {}

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self.started[trial.trial_id] = time.time()

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        started = self.started.pop(trial.trial_id, None)
        if started is None:  # ended without starting in this driver (restored as done)
            return
        client = self.tracking.client()
        run = find_trial_run(self.tracking, trial.trial_id, client)
        if run is None:  # failed before opening its run: TrialRunsCallback creates it, without a node
            return
        usage = cost.trial_usage(self.held, started, time.time(), run.data.tags, self.prices)
        MlflowTracker(client, run.info.run_id).log_metrics(usage, step=0)

    on_trial_error = on_trial_complete  # a failed trial held its resources as long


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class ProgressCallback(Callback):
    """One console line per trial event, instead of Tune's wide tables:

        [ 3/18] beta=0.6 seed=1  epoch 2  val hit@5 0.6121 (best 0.6121)
    """

    def __init__(self, keys: list[str], total: int, metric: str = SELECTION_METRIC) -> None:
        self.keys, self.total, self.metric = keys, total, metric
        self.done = 0

    def _name(self, trial) -> str:
        keys = self.keys or sorted(k for k in trial.config if k != "seed")  # a search: every sampled value
        shown = [k for k in (*keys, "seed") if k in trial.config]
        return " ".join(f"{k}={_short(trial.config[k])}" for k in shown)

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        if self.metric in result:
            best = result.get(f"best/{self.metric}", result[self.metric])
            print(f"[{self.done:>2}/{self.total}] {self._name(trial)}  epoch {int(result.get('epoch', 0))}  "
                  f"{self.metric} {result[self.metric]:.4f} (best {best:.4f})", flush=True)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self.done += 1
        print(f"[{self.done:>2}/{self.total}] {self._name(trial)}  done", flush=True)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self.done += 1
        print(f"[{self.done:>2}/{self.total}] {self._name(trial)}  FAILED: {trial_error(trial)}", flush=True)
