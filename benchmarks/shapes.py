"""Shared pieces of the benchmarks: the machine, a ViT-B/32-shaped random CLIP, activation memory.

- `machine()`: what the numbers were measured on (printed with every result).
- `vit_b32_backbone(corpus)`: a random-init CLIPModel with the exact shapes of
  openai/clip-vit-base-patch32 (text 12 x 512, 8 heads; vision 12 x 768, 12 heads, 224 px,
  patch 32; projection 512) and an offline tokenizer. No weights are downloaded; speed and
  memory depend on the shapes only.
- `saved_activation_bytes(fn, parameters)`: bytes of the tensors autograd keeps for the backward
  pass of `fn()` (each storage counted once, the weights left out): the activation memory of a
  training step, measured the same way on CPU and GPU. On CUDA, `cuda_peak_bytes` gives the allocator's peak too.
"""

from __future__ import annotations

import datetime
import os
import platform
from collections.abc import Callable, Iterable, Sequence

import torch
from transformers import CLIPConfig, CLIPModel
from transformers.utils.constants import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD

from rcml_core.model.backbone import Backbone
from rcml_core.model.tokenizer import build_word_level_tokenizer

VIT_B32 = {
    "text": {"hidden_size": 512, "intermediate_size": 2048, "num_hidden_layers": 12, "num_attention_heads": 8},
    "vision": {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
               "image_size": 224, "patch_size": 32},
    "projection_dim": 512,
}


def machine() -> dict:
    """What the numbers were measured on, and when: CPU model, cores, torch and its threads, the GPU, the
    date and the load average when asked (other processes sharing the cores show there)."""
    info = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "date": datetime.date.today().isoformat(),
        "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    try:
        with open("/proc/cpuinfo") as fh:
            names = [line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")]
        if names:
            info["cpu"] = names[0]
    except OSError:
        pass
    return info


def vit_b32_backbone(corpus: Sequence[str], seed: int = 0, max_text_tokens: int = 77) -> Backbone:
    tokenizer = build_word_level_tokenizer(corpus, max_text_tokens, 1)
    config = CLIPConfig(
        text_config=dict(VIT_B32["text"], vocab_size=len(tokenizer), max_position_embeddings=max_text_tokens,
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id),
        vision_config=dict(VIT_B32["vision"]),
        projection_dim=VIT_B32["projection_dim"],
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        clip = CLIPModel(config)
    return Backbone(clip=clip, tokenizer=tokenizer, image_size=VIT_B32["vision"]["image_size"],
                    image_mean=tuple(OPENAI_CLIP_MEAN), image_std=tuple(OPENAI_CLIP_STD),
                    max_text_tokens=max_text_tokens)


def saved_activation_bytes(fn: Callable[[], torch.Tensor], parameters: Iterable[torch.Tensor] = ()) -> int:
    """Bytes autograd saves for backward while running `fn` (the step's forward); storages counted once.

    Storages of `parameters` (the model's weights, which autograd saves for the matmul backward) are not
    activations and are left out.
    """
    weights = {p.untyped_storage().data_ptr() for p in parameters}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.device.type != "meta":
            storage = t.untyped_storage()
            if storage.data_ptr() not in weights:
                seen[storage.data_ptr()] = max(seen.get(storage.data_ptr(), 0), storage.nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    del out
    return int(sum(seen.values()))


def cuda_peak_bytes(fn: Callable[[], None]) -> int | None:
    if not torch.cuda.is_available():
        return None
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    return int(torch.cuda.max_memory_allocated())


def benchmark_dataset(data: str | None, size: str = "small"):
    """A canonical dataset folder for the benchmarks: `data`, or the synthetic catalog of `size`
    generated once into data/synth-<size>-seed0 (the sweeps' embedded catalog)."""
    from pathlib import Path

    from rcml_core.data.synth import generate_catalog, synth_preset

    if data:
        return Path(data)
    path = Path(__file__).resolve().parents[1] / "data" / f"synth-{size}-seed0"
    if not (path / "manifest.json").is_file():
        generate_catalog(synth_preset(size), path, overwrite=path.exists(), progress=False)
    return path


def tiny_session(data, device: str = "cpu", overrides: Sequence[str] = ()):
    """The run session (dataset, random-init tiny model, prepared inputs) the trainer would build."""
    from rcml_core.runtime.run_config import resolve_run_config
    from rcml_core.runtime.session import build_session

    config = resolve_run_config("tiny", overrides=[f"data={data}", f"train.device={device}", *overrides])
    return build_session(config)
