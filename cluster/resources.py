"""How much of the cluster one trial takes, and how many trials run at once.

A trial is a Tune function (the per-trial driver, which only waits on its Train run)
plus `num_workers` Ray Train workers. The driver asks for a small fraction of a CPU:
Tune rejects 0, and with a whole CPU per driver two trials on a 2-CPU machine each hold
a CPU their workers need and wait for each other forever
(`WorkerGroupStartupTimeoutError`). Each worker takes the rest of one CPU, or a GPU.

Concurrency defaults to what fits the cluster's current resources; pass
`max_concurrent_trials` on an autoscaling cluster, where GPU nodes appear on demand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cluster.connect import ClusterError, ClusterInfo
from rcml_core.config import check_range


@dataclass(frozen=True)
class ResourceConfig:
    num_workers: int = 1  # Ray Train workers per trial (DDP when > 1)
    use_gpu: bool | None = None  # None: GPUs when the cluster has any
    cpus_per_worker: float | None = None  # None: 1 - driver_cpus without GPUs (a trial fits one CPU), 1 with
    gpus_per_worker: float = 1.0
    driver_cpus: float = 0.1  # the per-trial Tune driver; must be > 0
    max_concurrent_trials: int | None = None  # None: as many as the cluster's resources fit

    def __post_init__(self) -> None:
        check_range("resources.num_workers", self.num_workers, 1, None)
        check_range("resources.driver_cpus", self.driver_cpus, 0.0, 1.0, low_open=True)
        check_range("resources.gpus_per_worker", self.gpus_per_worker, 0.0, None, low_open=True)
        if self.cpus_per_worker is not None:
            check_range("resources.cpus_per_worker", self.cpus_per_worker, 0.0, None, low_open=True)
        if self.max_concurrent_trials is not None:
            check_range("resources.max_concurrent_trials", self.max_concurrent_trials, 1, None)


@dataclass(frozen=True)
class TrialPlan:
    """Resolved resources of every trial of a sweep."""

    driver_cpus: float
    num_workers: int
    use_gpu: bool
    cpus_per_worker: float
    gpus_per_worker: float
    max_concurrent_trials: int
    torch_threads: int  # intra-op threads each worker's torch uses

    @property
    def resources_per_worker(self) -> dict[str, float]:
        res = {"CPU": self.cpus_per_worker}
        if self.use_gpu:
            res["GPU"] = self.gpus_per_worker
        return res

    @property
    def trial_cpus(self) -> float:
        return self.driver_cpus + self.num_workers * self.cpus_per_worker

    def describe(self) -> str:
        device = f"{self.gpus_per_worker:g} GPU + " if self.use_gpu else ""
        return (f"{self.num_workers} worker(s) x ({device}{self.cpus_per_worker:g} CPU) + {self.driver_cpus:g} CPU "
                f"driver per trial, up to {self.max_concurrent_trials} trial(s) at once")


def plan_trials(config: ResourceConfig, cluster: ClusterInfo, n_trials: int | None = None) -> TrialPlan:
    """Resources per trial and concurrency for this cluster; an error when one trial cannot fit locally."""
    if config.use_gpu and cluster.gpus == 0 and cluster.started_local:
        raise ClusterError("GPU workers were asked for, but the local Ray instance has no GPU")
    use_gpu = cluster.gpus > 0 if config.use_gpu is None else config.use_gpu
    if config.cpus_per_worker is not None:
        cpus = config.cpus_per_worker
    else:
        cpus = 1.0 if use_gpu else round(1.0 - config.driver_cpus, 6)
    plan_cpus = config.driver_cpus + config.num_workers * cpus
    fits_cpu = math.floor(cluster.cpus / plan_cpus + 1e-9) if plan_cpus else 0
    fits = fits_cpu
    if use_gpu:
        fits = min(fits, math.floor(cluster.gpus / (config.num_workers * config.gpus_per_worker) + 1e-9))
    if fits < 1:
        need = f"{plan_cpus:g} CPU" + (f" and {config.num_workers * config.gpus_per_worker:g} GPU" if use_gpu else "")
        have = f"{cluster.cpus:g} CPU and {cluster.gpus:g} GPU"
        if cluster.started_local:
            raise ClusterError(f"one trial needs {need}, but the local Ray instance has {have}; "
                               "lower --num-workers / --cpus-per-worker")
        fits = 1  # an autoscaling cluster adds nodes for the pending trial
    concurrent = config.max_concurrent_trials or fits
    if n_trials is not None:
        concurrent = max(1, min(concurrent, n_trials))
    return TrialPlan(
        driver_cpus=config.driver_cpus,
        num_workers=config.num_workers,
        use_gpu=use_gpu,
        cpus_per_worker=cpus,
        gpus_per_worker=config.gpus_per_worker,
        max_concurrent_trials=concurrent,
        torch_threads=max(1, math.floor(cpus + 1e-9)),
    )
