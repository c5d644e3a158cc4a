"""The CLIP backbone: configuration, construction, offline save and reload.

Two presets:
  "tiny"          a randomly initialised CLIPModel with small sizes (the fields below) and a word-level
                  tokenizer trained on the given corpus; fully offline, seeded.
  "clip-vit-b32"  `CLIPModel.from_pretrained(name_or_path)` with the tokenizer and image processor from
                  the same place (default "openai/clip-vit-base-patch32"; with HF_HUB_OFFLINE=1 it must
                  be a local folder or already cached).

`save_backbone` writes a folder that `load_backbone` reads back through exactly the from_pretrained
code path of the "clip-vit-b32" preset (config, tokenizer, image processor, weights when saved).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoImageProcessor, AutoTokenizer, CLIPConfig, CLIPModel, PreTrainedTokenizerBase
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
from transformers.utils.constants import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD

from rcml_core.config import check_choice, check_range, check_text
from rcml_core.errors import ConfigError
from rcml_core.model.tokenizer import TokenizedText, build_word_level_tokenizer, tokenize

PRESETS: tuple[str, ...] = ("tiny", "clip-vit-b32")
DEFAULT_CLIP_NAME = "openai/clip-vit-base-patch32"
BACKBONE_META_FILE = "rcml_backbone.json"
_MAX_TINY_TEXT_TOKENS = 512


@dataclass(frozen=True)
class BackboneConfig:
    """Which CLIP to use; the size fields apply to the "tiny" preset only."""

    preset: str = "tiny"  # "tiny" (random init, offline) | "clip-vit-b32" (from_pretrained)
    name_or_path: str | None = None  # clip-vit-b32 only: hub name or local folder; default DEFAULT_CLIP_NAME
    max_text_tokens: int = 77  # including [BOS] and [EOS]; longer texts are cut (and counted)
    init_seed: int = 0  # random init of the tiny preset
    hidden_size: int = 64  # tiny: width of both towers
    intermediate_size: int = 256  # tiny: MLP width of both towers
    num_layers: int = 2  # tiny: transformer layers per tower
    num_heads: int = 4  # tiny: attention heads (must divide hidden_size)
    image_size: int = 32  # tiny: input resolution (pixels, square)
    patch_size: int = 8  # tiny: ViT patch size (must divide image_size)
    projection_dim: int = 64  # tiny: shared width d of text and image features
    min_token_frequency: int = 1  # tiny: words seen fewer times in the corpus map to [UNK]

    def __post_init__(self) -> None:
        check_choice("backbone.preset", self.preset, PRESETS)
        if self.name_or_path is not None:
            if self.preset == "tiny":
                raise ConfigError(
                    "backbone.name_or_path is only used by preset 'clip-vit-b32'; the tiny preset is random"
                )
            check_text("backbone.name_or_path", self.name_or_path)
        check_range("backbone.max_text_tokens", self.max_text_tokens, 3, _MAX_TINY_TEXT_TOKENS, integer=True)
        check_range("backbone.init_seed", self.init_seed, 0, integer=True)
        for name in ("hidden_size", "intermediate_size", "num_layers", "num_heads", "image_size", "patch_size",
                     "projection_dim", "min_token_frequency"):
            check_range(f"backbone.{name}", getattr(self, name), 1, integer=True)
        if self.hidden_size % self.num_heads:
            raise ConfigError(f"backbone.num_heads ({self.num_heads}) must divide hidden_size ({self.hidden_size})")
        if self.image_size % self.patch_size:
            raise ConfigError(f"backbone.patch_size ({self.patch_size}) must divide image_size ({self.image_size})")

    @property
    def resolved_name_or_path(self) -> str | None:
        """Where clip-vit-b32 loads from; None for tiny."""
        if self.preset == "tiny":
            return None
        return self.name_or_path or DEFAULT_CLIP_NAME


@dataclass
class Backbone:
    """A CLIPModel with the tokenizer and image settings that belong to it."""

    clip: CLIPModel
    tokenizer: PreTrainedTokenizerBase
    image_size: int  # pixel_values are (N, 3, image_size, image_size)
    image_mean: tuple[float, float, float]
    image_std: tuple[float, float, float]
    max_text_tokens: int

    @property
    def width(self) -> int:
        """d, the shared width of projected text and image features."""
        return int(self.clip.config.projection_dim)

    @property
    def eos_token_id(self) -> int:
        """The text config's eos id (2 means legacy argmax pooling, see encoders.eot_index)."""
        return int(self.clip.config.text_config.eos_token_id)

    def tokenize(self, texts: Sequence[str]) -> TokenizedText:
        """`texts` for this backbone's text tower: its tokenizer, cut at its max_text_tokens (tokenizer.tokenize)."""
        return tokenize(self.tokenizer, texts, self.max_text_tokens)


def build_backbone(config: BackboneConfig, corpus: Sequence[str] | None = None) -> Backbone:
    """Build the backbone of `config`; the tiny preset trains its tokenizer on `corpus` (titles + relation texts)."""
    if config.preset == "tiny":
        if not corpus:
            raise ConfigError(
                "backbone preset 'tiny' needs a corpus (item titles and relation texts) for its tokenizer"
            )
        return _build_tiny(config, corpus)
    return _load_pretrained(config.resolved_name_or_path, config.max_text_tokens, weights=True)


