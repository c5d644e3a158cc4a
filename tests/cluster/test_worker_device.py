"""A trial's device follows its resource plan, whatever torch or CUDA_VISIBLE_DEVICES say (faked here:
no GPU is needed), and a GPU grant torch cannot use is an error naming the node."""

from __future__ import annotations

import socket

import pytest
import ray
import ray.train.torch
import torch

from cluster.connect import ClusterError
from cluster.trial_path import InActor, OnWorkerGroup, plan_device


class _Context:
    def get_node_id(self) -> str:
        return "a1b2c3d4e5f6a7b8c9d0"


@pytest.fixture
def node(monkeypatch):
    """A fake Ray node: set `granted` GPU ids, `cuda` availability and the visible devices."""

    class Node:
        def __init__(self) -> None:
            self.granted: list = []
            self.cuda = False

    fake = Node()
    monkeypatch.setattr(ray, "get_gpu_ids", lambda: fake.granted)
    monkeypatch.setattr(ray, "get_runtime_context", lambda: _Context())
    monkeypatch.setattr(torch.cuda, "is_available", lambda: fake.cuda)
    monkeypatch.setattr(ray.train.torch, "get_device", lambda: torch.device("cuda", 1))
    return fake


def test_cpu_trials_run_on_the_cpu_even_on_a_node_where_cuda_is_visible(node, monkeypatch) -> None:
    node.cuda = True  # Ray 2.60 leaves CUDA_VISIBLE_DEVICES alone for 0-GPU actors
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")
    assert plan_device(False) == InActor().device(False) == torch.device("cpu")
    assert OnWorkerGroup().device(False) == torch.device("cpu")


def test_gpu_trials_on_a_worker_group_use_ray_trains_device(node) -> None:
    node.granted, node.cuda = [3], True
    assert OnWorkerGroup().device(True) == torch.device("cuda", 1)


def test_a_gpu_trial_in_its_own_actor_uses_the_granted_gpus_visible_index(node, monkeypatch) -> None:
    node.granted, node.cuda = ["2"], True
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2")  # what Ray sets for an actor holding GPU 2
    assert InActor().device(True) == torch.device("cuda", 0)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")  # a node where every GPU stays visible
    assert plan_device(True) == torch.device("cuda", 2)


def test_a_gpu_grant_without_cuda_in_torch_is_an_error_naming_the_node(node) -> None:
    node.granted, node.cuda = [0], False  # a CPU build of torch, or a driver mismatch
    host = socket.gethostname()
    with pytest.raises(ClusterError, match=rf"planned on a GPU but on node {host} \(Ray node a1b2c3d4e5f6\) torch "
                                           r".* sees no CUDA device; .* or run the sweep with --cpu"):
        OnWorkerGroup().device(True)
    node.granted, node.cuda = [], True
    with pytest.raises(ClusterError, match="Ray granted it no GPU id"):
        InActor().device(True)
