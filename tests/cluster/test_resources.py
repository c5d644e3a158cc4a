"""Trial resources: a small driver fraction plus workers; concurrency from the cluster."""

from __future__ import annotations

import pytest

from cluster.connect import ClusterError, ClusterInfo, resolve_address
from cluster.resources import ResourceConfig, plan_trials
from cluster.trial_path import InActor, OnWorkerGroup
from rcml_core.errors import ConfigError


def cluster(cpus: float, gpus: float = 0.0, local: bool = True) -> ClusterInfo:
    return ClusterInfo(address="127.0.0.1:1", started_local=local, cpus=cpus, gpus=gpus, nodes=1, dashboard_url=None)


def test_on_two_cpus_each_trial_takes_one_cpu_split_between_driver_and_worker() -> None:
    plan = plan_trials(ResourceConfig(), cluster(2))
    assert plan.driver_cpus == 0.1 and plan.resources_per_worker == {"CPU": 0.9}
    assert plan.max_concurrent_trials == 2 and plan.torch_threads == 1 and not plan.use_gpu


def test_a_one_worker_trial_trains_inside_its_trial_actor_which_holds_the_workers_resources() -> None:
    plan = plan_trials(ResourceConfig(), cluster(2))
    assert plan.path == InActor() and plan.trial_resources == {"cpu": 1.0} and "in the trial's process" in plan.describe()
    gpu = plan_trials(ResourceConfig(), cluster(16, gpus=4, local=False))
    assert gpu.path == InActor() and gpu.trial_resources == {"cpu": 4.0, "gpu": 1.0}  # one g5.xlarge: 4 vCPU, 1 GPU


def test_ddp_trials_and_worker_group_trials_leave_the_workers_resources_to_ray_train() -> None:
    ddp = plan_trials(ResourceConfig(num_workers=2, cpus_per_worker=0.9), cluster(4))
    assert ddp.path == OnWorkerGroup() and ddp.trial_resources == {"cpu": 0.1}
    group = plan_trials(ResourceConfig(in_trial=False), cluster(2))
    assert group.path == OnWorkerGroup() and group.trial_resources == {"cpu": 0.1} and group.max_concurrent_trials == 2
    with pytest.raises(ConfigError, match="in_trial needs one worker"):
        ResourceConfig(num_workers=2, in_trial=True)
    assert "on a Ray Train worker group" in group.describe()


def test_where_a_trial_trains_decides_who_retries_it_and_whether_tune_reuses_its_actor() -> None:
    assert InActor().tune_retries(3) == 3 and OnWorkerGroup().tune_retries(3) == 0  # Ray Train retries inside
    assert InActor().reuse_actors(asha=True) and OnWorkerGroup().reuse_actors(asha=False)
    assert not OnWorkerGroup().reuse_actors(asha=True)  # ASHA's stopped Train run still ends inside fit()
    assert InActor().train_callbacks() == []  # the loop reports to Tune itself
    assert InActor().scaling_config(plan_trials(ResourceConfig(), cluster(2))).num_workers == 0  # local mode


def test_gpu_workers_are_used_when_the_cluster_has_gpus() -> None:
    plan = plan_trials(ResourceConfig(num_workers=2), cluster(16, gpus=4, local=False), n_trials=18)
    assert plan.use_gpu and plan.resources_per_worker == {"CPU": 3.9, "GPU": 1.0}
    assert plan.max_concurrent_trials == 2  # 4 GPUs / 2 per trial


def test_concurrency_never_exceeds_the_number_of_trials_and_can_be_set() -> None:
    assert plan_trials(ResourceConfig(), cluster(8), n_trials=3).max_concurrent_trials == 3
    assert plan_trials(ResourceConfig(max_concurrent_trials=1), cluster(8)).max_concurrent_trials == 1


def test_a_trial_that_cannot_fit_on_the_local_instance_is_an_error() -> None:
    with pytest.raises(ClusterError, match="one trial needs 2.8 CPU"):
        plan_trials(ResourceConfig(num_workers=3), cluster(2))
    with pytest.raises(ClusterError, match="no GPU"):
        plan_trials(ResourceConfig(use_gpu=True), cluster(2))


def test_an_autoscaling_cluster_may_be_short_of_resources_for_now() -> None:
    plan = plan_trials(ResourceConfig(use_gpu=True), cluster(2, gpus=0, local=False))
    assert plan.use_gpu and plan.max_concurrent_trials == 1


def test_a_zero_driver_share_is_rejected() -> None:
    with pytest.raises(ConfigError, match="driver_cpus"):
        ResourceConfig(driver_cpus=0.0)


def test_address_resolution_prefers_the_flag_then_ray_address_then_local() -> None:
    assert resolve_address("10.0.0.1:6379", {"RAY_ADDRESS": "x:1"}) == "10.0.0.1:6379"
    assert resolve_address(None, {"RAY_ADDRESS": "x:1"}) == "x:1"
    assert resolve_address(None, {}) == "local"


