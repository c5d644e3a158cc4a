"""Writes crd_schema_v1.7.0.json, the part of KubeRay's CRDs that tests/cluster/test_kuberay_manifests.py checks
cluster/kuberay/*.yaml against: the `spec` of RayCluster and RayJob (apiVersion ray.io/v1) from the operator's
CustomResourceDefinitions, without descriptions, the pod template (the same corev1 schema in every group)
stored once and cut 6 levels down (template > spec > containers > item > resources > limits), and every object
closed to unknown fields, as `kubectl apply` (strict field validation) treats them.

    git clone --branch v1.7.0 https://github.com/ray-project/kuberay
    python tests/cluster/kuberay/make_crd_schema.py kuberay/ray-operator/config/crd/bases
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

KEEP = ("type", "required", "enum", "format", "x-kubernetes-int-or-string", "x-kubernetes-preserve-unknown-fields")
SHARED = {"template": "#/$defs/podTemplate", "submitterPodTemplate": "#/$defs/podTemplate",
          "rayClusterSpec": "#/$defs/rayClusterSpec"}
POD_TEMPLATE_DEPTH = 6


def prune(schema: dict, depth: int, shared: dict[str, str] | None = None, name: str = "") -> dict:
    if depth <= 0:
        return {}
    if shared and name in shared and schema.get("type") == "object":
        return {"$ref": shared[name]}
    out = {k: schema[k] for k in KEEP if k in schema}
    if "anyOf" in schema:
        out["anyOf"] = [prune(s, depth, shared, name) for s in schema["anyOf"]]
    if "properties" in schema:
        out["properties"] = {k: prune(v, depth - 1, shared, k) for k, v in schema["properties"].items()}
        if not schema.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    if "items" in schema:
        out["items"] = prune(schema["items"], depth - 1, shared)
    if isinstance(schema.get("additionalProperties"), dict):
        out["additionalProperties"] = prune(schema["additionalProperties"], depth - 1, shared)
    return out


def spec_schema(crd_file: Path) -> dict:
    crd = yaml.safe_load(crd_file.read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    return version["schema"]["openAPIV3Schema"]["properties"]["spec"]


def main(crd_dir: str) -> None:
    cluster = spec_schema(Path(crd_dir) / "ray.io_rayclusters.yaml")
    job = spec_schema(Path(crd_dir) / "ray.io_rayjobs.yaml")
    pod_template = cluster["properties"]["headGroupSpec"]["properties"]["template"]
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "comment": "KubeRay v1.7.0 CRDs, ray.io/v1 spec fields (tests/cluster/kuberay/make_crd_schema.py)",
        "$defs": {"podTemplate": prune(pod_template, POD_TEMPLATE_DEPTH),
                  "rayClusterSpec": prune(cluster, 64, SHARED),
                  "rayJobSpec": prune(job, 64, SHARED)},
    }
    out = Path(__file__).with_name("crd_schema_v1.7.0.json")
    out.write_text(json.dumps(schema, separators=(",", ":"), sort_keys=True) + "\n")
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main(sys.argv[1])
