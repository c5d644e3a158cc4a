"""From behaviour data to a canonical dataset: the build, on rcml_core.data.format.

  dataset        build_dataset and BuildConfig: the one path from items + interactions to a folder
  clean          the two input frames cleaned record by record (bad records through the SkipLog)
  relations      user profiles, KMeans clusters, co-purchase edges (paper A.2)
  relation_text  a natural-language text per cluster centroid
  splits         item-disjoint splits
  evalsets       the fixed, seeded evaluation sets (retrieval, relation type, validity)

Every reader calls `build_dataset` (rcml_core.data.sources for real data, rcml_core.data.synth
for the synthetic catalog); nothing here imports them.
"""
