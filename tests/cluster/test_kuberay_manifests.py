"""cluster/kuberay/: a RayCluster and a RayJob that KubeRay v1.7.0 accepts and whose GPU group Ray's autoscaler can
scale from zero for a pending trial. Checked against the spec fields of KubeRay's own CRDs
(tests/cluster/kuberay/crd_schema_v1.7.0.json, unknown fields rejected as `kubectl apply` does) and with the code
the in-tree autoscaler runs to read a RayCluster (ray.autoscaler._private.kuberay.autoscaling_config)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import jsonschema
import pytest
import yaml

from cluster.connect import ClusterInfo
from cluster.resources import ResourceConfig, plan_trials
from cluster.storage import require_shared_storage
from sweeps.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
KUBERAY = ROOT / "cluster" / "kuberay"
SCHEMA = json.loads((Path(__file__).parent / "kuberay" / "crd_schema_v1.7.0.json").read_text())
CLUSTER = yaml.safe_load((KUBERAY / "raycluster.yaml").read_text())
JOB = yaml.safe_load((KUBERAY / "rayjob.yaml").read_text())


def _validator(definition: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({**SCHEMA, "$ref": f"#/$defs/{definition}"})


def _gpu_group(spec: dict) -> dict:
    (group,) = [g for g in spec["workerGroupSpecs"] if g["groupName"] == "gpu-workers"]
    return group


def _entrypoint_args():
    words = shlex.split(JOB["spec"]["entrypoint"])
    assert words[:2] == ["python", "sweeps/beta_sweep.py"]
    return build_parser("x").parse_args(words[2:])


@pytest.mark.parametrize(("manifest", "kind", "definition"), [(CLUSTER, "RayCluster", "rayClusterSpec"),
                                                               (JOB, "RayJob", "rayJobSpec")])
def test_the_manifests_use_only_fields_of_kuberays_ray_io_v1_crds(manifest, kind, definition) -> None:
    assert manifest["apiVersion"] == "ray.io/v1" and manifest["kind"] == kind and manifest["metadata"]["name"]
    errors = sorted(_validator(definition).iter_errors(manifest["spec"]), key=lambda e: list(e.path))
    assert not errors, [f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors]


def test_the_schema_check_rejects_a_misspelt_field() -> None:
    broken = json.loads(json.dumps(CLUSTER["spec"]))
    broken["enableInTreeAutoscaler"] = broken.pop("enableInTreeAutoscaling")
    _gpu_group(broken)["minReplica"] = 0
    messages = " ".join(e.message for e in _validator("rayClusterSpec").iter_errors(broken))
    assert "enableInTreeAutoscaler" in messages and "minReplica" in messages


def test_autoscaling_is_on_the_head_has_no_gpu_and_the_gpu_group_starts_from_zero() -> None:
    spec = CLUSTER["spec"]
    assert spec["enableInTreeAutoscaling"] is True and spec["autoscalerOptions"]["idleTimeoutSeconds"] > 0
    head = spec["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert not any("gpu" in key for part in head["resources"].values() for key in part)
    assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    group = _gpu_group(spec)
    assert group["minReplicas"] == 0 and group["replicas"] == 0 and group["maxReplicas"] >= 1
    worker = group["template"]["spec"]["containers"][0]  # the Ray container: the autoscaler reads the first one
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in \
        group["template"]["spec"]["tolerations"]


def test_rays_autoscaler_can_start_a_gpu_pod_for_a_pending_trial_from_zero_replicas() -> None:
    from ray.autoscaler._private.kuberay.autoscaling_config import _derive_autoscaling_config_from_ray_cr

    config = _derive_autoscaling_config_from_ray_cr({**CLUSTER, "metadata": {**CLUSTER["metadata"],
                                                                              "namespace": "default"}})
    types = config["available_node_types"]
    gpu = types["gpu-workers"]
    assert gpu["min_workers"] == 0 and gpu["max_workers"] == _gpu_group(CLUSTER["spec"])["maxReplicas"]
    # known from the spec alone, before any pod exists: the GPU of the limit and the declared custom resource
    assert gpu["resources"]["GPU"] == 1 and gpu["resources"]["CPU"] == 4 and gpu["resources"]["rcml_worker"] == 1
    assert gpu["labels"]["rcml-node-type"] == "gpu_worker"
    head = types[config["head_node_type"]]["resources"]
    assert head.get("CPU", 0) == 0 and head.get("GPU", 0) == 0
    assert config["idle_timeout_minutes"] == CLUSTER["spec"]["autoscalerOptions"]["idleTimeoutSeconds"] / 60

    # the RayJob's sweep, planned on the cluster as it starts (the head alone): each trial fits one GPU pod
    args = _entrypoint_args()
    joined = ClusterInfo(address="10.1.2.3:6379", started_local=False, cpus=0, gpus=0, nodes=1, dashboard_url=None)
    plan = plan_trials(ResourceConfig(use_gpu=args.use_gpu, worker_resource=args.worker_resource), joined)
    demand = {"CPU" if k == "cpu" else "GPU" if k == "gpu" else k: v for k, v in plan.trial_resources.items()}
    assert all(gpu["resources"].get(k, 0) >= v for k, v in demand.items()), (demand, gpu["resources"])
    assert not all(head.get(k, 0) >= v for k, v in demand.items())  # and never on the head


def test_the_rayjob_runs_the_beta_sweep_on_gpus_with_shared_storage_on_the_same_cluster_spec() -> None:
    spec = JOB["spec"]
    assert spec["rayClusterSpec"] == CLUSTER["spec"]  # one cluster definition, two ways to run it
    assert spec["submissionMode"] == "K8sJobMode" and spec["shutdownAfterJobFinishes"] is True
    args = _entrypoint_args()
    assert args.use_gpu is True and args.data == "/data/baby" and args.storage.startswith("s3://")
    assert args.worker_resource in _gpu_group(spec["rayClusterSpec"])["resources"]
    assert args.max_concurrent == _gpu_group(spec["rayClusterSpec"])["maxReplicas"]
    pod_cluster = ClusterInfo(address="10.1.2.3:6379", started_local=False, cpus=0, gpus=0, nodes=1,
                              dashboard_url=None)
    require_shared_storage(args.storage, pod_cluster)  # accepted where a local folder is refused


def test_the_image_carries_the_ray_version_the_manifests_name() -> None:
    dockerfile = (KUBERAY / "Dockerfile").read_text()
    (base,) = re.findall(r"^FROM rayproject/ray:(\S+)-py311-gpu$", dockerfile, flags=re.M)
    assert base == CLUSTER["spec"]["rayVersion"] == JOB["spec"]["rayClusterSpec"]["rayVersion"]
    images = {c["image"] for group in [CLUSTER["spec"]["headGroupSpec"], *CLUSTER["spec"]["workerGroupSpecs"]]
              for c in group["template"]["spec"]["containers"]}
    assert len(images) == 1  # head and workers run the same code
