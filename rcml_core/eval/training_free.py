"""The training-free score (zA.zr)(zB.zr) on the UNTRAINED backbone (docs/evaluation.md).

The score needs no training: it projects CLIP's own item embeddings on the relation text's
embedding. It is therefore computed on the backbone a run started from, never on a trained
checkpoint: for the `tiny` preset the random initialisation of the run's seed (with the run's own
tokenizer), for `clip-vit-b32` the pretrained weights. It depends on the dataset, the backbone
config and the seed only, so it is computed once per run (or checkpoint) and split, and keyed
`{split}/free_...`.

A run saves its backbone's config and tokenizer, without weights, under `backbone/` (in the run
folder and in every checkpoint). `untrained_backbone` rebuilds the initial weights from that folder
by re-running the seeded initialisation; loading the folder alone gives whatever the global RNG
produces at that moment.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
from transformers import CLIPModel

from rcml_core.data.schema import RelationalDataset, RetrievalSet
from rcml_core.eval import keys
from rcml_core.eval.embedders import PlainEmbedder
from rcml_core.eval.results import EvalResult
from rcml_core.eval.tasks import retrieval_outcomes, retrieval_scores
from rcml_core.model.backbone import Backbone, BackboneConfig, build_backbone, load_backbone
from rcml_core.model.rcml import RCMLConfig, RCMLModel
from rcml_core.train.inputs import ModelInputs, relation_texts


def untrained_backbone(config: BackboneConfig, directory: Path | str | None = None) -> Backbone:
    """The backbone before any training step.

    config: the run's *effective* backbone config (its `init_seed` already offset by the run seed).
    directory: the run's saved `backbone/` folder (tokenizer and architecture); needed for `tiny`,
    whose tokenizer was trained on the run's dataset. The caller's RNG state is left untouched.
    """
    if config.preset != "tiny":
        return build_backbone(config)  # the pretrained weights, from name_or_path
    if directory is None or not (Path(directory) / "config.json").is_file():
        raise ValueError(f"the tiny preset's untrained backbone needs the run's saved backbone folder, got {directory}")
    with torch.random.fork_rng(devices=[]):
        saved = load_backbone(Path(directory))  # tokenizer + architecture; its weights are not the run's init
        torch.manual_seed(config.init_seed)  # what build_backbone did before CLIPModel(config)
        clip = CLIPModel(saved.clip.config)
    return replace(saved, clip=clip)


@torch.no_grad()
def training_free_result(backbone: Backbone, dataset: RelationalDataset, queries: RetrievalSet,
                         device: torch.device, batch_size: int = 256, inputs: ModelInputs | None = None) -> EvalResult:
    """(zA.zr)(zB.zr) with `backbone`'s plain embeddings and the real relation texts, on `queries`.

    inputs: the run's prepared inputs, reused when they hold the real relation texts (same tokenizer
    and image settings as the untrained backbone); otherwise they are prepared again.
    """
    model = RCMLModel(backbone, RCMLConfig()).to(device).eval()  # only its backbone is read (PlainEmbedder)
    if inputs is None or inputs.relation_texts != relation_texts(dataset, neutral_edge_text=False):
        inputs = ModelInputs(dataset, backbone, neutral_edge_text=False)
    plain = PlainEmbedder(model, inputs, dataset.item_indices(queries.split), batch_size, device)
    outcomes = retrieval_outcomes(retrieval_scores(plain, queries, training_free=True), queries, dataset.n_items)
    return EvalResult(queries.split, outcomes.report(queries.split, keys.FREE), {keys.FREE: outcomes})
