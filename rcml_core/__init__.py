"""RCML core: data, model, loss, training loop and evaluation.

This package is framework-free on purpose: it imports none of ray, mlflow, optuna or
argparse (docs/architecture.md, Layers). `tracking/`, `cluster/`, `sweeps/` and `rcml_cli/`
import it, never the reverse.
"""

__version__ = "0.1.0"
