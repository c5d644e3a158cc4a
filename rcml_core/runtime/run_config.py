"""The run config: one frozen dataclass per concern, composed; presets; flat override keys.

Resolution order: preset defaults -> YAML file -> `key=value` overrides. Unknown keys
are errors; every value is validated by its concern's `__post_init__` before any
work starts. The resolved config is saved beside the run and inside every checkpoint.

Ablation flags (paper 4.4) and the CLIP baseline are resolved through properties
(`effective_*`), never by mutating the user's config, so what the user asked for and
what ran are both on record.

It lives in the runtime layer because the session (rcml_core.runtime.session) reads it, and
with it every concern it composes: the model, loss and backbone configs stay beside their code
(lower layers), the training concerns (optimiser, sampler, train, ablation) and the evaluation
concern are defined here and read by rcml_core.train and rcml_core.eval (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from rcml_core.config import check_choice, check_range, config_to_dict, from_preset, load_yaml, parse_overrides
from rcml_core.loss import LossConfig
from rcml_core.model.backbone import BackboneConfig
from rcml_core.model.rcml import RCMLConfig

# clip: the same backbone trained with the plain CLIP loss on intra pairs, evaluated (and selected) with the
# relation text appended to each title (the paper's baseline); clip_plain: the same training, evaluated and
# selected on its own embeddings with the relation ignored ("CLIP fine-tuned"). Each reports the other
# protocol too (rcml_core.eval.evaluate).
METHODS = ("rcml", "clip", "clip_plain")


@dataclass(frozen=True)
class OptimConfig:
    """AdamW and its cosine schedule with warmup (rcml_core.train.optim builds them)."""

    lr: float = 5e-4
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-6
    warmup_fraction: float = 0.05  # of all optimisation steps
    min_lr_ratio: float = 0.0  # cosine floor, as a fraction of lr
    grad_clip: float = 1.0  # max global grad norm; 0 disables clipping

    def __post_init__(self) -> None:
        check_range("optim.lr", self.lr, 0.0, 1.0, low_open=True)
        check_range("optim.weight_decay", self.weight_decay, 0.0, 1.0)
        for i, b in enumerate(self.betas):
            check_range(f"optim.betas[{i}]", b, 0.0, 1.0, high_open=True)
        check_range("optim.eps", self.eps, 0.0, None, low_open=True)
        check_range("optim.warmup_fraction", self.warmup_fraction, 0.0, 1.0, high_open=True)
        check_range("optim.min_lr_ratio", self.min_lr_ratio, 0.0, 1.0)
        check_range("optim.grad_clip", self.grad_clip, 0.0, None)


@dataclass(frozen=True)
class SamplerConfig:
    """What an epoch's relation pairs are (rcml_core.train.sampler draws them)."""

    intra_fraction: float = 0.25  # share of intra pairs (i, i) among an epoch's pairs
    use_inter_edges: bool = True  # False: the `no_inter_edges` ablation (CLIP-style pairs only)
    mask_related: bool = True  # exclude graph-related targets from the negatives
    drop_last: bool = True
    category_groups: int = 0  # > 0: batches of runs of this many same-category targets (hard negatives)

    def __post_init__(self) -> None:
        check_range("sampler.category_groups", self.category_groups, 0, integer=True)
        # Without inter edges the epoch is every training item once as an intra pair,
        # and intra_fraction does not apply.
        check_range("sampler.intra_fraction", self.intra_fraction, 0.0, 1.0, high_open=True)


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 64
    epochs: int = 6
    max_steps_per_epoch: int | None = None  # cap, for smoke tests and quick sweeps
    early_stopping_patience: int = 2  # epochs without a better val/hit@5; 0 disables
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto = bf16 autocast on CUDA, fp32 on CPU
    num_threads: int = 0  # torch intra-op threads on CPU; 0 = torch's default
    log_every: int = 50  # steps between train/loss logs

    def __post_init__(self) -> None:
        check_range("train.batch_size", self.batch_size, 2, integer=True)
        check_range("train.epochs", self.epochs, 0, integer=True)
        if self.max_steps_per_epoch is not None:
            check_range("train.max_steps_per_epoch", self.max_steps_per_epoch, 1, integer=True)
        check_range("train.early_stopping_patience", self.early_stopping_patience, 0, integer=True)
        check_range("train.num_threads", self.num_threads, 0, integer=True)
        check_range("train.log_every", self.log_every, 1, integer=True)
        check_choice("train.device", self.device, ("auto", "cpu", "cuda"))
        check_choice("train.precision", self.precision, ("auto", "fp32", "bf16"))


@dataclass(frozen=True)
class AblationConfig:
    """Paper 4.4. All False = the full model."""

    no_inter_edges: bool = False  # intra pairs only (CLIP-style training)
    no_intra_loss: bool = False  # lambda = 0
    no_edge_text: bool = False  # every inter relation text replaced by one neutral text
    frozen_backbone: bool = False  # only the attention module and projections train

    @property
    def name(self) -> str:
        on = [k for k in ("no_inter_edges", "no_intra_loss", "no_edge_text", "frozen_backbone") if getattr(self, k)]
        return "+".join(on) if on else "full"


@dataclass(frozen=True)
class EvalConfig:
    batch_size: int = 256  # items encoded per backbone call
    max_val_queries: int | None = None  # cap per-epoch validation queries (the fixed set's first N)
    validity_probe_c: float = 1.0  # inverse L2 strength of the logistic-regression probe

    def __post_init__(self) -> None:
        check_range("eval.batch_size", self.batch_size, 1, integer=True)
        if self.max_val_queries is not None:
            check_range("eval.max_val_queries", self.max_val_queries, 1, integer=True)
        check_range("eval.validity_probe_c", self.validity_probe_c, 0.0, None, low_open=True)


