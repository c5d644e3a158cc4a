"""Shared test setup: offline Hugging Face, quiet threads, the `gpu` marker."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Ray clusters the tests start (ray.init, `ray start`) listen on 127.0.0.1 only; Ray reads this at import.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.pop("MLFLOW_TRACKING_URI", None)  # tests record into stores they create
os.environ.pop("RAY_ADDRESS", None)  # and start their own Ray instances

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:  # pragma: no cover
        has_cuda = False
    if has_cuda:
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        # the marker, not `"gpu" in item.keywords`: keywords also hold every folder name of the test's path
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip_gpu)
