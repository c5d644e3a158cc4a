"""One checkpoint scores the same in fp32 and with bf16 towers (a GPU run's default, emulated here
with CPU autocast), because the scores themselves are fp32; TF32 is on for fp32 runs on CUDA and
off while evaluating."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from rcml_core.eval import keys
from rcml_core.eval.embedders import RCMLEmbedder
from rcml_core.eval.evaluate import EvalOptions, evaluate_split
from rcml_core.eval.tasks import retrieval_scores
from rcml_core.model.backbone import BackboneConfig, build_backbone
from rcml_core.model.rcml import RCMLConfig, RCMLModel
from rcml_core.train.loop import train
from rcml_core.runtime.run_config import resolve_run_config
from rcml_core.runtime.device import configure_precision, exact_fp32, use_bf16
from rcml_core.runtime.session import load_checkpoint_session

# Largest score difference allowed between fp32 and bf16-tower evaluation of one checkpoint: bf16 keeps
# 8 mantissa bits (relative rounding 2^-9) through the towers; measured 1.6e-3 on this checkpoint.
SCORE_TOLERANCE = 5e-3


@pytest.fixture(scope="module")
def checkpoint(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("precision-run")
    config = resolve_run_config("tiny", overrides=[f"data={tiny_data}", f"out_dir={out}", "batch_size=16",
                                                   "epochs=1", "max_steps_per_epoch=6", "device=cpu"])
    return train(config, final_splits=()).run_dir / "checkpoints" / "last"


def _val_scores(session, whole_evaluation_under_autocast: bool = False) -> dict[str, np.ndarray]:
    context = (torch.autocast("cpu", dtype=torch.bfloat16) if whole_evaluation_under_autocast
               else torch.autocast("cpu", enabled=False))
    with context, torch.no_grad():
        embedder = RCMLEmbedder(session.model, session.inputs, session.dataset.item_indices("val"), 256,
                                session.device)
        return retrieval_scores(embedder, session.dataset.retrieval["val"])


def _tie_rate(scores: np.ndarray) -> float:
    """Share of queries where some negative ties the positive (ties count against the positive)."""
    return float((scores[:, 1:] == scores[:, :1]).any(axis=1).mean())


def test_fp32_and_bf16_tower_evaluation_of_one_checkpoint_agree(checkpoint: Path) -> None:
    fp32 = load_checkpoint_session(checkpoint, device="cpu")
    bf16 = load_checkpoint_session(checkpoint, device="cpu")
    configure_precision(bf16.model, "bf16", bf16.device)  # what precision=auto does on CUDA
    exact, emulated = _val_scores(fp32), _val_scores(bf16)
    old_way = _val_scores(fp32, whole_evaluation_under_autocast=True)  # the evaluation before this policy
    n_queries = len(exact["avg"])
    for sim in exact:
        assert np.abs(emulated[sim] - exact[sim]).max() <= SCORE_TOLERANCE, sim
        assert _tie_rate(emulated[sim]) == _tie_rate(exact[sim]) == 0.0, sim
    # bf16 scores (the whole evaluation under autocast) tie, and every tie counts against the positive
    assert max(_tie_rate(s) for s in old_way.values()) > 0.0
    metrics = [evaluate_split(s.model, s.inputs, s.dataset, "val", "rcml", s.device,
                              EvalOptions(tasks=("retrieval",))).metrics for s in (fp32, bf16)]
    for key, value in metrics[0].items():  # a query may flip between adjacent ranks at most
        if keys.is_interval_or_spread(key):
            continue  # a percentile of the pair bootstrap moves by a resample's copies of the flipped query
        assert abs(metrics[1][key] - value) <= 1.0 / n_queries + 1e-12, key


@pytest.fixture
def restore_cuda_math():
    matmul, conv = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
    yield
    torch.set_float32_matmul_precision(matmul)
    torch.backends.cudnn.allow_tf32 = conv


def test_fp32_runs_on_cuda_use_tf32_and_evaluation_undoes_it(backbone_for_precision, restore_cuda_math) -> None:
    cuda = torch.device("cuda")  # only flags are set: no CUDA device is touched
    model = RCMLModel(backbone_for_precision, RCMLConfig())
    torch.set_float32_matmul_precision("highest")
    configure_precision(model, "fp32", cuda)
    assert torch.get_float32_matmul_precision() == "high" and torch.backends.cudnn.allow_tf32
    with exact_fp32(cuda):
        assert torch.get_float32_matmul_precision() == "highest" and not torch.backends.cudnn.allow_tf32
    assert torch.get_float32_matmul_precision() == "high" and torch.backends.cudnn.allow_tf32


def test_precision_auto_is_bf16_towers_on_cuda_and_plain_fp32_on_the_cpu(backbone_for_precision,
                                                                          restore_cuda_math) -> None:
    model = RCMLModel(backbone_for_precision, RCMLConfig())
    torch.set_float32_matmul_precision("highest")
    configure_precision(model, "auto", torch.device("cpu"))
    assert model.clip.rcml_encoder_autocast is None and torch.get_float32_matmul_precision() == "highest"
    configure_precision(model, "auto", torch.device("cuda"))
    assert model.clip.rcml_encoder_autocast is torch.bfloat16
    assert torch.get_float32_matmul_precision() == "highest"  # bf16 towers; the fp32 rest stays IEEE
    assert use_bf16("bf16", torch.device("cpu")) and not use_bf16("fp32", torch.device("cuda"))
    with exact_fp32(torch.device("cpu")):  # nothing to undo on the CPU
        assert torch.get_float32_matmul_precision() == "highest"


@pytest.fixture
def backbone_for_precision():
    return build_backbone(BackboneConfig(), ["a b c", "d e f"])


@pytest.mark.gpu
def test_on_cuda_one_checkpoint_scores_as_on_the_cpu_within_the_tolerance(checkpoint: Path) -> None:
    cpu = load_checkpoint_session(checkpoint, device="cpu")
    cuda = load_checkpoint_session(checkpoint, device="cuda")  # precision auto: bf16 towers, fp32 scores
    assert cuda.model.clip.rcml_encoder_autocast is torch.bfloat16
    exact = _val_scores(cpu)
    with torch.no_grad(), exact_fp32(cuda.device):
        embedder = RCMLEmbedder(cuda.model, cuda.inputs, cuda.dataset.item_indices("val"), 256, cuda.device)
        on_gpu = retrieval_scores(embedder, cuda.dataset.retrieval["val"])
    for sim in exact:
        assert np.abs(on_gpu[sim] - exact[sim]).max() <= SCORE_TOLERANCE, sim
        assert _tie_rate(on_gpu[sim]) == 0.0, sim
