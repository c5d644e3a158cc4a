"""Ray launch glue: connect to (or start) a cluster, plan trial resources, the per-worker
training function, the per-trial driver and the sweep launcher shared by `sweeps/`.

Imports rcml_core and tracking, never the reverse, and never sweeps (docs/architecture.md, Layers).
"""