def _build_tiny(config: BackboneConfig, corpus: Sequence[str]) -> Backbone:
    tokenizer = build_word_level_tokenizer(corpus, config.max_text_tokens, config.min_token_frequency)
    tower = dict(
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads,
    )
    clip_config = CLIPConfig(
        text_config=dict(
            tower,
            vocab_size=len(tokenizer),
            max_position_embeddings=config.max_text_tokens,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
        ),
        vision_config=dict(tower, image_size=config.image_size, patch_size=config.patch_size),
        projection_dim=config.projection_dim,
    )
    with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG state
        torch.manual_seed(config.init_seed)
        clip = CLIPModel(clip_config)
    return Backbone(
        clip=clip,
        tokenizer=tokenizer,
        image_size=config.image_size,
        image_mean=tuple(OPENAI_CLIP_MEAN),
        image_std=tuple(OPENAI_CLIP_STD),
        max_text_tokens=config.max_text_tokens,
    )


def _load_pretrained(name_or_path: str, max_text_tokens: int, weights: bool) -> Backbone:
    """CLIPModel + tokenizer + image processor from one hub name or folder (offline: local or cached)."""
    try:
        if weights:
            clip = CLIPModel.from_pretrained(name_or_path)
        else:
            clip = CLIPModel(CLIPConfig.from_pretrained(name_or_path))
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
        processor = AutoImageProcessor.from_pretrained(name_or_path)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot load a CLIP backbone from {name_or_path!r} ({type(exc).__name__}: {str(exc).splitlines()[0]}); "
            "with HF_HUB_OFFLINE=1 it must be a local folder or a model already in the Hugging Face cache"
        ) from None
    text_config = clip.config.text_config
    if max_text_tokens > text_config.max_position_embeddings:
        raise ConfigError(
            f"backbone.max_text_tokens ({max_text_tokens}) exceeds the text tower's "
            f"{text_config.max_position_embeddings} positions in {name_or_path!r}"
        )
    _check_eos(name_or_path, tokenizer, int(text_config.eos_token_id))
    return Backbone(
        clip=clip,
        tokenizer=tokenizer,
        image_size=int(clip.config.vision_config.image_size),
        image_mean=tuple(float(x) for x in processor.image_mean),
        image_std=tuple(float(x) for x in processor.image_std),
        max_text_tokens=max_text_tokens,
    )


def _check_eos(where: str, tokenizer: PreTrainedTokenizerBase, config_eos: int) -> None:
    """The text tower must pool where the tokenizer puts EOS: at the first eos_token_id, or at argmax(input_ids)
    when the config's eos_token_id is 2 (legacy OpenAI configs; encoders.eot_index)."""
    tok_eos = tokenizer.eos_token_id
    if tok_eos is None:
        raise ConfigError(f"the tokenizer in {where!r} has no eos_token")
    if config_eos == 2:  # legacy OpenAI config: pooled at argmax(input_ids), so EOS must be the largest id
        if tok_eos != len(tokenizer) - 1:
            raise ConfigError(
                f"{where!r}: text config eos_token_id is 2 (legacy argmax pooling) but the tokenizer's EOS id "
                f"{tok_eos} is not its largest id {len(tokenizer) - 1}"
            )
    elif tok_eos != config_eos:
        raise ConfigError(f"{where!r}: text config eos_token_id {config_eos} != tokenizer eos id {tok_eos}")


def save_backbone(backbone: Backbone, directory: Path, weights: bool = True) -> None:
    """Write config, tokenizer, image processor (and the weights unless weights=False) to `directory`.

    Without weights the folder still rebuilds the architecture; load a state dict into it afterwards.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if weights:
        backbone.clip.save_pretrained(directory)
    else:
        backbone.clip.config.save_pretrained(directory)
    backbone.tokenizer.save_pretrained(directory)
    size = backbone.image_size
    CLIPImageProcessorPil(
        size={"shortest_edge": size},
        crop_size={"height": size, "width": size},
        image_mean=list(backbone.image_mean),
        image_std=list(backbone.image_std),
    ).save_pretrained(directory)
    meta = {"max_text_tokens": backbone.max_text_tokens, "weights": weights}
    (directory / BACKBONE_META_FILE).write_text(json.dumps(meta, indent=2) + "\n")


def load_backbone(directory: Path) -> Backbone:
    """Reload what `save_backbone` wrote, offline, through the clip-vit-b32 from_pretrained path."""
    directory = Path(directory)
    meta_path = directory / BACKBONE_META_FILE
    if not meta_path.is_file():
        raise ConfigError(f"{meta_path}: missing; {directory} was not written by save_backbone")
    try:
        meta = json.loads(meta_path.read_text())
        max_text_tokens, weights = int(meta["max_text_tokens"]), bool(meta["weights"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{meta_path}: malformed ({exc}); expected max_text_tokens and weights") from None
    return _load_pretrained(str(directory), max_text_tokens, weights=weights)
