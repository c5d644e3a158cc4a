"""The canonical dataset format: what a dataset folder holds and how it is written, read and checked.

  schema   on-disk layout, table schemas, typed views (RelationalDataset)
  io       load_dataset: a folder into the typed views (what training and evaluation read)
  store    atomic, fsynced writing of a dataset folder
  skips    SkipLog: the bad-record policy (fail, or skip and count into the manifest)
  images   the decoded uint8 image cache (a read-only memory map shared by a node's processes)
  check    check_dataset: every invariant of a folder, all problems collected (`rcml data check`)
  stats    descriptive statistics for `rcml data check`, and the manifest counts they must match

The bottom of rcml_core.data: build, sources and synth write this format; nothing here imports them.
"""
