"""What a run stands on, for training, evaluation and serving alike.

  run_config  RunConfig: the run's concerns composed, presets, overrides
  device      device resolution and the precision policy (`exact_fp32` for evaluation scores)
  inputs      ModelInputs: titles tokenised once, the image cache's memory map, relation texts
  checkpoint  checkpoint folders: atomic save, safe load, exact resume state
  session     RunSession: data, backbone, model and inputs of one run (or of a saved checkpoint)

Above the model and the dataset format; below rcml_core.train and rcml_core.eval, which both
build on it and never the reverse (docs/architecture.md).
"""
