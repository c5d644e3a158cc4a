"""Where a run computes and in which precision: device resolution, the precision policy, exact evaluation.

A run started without a resource plan (`rcml train`, `rcml eval`, serving) resolves `train.device`
here; under Ray the trial's plan names the device instead (cluster.worker.plan_device). The precision
policy (docs/performance.md §8): the backbone's towers under bf16 autocast on CUDA (precision auto or
bf16), everything after them in fp32; TF32 matmuls for fp32 runs on CUDA, undone inside `exact_fp32`
for evaluation scores.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from rcml_core.errors import ConfigError
from rcml_core.model.rcml import RCMLModel


def resolve_device(preference: str, local_rank: int = 0) -> torch.device:
    """train.device for a run started without a resource plan (`rcml train`, `rcml eval`, serving).

    Under Ray the device comes from the trial's plan instead (cluster.worker.plan_device), passed
    to build_session: "auto" would fall back to the CPU silently on a GPU node without CUDA.
    """
    if preference == "cpu" or (preference == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError("train.device is 'cuda' but no CUDA device is available")
    return torch.device("cuda", local_rank % torch.cuda.device_count())


def use_bf16(precision: str, device: torch.device) -> bool:
    """Whether the backbone's towers run under bf16 autocast: precision bf16, or auto on CUDA."""
    if precision == "bf16":
        return True
    return precision == "auto" and device.type == "cuda"


def configure_precision(model: RCMLModel, precision: str, device: torch.device) -> None:
    """The run's precision policy (docs/performance.md §8).

    bf16 (precision bf16, or auto on CUDA): the towers under bf16 autocast, everything after them fp32.
    fp32 on CUDA: TF32 tensor cores for fp32 matmuls and convolutions (10-bit mantissa inputs, fp32
    accumulation); evaluation undoes it (`exact_fp32`). On the CPU fp32 is plain fp32.
    """
    model.set_encoder_autocast(torch.bfloat16 if use_bf16(precision, device) else None)
    if device.type == "cuda" and not use_bf16(precision, device):
        torch.set_float32_matmul_precision("high")  # the legacy call: torch.compile still reads the legacy flag
        torch.backends.cudnn.allow_tf32 = True


@contextmanager
def exact_fp32(device: torch.device) -> Iterator[None]:
    """IEEE fp32 matmuls and convolutions inside the block on CUDA (evaluation scores): no TF32 rounding,
    so a GPU and a CPU evaluation of one checkpoint differ only by the towers' precision."""
    if device.type != "cuda":
        yield
        return
    matmul, conv = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
    torch.set_float32_matmul_precision("highest")
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(matmul)
        torch.backends.cudnn.allow_tf32 = conv
