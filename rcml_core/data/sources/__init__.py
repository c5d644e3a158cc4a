"""Real data sources into the canonical format: raw files read, filtered, images resolved, then built.

  amazon, goodreads   each source's field mapping and its prepare_* entry point
  goodreads_genres    Goodreads genres from user shelves
  reader              the record loop both sources share (item files and interaction files)
  jsonl, csv_rows     streaming raw-file readers with exact line numbers
  interactions        de-duplication, top-N items, k-core
  image_fetch         each item's image: local folder, download cache, or a download
  pipeline            the shared last mile: filter, resolve images, k-core again, build_dataset

On rcml_core.data.build (build_dataset) and rcml_core.data.format (docs/data-sources.md).
"""
