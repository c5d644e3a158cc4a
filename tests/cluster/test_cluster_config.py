"""ray_cluster.yaml is a valid autoscaler config whose GPU workers scale from 0 to N and back."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text())


def test_the_cluster_config_passes_rays_own_validation() -> None:
    config = _load("ray_cluster.yaml")
    validate_config(prepare_config(copy.deepcopy(config)))  # what `ray up` does first


def test_gpu_workers_scale_from_zero_and_back_and_the_head_has_no_gpu() -> None:
    config = _load("ray_cluster.yaml")
    nodes = config["available_node_types"]
    gpu = nodes["gpu_worker"]
    assert gpu["min_workers"] == 0 and gpu["max_workers"] >= 1 and gpu["resources"]["GPU"] >= 1
    assert config["idle_timeout_minutes"] > 0 and not config["provider"]["cache_stopped_nodes"]
    assert nodes[config["head_node_type"]]["resources"].get("GPU", 0) == 0
    assert any("pip install -q -e ~/rcml-sweeps" in c for c in config["setup_commands"])


def test_the_local_autoscaling_config_uses_the_fake_provider() -> None:
    config = _load("cluster/autoscaling_local.yaml")
    validate_config(copy.deepcopy(config))  # prepare_config needs an example file the wheel lacks for this provider
    assert config["provider"]["type"] == "fake_multinode"
    assert config["available_node_types"]["ray.worker.cpu"]["min_workers"] == 0


def test_node_types_carry_the_label_that_names_them_on_each_trials_run() -> None:
    from tracking.cost import NODE_TYPE_LABEL

    for name in ("ray_cluster.yaml", "cluster/autoscaling_local.yaml"):
        types = _load(name)["available_node_types"]
        assert all(NODE_TYPE_LABEL in t.get("labels", {}) for t in types.values()), name
    local = _load("cluster/autoscaling_local.yaml")["available_node_types"]
    assert local["ray.worker.cpu"]["resources"]["rcml_worker"] == 1  # what --worker-resource asks for
    assert "rcml_worker" not in local["ray.head.default"]["resources"]  # so no trial lands on the head
