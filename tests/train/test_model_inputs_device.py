"""Item tensors reach the training device: on CUDA the uint8 images travel pinned and are normalised there."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from rcml_core.runtime.run_config import resolve_run_config
from rcml_core.runtime.session import build_session


@pytest.fixture(scope="module")
def inputs(tiny_data: Path):
    return build_session(resolve_run_config("tiny", overrides=[f"data={tiny_data}", "device=cpu"])).inputs


def test_item_tensors_on_the_cpu_are_normalised_float_pixels(inputs) -> None:
    items = inputs.items(np.arange(4), "cpu")
    assert items.pixel_values.dtype == torch.float32 and items.pixel_values.shape[:2] == (4, 3)
    raw = inputs.images[:4].permute(0, 3, 1, 2).float() / 255.0
    assert torch.allclose(items.pixel_values, (raw - inputs.mean) / inputs.std)


@pytest.mark.gpu
def test_item_tensors_on_cuda_equal_the_cpu_ones(inputs) -> None:
    index = np.arange(6)
    cpu = inputs.items(index, "cpu")
    gpu = inputs.items(index, "cuda")
    assert gpu.pixel_values.device.type == "cuda"
    assert torch.equal(gpu.input_ids.cpu(), cpu.input_ids)
    assert torch.allclose(gpu.pixel_values.cpu(), cpu.pixel_values, atol=1e-6)