def test_a_gpu_worker_gets_four_cpus_to_build_its_batches() -> None:
    plan = plan_trials(ResourceConfig(), cluster(8, gpus=1))
    assert plan.use_gpu and plan.trial_resources == {"cpu": 4.0, "gpu": 1.0} and plan.torch_threads == 3
    assert plan.max_concurrent_trials == 1
    assert plan_trials(ResourceConfig(cpus_per_worker=8), cluster(16, gpus=1)).trial_resources["cpu"] == 8.1


def test_a_joined_cluster_without_gpus_needs_gpu_or_cpu_said_explicitly() -> None:
    with pytest.raises(ClusterError, match=r"has no GPU now: pass --gpu .* or --cpu"):
        plan_trials(ResourceConfig(), cluster(8, gpus=0, local=False))
    assert not plan_trials(ResourceConfig(use_gpu=False), cluster(8, gpus=0, local=False)).use_gpu
    assert plan_trials(ResourceConfig(use_gpu=True), cluster(8, gpus=0, local=False)).use_gpu
    assert not plan_trials(ResourceConfig(), cluster(2)).use_gpu  # an instance started here: what it has


def test_ddp_workers_sharing_a_gpu_are_rejected_before_ray_starts() -> None:
    with pytest.raises(ConfigError, match=r"gpus_per_worker must be a whole number with num_workers=2, got 0.5"):
        ResourceConfig(num_workers=2, gpus_per_worker=0.5)
    with pytest.raises(ConfigError, match="gpus_per_worker must be a whole number"):
        ResourceConfig(num_workers=2, gpus_per_worker=1.5, use_gpu=True)
    ResourceConfig(num_workers=1, gpus_per_worker=0.5)  # trials may share a GPU; ranks of one trial may not
    ResourceConfig(num_workers=2, gpus_per_worker=0.5, use_gpu=False)  # irrelevant on CPU workers
    assert plan_trials(ResourceConfig(num_workers=2, gpus_per_worker=2), cluster(32, gpus=8)).resources_per_worker[
        "GPU"] == 2


def test_a_driver_joining_a_loopback_head_keeps_ray_on_loopback_auto_included(tmp_path) -> None:
    from cluster.connect import current_cluster_file, is_loopback_address, joins_loopback_head

    assert all(is_loopback_address(a) for a in ("127.0.0.1:6379", "ray://127.0.0.1:10001", "http://localhost:8265",
                                                "[::1]:6379", "127.0.0.2:1"))
    assert not any(is_loopback_address(a) for a in ("10.0.0.5:6379", "ray://head:10001", "auto"))
    env = {"RAY_TMPDIR": str(tmp_path)}
    assert current_cluster_file(env) == tmp_path / "ray" / "ray_current_cluster"
    assert not joins_loopback_head("auto", env)  # no cluster recorded: Ray itself will say so
    (tmp_path / "ray").mkdir()
    (tmp_path / "ray" / "ray_current_cluster").write_text("127.0.0.1:6379")
    assert joins_loopback_head("auto", env) and joins_loopback_head(None, {**env, "RAY_ADDRESS": "auto"})
    (tmp_path / "ray" / "ray_current_cluster").write_text("10.0.0.5:6379")  # a head on a routable address
    assert not joins_loopback_head("auto", env)
    assert joins_loopback_head("127.0.0.1:7000", env) and not joins_loopback_head(None, env)


def test_a_worker_resource_is_asked_by_every_training_process_so_trials_avoid_the_head() -> None:
    joined = ClusterInfo(address="127.0.0.1:1", started_local=False, cpus=1, gpus=0, nodes=1, dashboard_url=None,
                         resources={"CPU": 1.0})  # the head alone: no worker node runs yet
    plan = plan_trials(ResourceConfig(use_gpu=False, worker_resource="rcml_worker", max_concurrent_trials=3), joined)
    assert plan.trial_resources == {"cpu": 1.0, "rcml_worker": 1.0} and plan.max_concurrent_trials == 3
    assert "1 rcml_worker" in plan.describe()
    ddp = plan_trials(ResourceConfig(use_gpu=False, num_workers=2, worker_resource="rcml_worker"), joined)
    assert ddp.resources_per_worker == {"CPU": 0.9, "rcml_worker": 1.0} and ddp.trial_resources == {"cpu": 0.1}
    with pytest.raises(ClusterError, match="--worker-resource rcml_worker: the local Ray instance has 0 of it"):
        plan_trials(ResourceConfig(worker_resource="rcml_worker"), cluster(2))
    with pytest.raises(ConfigError, match="worker_resource must name a custom Ray resource"):
        ResourceConfig(worker_resource="GPU")
