"""The relational dataset, in four layers (docs/architecture.md):

  format   the canonical dataset folder: schema, load, atomic store, image cache, checks
  build    from items + interactions to a folder: cleaning, relations, splits, eval sets
  sources  Amazon Reviews 2023 and UCSD Goodreads raw files, read and prepared for the build
  synth    the synthetic relational catalog, generated and built

format is the bottom; build stands on format; sources and synth on build. Training and
evaluation read datasets through format only.
"""
