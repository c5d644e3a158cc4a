"""Where a trial runs: `node_tags()`, which its rank-0 worker records on its child run when it starts.

The Ray node id, the host name, the node type (the node label `rcml-node-type` a cluster config
declares, else the autoscaler's RAY_NODE_TYPE_NAME, else "unlabelled"), the node's CPUs and GPUs, and
its price label if any. The cost accounting that uses them is tracking/cost.py (cluster.callbacks'
UsageCallback records it). Imports no MLflow: it runs in the trial.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

import ray

from tracking import cost


def node_tags() -> dict[str, str]:
    """Tags naming the node this process runs on (tracking.cost's TAG_* keys)."""
    context = ray.get_runtime_context()
    node_id = context.get_node_id()
    labels = context.get_node_labels() or {}
    resources: Mapping[str, float] = next((n.get("Resources", {}) for n in ray.nodes() if n.get("NodeID") == node_id),
                                          {})
    node_type = labels.get(cost.NODE_TYPE_LABEL) or os.environ.get("RAY_NODE_TYPE_NAME") or "unlabelled"
    tags = {cost.TAG_NODE_ID: node_id, cost.TAG_HOSTNAME: socket.gethostname(), cost.TAG_NODE_TYPE: str(node_type),
            cost.TAG_NODE_CPUS: f"{float(resources.get('CPU', 0.0)):g}",
            cost.TAG_NODE_GPUS: f"{float(resources.get('GPU', 0.0)):g}"}
    if labels.get(cost.PRICE_LABEL):
        tags[cost.TAG_NODE_PRICE] = str(labels[cost.PRICE_LABEL])
    return tags
