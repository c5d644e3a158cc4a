"""How much of the cluster one trial takes, and how many trials run at once.

A trial is a Tune function (the per-trial driver) plus its Ray Train run of `num_workers`
workers, trained in the trial's own actor or on a Ray Train worker group: `plan_trials` picks
that path once (cluster.trial_path) and the plan carries it. Each worker takes the rest of one CPU
after its driver's share, or a GPU with `GPU_WORKER_CPUS` CPUs.

A GPU worker gets several CPUs: its batches are built on the host (sampling, false-negative
masks, gathering ~900 images of 150 KB at 224 px per batch of 512 pairs, pinned copies), and
one CPU thread builds about 2k pairs/s where a ViT-B/32 step on an H100 takes 5-9k
(docs/performance.md §8). Four CPUs per GPU is what a g5.xlarge has.

Which device: a cluster started here uses its GPUs when it has any. A cluster joined by address
(`ray job submit`, an autoscaling cluster) that has no GPU yet is refused unless the command says
--gpu (GPU trials; the autoscaler starts GPU nodes for them) or --cpu: the default would otherwise
train on the head's CPUs, and the autoscaler would never add a GPU node.

Where: `worker_resource` names a custom resource (`--worker-resource rcml_worker`) that every
training process asks one unit of (the trial's actor when it trains in it, else each Ray Train
worker). Declared only by the worker node types of a cluster config, it keeps training off the
head; an autoscaler adds a node of such a type for every pending trial. A cluster started here has
no custom resources: asking for one there is an error, not a trial that waits forever.

Concurrency defaults to what fits the cluster's current resources; pass
`max_concurrent_trials` on an autoscaling cluster, where GPU nodes appear on demand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cluster import trial_path
from cluster.connect import ClusterError, ClusterInfo
from rcml_core.config import check_range
from rcml_core.errors import ConfigError

GPU_WORKER_CPUS = 4.0  # CPUs per GPU worker, its trial driver's share included (a g5.xlarge: 4 vCPU, 1 GPU)
BUILTIN_RESOURCES = frozenset({"CPU", "GPU", "memory", "object_store_memory", "cpu", "gpu"})


@dataclass(frozen=True)
class ResourceConfig:
    num_workers: int = 1  # Ray Train workers per trial (DDP when > 1)
    use_gpu: bool | None = None  # None: GPUs when the cluster has any (a joined cluster without GPUs: an error)
    cpus_per_worker: float | None = None  # None: 1 - driver_cpus without GPUs (a trial fits one CPU),
    #                                       GPU_WORKER_CPUS - driver_cpus with
    gpus_per_worker: float = 1.0
    driver_cpus: float = 0.1  # the per-trial Tune driver; must be > 0
    max_concurrent_trials: int | None = None  # None: as many as the cluster's resources fit
    in_trial: bool | None = None  # train inside the trial's actor (Ray Train local mode); None: when 1 worker
    worker_resource: str | None = None  # a custom resource each training process asks 1 unit of (module docstring)

    def __post_init__(self) -> None:
        name = self.worker_resource
        if name is not None and (not isinstance(name, str) or not name or name in BUILTIN_RESOURCES
                                 or not all(c.isalnum() or c in "_-./:" for c in name)):
            raise ConfigError(f"resources.worker_resource must name a custom Ray resource (letters, digits, _-./:; "
                              f"not one of {sorted(BUILTIN_RESOURCES)}), got {name!r}")
        check_range("resources.num_workers", self.num_workers, 1, None)
        if self.in_trial is not None and not isinstance(self.in_trial, bool):
            raise ConfigError(f"resources.in_trial must be true, false or unset, got {self.in_trial!r}")
        if self.in_trial and self.num_workers > 1:
            raise ConfigError(f"resources.in_trial needs one worker per trial, got num_workers={self.num_workers}; "
                              "DDP trials run on a Ray Train worker group")
        check_range("resources.driver_cpus", self.driver_cpus, 0.0, 1.0, low_open=True)
        check_range("resources.gpus_per_worker", self.gpus_per_worker, 0.0, None, low_open=True)
        if self.num_workers > 1 and self.use_gpu is not False and self.gpus_per_worker != int(self.gpus_per_worker):
            raise ConfigError(
                f"resources.gpus_per_worker must be a whole number with num_workers={self.num_workers}, got "
                f"{self.gpus_per_worker:g}: DDP ranks sharing a GPU is rejected by NCCL; use --gpus-per-worker 1, "
                "or one worker per trial to share GPUs between trials")
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
    path: trial_path.TrialPath = trial_path.OnWorkerGroup()  # where each trial trains (cluster.trial_path)
    worker_resource: str | None = None  # custom resource, 1 unit per training process

    @property
    def resources_per_worker(self) -> dict[str, float]:
        res = {"CPU": self.cpus_per_worker}
        if self.use_gpu:
            res["GPU"] = self.gpus_per_worker
        if self.worker_resource:
            res[self.worker_resource] = 1.0
        return res

    @property
    def trial_gpus(self) -> float:
        """GPUs a trial holds while it runs (its workers')."""
        return self.num_workers * self.gpus_per_worker if self.use_gpu else 0.0

    @property
    def trial_cpus(self) -> float:
        return self.driver_cpus + self.num_workers * self.cpus_per_worker

    @property
    def trial_resources(self) -> dict[str, float]:
        """What the trial's own actor asks Tune for (its workers, if any, ask for their own)."""
        return self.path.trial_resources(self)

    def task(self, fn):
        """`fn` as a Ray task with a trial's worker resources (a GPU when the trials have one): the test
        evaluation, the CLIP baselines and the confirmation runs."""
        import ray

        return ray.remote(fn).options(num_cpus=self.cpus_per_worker,
                                      num_gpus=self.gpus_per_worker if self.use_gpu else 0)

    def describe(self) -> str:
        device = f"{self.gpus_per_worker:g} GPU + " if self.use_gpu else ""
        custom = f" + 1 {self.worker_resource}" if self.worker_resource else ""
        return (f"{self.num_workers} worker(s) x ({device}{self.cpus_per_worker:g} CPU{custom}) + "
                f"{self.driver_cpus:g} CPU driver per trial, {self.path.description}, "
                f"up to {self.max_concurrent_trials} trial(s) at once")


def plan_trials(config: ResourceConfig, cluster: ClusterInfo, n_trials: int | None = None) -> TrialPlan:
    """Resources per trial and concurrency for this cluster; an error when one trial cannot fit locally."""
    if config.use_gpu and cluster.gpus == 0 and cluster.started_local:
        raise ClusterError("GPU workers were asked for, but the local Ray instance has no GPU")
    if config.use_gpu is None and cluster.gpus == 0 and not cluster.started_local:
        raise ClusterError(
            f"the Ray cluster at {cluster.address} has no GPU now: pass --gpu for GPU trials (an autoscaling "
            "cluster starts GPU nodes for them) or --cpu to train on its CPUs")
    use_gpu = cluster.gpus > 0 if config.use_gpu is None else config.use_gpu
    cpus = (config.cpus_per_worker if config.cpus_per_worker is not None
            else round((GPU_WORKER_CPUS if use_gpu else 1.0) - config.driver_cpus, 6))
    plan_cpus = config.driver_cpus + config.num_workers * cpus
    fits = math.floor(cluster.cpus / plan_cpus + 1e-9) if plan_cpus else 0
    if use_gpu:
        fits = min(fits, math.floor(cluster.gpus / (config.num_workers * config.gpus_per_worker) + 1e-9))
    if config.worker_resource:
        units = cluster.resources.get(config.worker_resource, 0.0)
        if cluster.started_local and units < config.num_workers:
            raise ClusterError(f"--worker-resource {config.worker_resource}: the local Ray instance has "
                               f"{units:g} of it; it is declared by the worker node types of a cluster config "
                               "(cluster/autoscaling_local.yaml), so join that cluster with --address")
        fits = min(fits, math.floor(units / config.num_workers + 1e-9))
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
        path=trial_path.choose(config.num_workers, config.in_trial),
        worker_resource=config.worker_resource,
    )
