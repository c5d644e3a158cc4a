"""The RCML model: CLIP backbone, token encoders, relation-guided attention (paper section 3.3).

Modules, one job each:
  backbone   BackboneConfig, build/save/load of the CLIPModel + tokenizer + image settings
  tokenizer  the offline word-level tokenizer of the tiny preset and `tokenize` (EOS-terminated, counted truncation)
  encoders   token-level text / image features in the shared width d, relation embeddings h_E, EOT pooling
  attention  pure functions of eq. 4-6: scores, attention weights, pooling, Gram-form conditioned cosine
  conditioning  a batch's (B, B) pair similarities from cached token features (table / gram strategies)
  outputs    typed outputs: ItemFeatures, PairSimilarities, ConditionedEmbeddings
  batch      PairBatch, the model's input for one training step
  packing    padding-free text batches: titles and relation texts laid end to end in shared rows
  rcml       RCMLConfig and RCMLModel

Import from the submodules; this package file imports nothing so that `rcml_core.loss` can use the
output types without pulling in the model.
"""
