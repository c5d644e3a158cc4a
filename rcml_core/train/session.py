"""Everything a run needs before its first step: device, seeds, data, backbone, model, inputs.

Shared by training (`loop.train`) and by evaluation of a saved checkpoint
(`load_checkpoint_session`), so both see the same tokenizer, relation texts and
image preprocessing.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rcml_core.config import config_from_dict
from rcml_core.data.io import load_dataset
from rcml_core.data.schema import RelationalDataset
from rcml_core.errors import ConfigError
from rcml_core.model.backbone import Backbone, build_backbone, load_backbone
from rcml_core.model.rcml import RCMLModel
from rcml_core.train.checkpoint import load_model_weights, read_checkpoint_config
from rcml_core.train.inputs import NEUTRAL_RELATION_TEXT, ModelInputs, relation_texts
from rcml_core.train.run_config import RunConfig

BACKBONE_DIR = "backbone"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


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


@dataclass
class RunSession:
    config: RunConfig
    dataset: RelationalDataset
    backbone: Backbone
    model: RCMLModel
    inputs: ModelInputs
    device: torch.device


def tokenizer_corpus(dataset: RelationalDataset, config: RunConfig) -> list[str]:
    """Texts the tiny preset's tokenizer is built from: TRAIN titles, the relation texts and the neutral text.

    Val/test titles are left out so that nothing about held-out items shapes the vocabulary; their
    words unseen in train map to the tokenizer's [UNK] token (rcml_core.model.tokenizer). The relation
    texts are the same for every split.
    """
    items = dataset.items
    titles = items.loc[items["split"] == "train", "text"].tolist()
    return titles + relation_texts(dataset, config.neutral_edge_text) + [NEUTRAL_RELATION_TEXT]


def build_session(config: RunConfig, backbone_dir: Path | None = None, local_rank: int = 0,
                  device: torch.device | None = None) -> RunSession:
    """Load data, build (or reload from `backbone_dir`) the backbone, the model and its inputs.

    device: where this process runs, when the caller knows (a Ray trial: from its resource plan);
    None: config.train.device (`resolve_device`).
    """
    if not config.data:
        raise ConfigError("data: no dataset folder given (set data=DIR or --data DIR)")
    if config.train.num_threads:
        torch.set_num_threads(config.train.num_threads)
    device = resolve_device(config.train.device, local_rank) if device is None else torch.device(device)
    dataset = load_dataset(config.data)
    seed_everything(config.seed)
    if backbone_dir is not None and (backbone_dir / "config.json").exists():
        backbone = load_backbone(backbone_dir)
    else:
        backbone = build_backbone(config.effective_backbone, corpus=tokenizer_corpus(dataset, config))
    model = RCMLModel(backbone, config.effective_model).to(device)
    configure_precision(model, config.train.precision, device)
    inputs = ModelInputs(dataset, backbone, neutral_edge_text=config.neutral_edge_text)
    return RunSession(config, dataset, backbone, model, inputs, device)


def load_checkpoint_session(checkpoint: Path | str, data: Path | str | None = None,
                            device: str | torch.device = "auto") -> RunSession:
    """Rebuild the run that wrote `checkpoint` and load its weights (for `rcml eval`, sweeps' test evaluation).

    device: "auto" | "cpu" | "cuda" (resolved here), or a torch.device the caller resolved.
    """
    checkpoint = Path(checkpoint)
    tree = read_checkpoint_config(checkpoint)
    if data is not None:
        tree["data"] = str(data)
    resolved = torch.device(device) if isinstance(device, torch.device) else None
    tree.setdefault("train", {})["device"] = resolved.type if resolved is not None else device
    config = config_from_dict(RunConfig, tree)
    session = build_session(config, backbone_dir=checkpoint / BACKBONE_DIR, device=resolved)
    load_model_weights(checkpoint, session.model)
    return session