@dataclass(frozen=True)
class RunConfig:
    data: str = ""  # canonical dataset folder
    out_dir: str = "runs/default"
    seed: int = 0
    method: Literal["rcml", "clip", "clip_plain"] = "rcml"  # clip*: the same backbone, plain CLIP loss on intra pairs
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    model: RCMLConfig = field(default_factory=RCMLConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    ablation: AblationConfig = field(default_factory=AblationConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        check_choice("method", self.method, METHODS)
        check_range("seed", self.seed, 0, integer=True)

    # -- what actually runs --------------------------------------------------------------
    @property
    def is_clip_baseline(self) -> bool:
        return self.method in ("clip", "clip_plain")

    @property
    def effective_backbone(self) -> BackboneConfig:
        """The run seed offsets the random-init seed, so seeds of a sweep differ in initialisation too."""
        return replace(self.backbone, init_seed=self.backbone.init_seed + self.seed)

    @property
    def effective_model(self) -> RCMLConfig:
        init_seed = self.model.init_seed + self.seed
        if self.is_clip_baseline:
            # CLIP is RCML at beta=1 in prob mode on intra pairs; the attention is frozen at W_V = W_o = I so that
            # training and evaluation see one embedding, normalize(h) (rcml_core.model.rcml).
            return replace(self.model, beta=1.0, summary_mix="prob", frozen_backbone=self.ablation.frozen_backbone,
                           init_seed=init_seed, freeze_attention=True)
        return replace(self.model, frozen_backbone=self.model.frozen_backbone or self.ablation.frozen_backbone,
                       init_seed=init_seed)

    @property
    def effective_loss(self) -> LossConfig:
        if self.is_clip_baseline or self.ablation.no_intra_loss:
            return replace(self.loss, lambda_intra=0.0, relation_negatives=False if self.is_clip_baseline else self.loss.relation_negatives)
        return self.loss

    @property
    def effective_sampler(self) -> SamplerConfig:
        if self.is_clip_baseline:  # plain CLIP: intra pairs, ordinary in-batch negatives
            return replace(self.sampler, use_inter_edges=False, mask_related=False)
        if self.ablation.no_inter_edges:
            return replace(self.sampler, use_inter_edges=False)
        return self.sampler

    @property
    def neutral_edge_text(self) -> bool:
        return self.ablation.no_edge_text and not self.is_clip_baseline

    def to_dict(self) -> dict[str, Any]:
        return config_to_dict(self)


# Short keys a user can type on the command line (`rcml train ... beta=0.4 seed=1`).
ALIASES: dict[str, str] = {
    "beta": "model.beta",
    "summary_mix": "model.summary_mix",
    "tau": "loss.tau",
    "lambda_intra": "loss.lambda_intra",
    "relation_negatives": "loss.relation_negatives",
    "lr": "optim.lr",
    "weight_decay": "optim.weight_decay",
    "batch_size": "train.batch_size",
    "epochs": "train.epochs",
    "max_steps_per_epoch": "train.max_steps_per_epoch",
    "patience": "train.early_stopping_patience",
    "device": "train.device",
    "intra_fraction": "sampler.intra_fraction",
    "category_groups": "sampler.category_groups",
    "no_inter_edges": "ablation.no_inter_edges",
    "no_intra_loss": "ablation.no_intra_loss",
    "no_edge_text": "ablation.no_edge_text",
    "frozen_backbone": "ablation.frozen_backbone",
    "name_or_path": "backbone.name_or_path",
}

# Presets set defaults for several concerns at once; YAML and overrides come on top.
PRESETS: dict[str, dict[str, Any]] = {
    # CPU, random-init tiny CLIP: the embedded default.
    "tiny": {
        "backbone": {"preset": "tiny"},
        "train": {"batch_size": 64, "epochs": 6, "early_stopping_patience": 2},
        "optim": {"lr": 1e-3, "weight_decay": 0.1, "warmup_fraction": 0.05},
        "loss": {"tau": 0.1, "lambda_intra": 0.5},
        "model": {"beta": 0.6},
    },
    # The paper's setting (A.1): ViT-B/32, batch 512, AdamW 5e-5 cosine, tau 0.1, lambda 0.5, beta 0.6,
    # early stopping (converges in about 3 epochs).
    "clip-vit-b32": {
        "backbone": {"preset": "clip-vit-b32"},
        "train": {"batch_size": 512, "epochs": 3, "early_stopping_patience": 1},
        "optim": {"lr": 5e-5, "weight_decay": 0.2, "warmup_fraction": 0.02},
        "loss": {"tau": 0.1, "lambda_intra": 0.5},
        "model": {"beta": 0.6},
    },
}


def resolve_run_config(
    preset: str = "tiny",
    config_file: Path | str | None = None,
    overrides: Sequence[str | tuple[str, Any]] = (),  # "key=value" or (key, typed value): config.parse_overrides
    base: dict[str, Any] | None = None,
) -> RunConfig:
    """preset -> (base dict) -> YAML file -> key=value overrides -> validated RunConfig."""
    yaml_tree = load_yaml(config_file) if config_file is not None else {}
    return from_preset(RunConfig, PRESETS, preset, base or {}, yaml_tree, parse_overrides(list(overrides), ALIASES))
