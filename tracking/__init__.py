"""MLflow layer: where runs are recorded, the tracker the training loop is given, sweep
runs (one parent per sweep, one nested child per trial), figures and the model registry.

Imports rcml_core, never the reverse, and never ray (docs/architecture.md, Layers).
"""
