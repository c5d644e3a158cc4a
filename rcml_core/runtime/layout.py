"""The names inside a run folder and a checkpoint folder, for every module that writes or reads them.

    <run>/                          RunConfig.out_dir
      config.json                   CONFIG_FILE: the resolved run config
      metrics.json                  METRICS_FILE: per-epoch history, final metrics, status
      backbone/                     BACKBONE_DIR: the backbone's config, tokenizer and image settings, no weights
      outcomes/<split>.npz          OUTCOMES_DIR: per-query outcomes of the final evaluation (EvalResult.save)
      outcomes/selection-val.npz    SELECTION_OUTCOMES: val retrieval outcomes on the selection queries
      checkpoints/                  CHECKPOINTS_DIR
        last/                       LAST: weights, optimiser, scheduler and RNG states: what a run resumes from
        best/                       BEST: weights only, of the best epoch by val Hit@5 (for evaluation)

A checkpoint folder holds MODEL_FILE, TRAINER_FILE, STATE_FILE, CONFIG_FILE and BACKBONE_DIR
(rcml_core.runtime.checkpoint writes and reads them).

This module imports nothing: a Ray trial's driver (cluster.worker) reads these names without
importing torch.
"""

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
BACKBONE_DIR = "backbone"
OUTCOMES_DIR = "outcomes"
SELECTION_OUTCOMES = "selection-val.npz"
CHECKPOINTS_DIR = "checkpoints"
LAST = "last"
BEST = "best"

MODEL_FILE = "model.safetensors"
TRAINER_FILE = "trainer.pt"
STATE_FILE = "state.json"
