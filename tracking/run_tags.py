"""The tags that say what a sweep's child run is, and the one-line configuration label (no MLflow import:
trials compute them, and trials import no MLflow, cluster.tracking_relay).

    configuration_label({"summary_mix": "logit", "beta": 0.6, "seed": 1}, axes=("summary_mix", "beta"))
    -> "summary_mix=logit beta=0.6"
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

TAG_SEED = "seed"  # the trial's seed
TAG_CONFIGURATION = "rcml.configuration"  # the trial's configuration, seeds aside: group runs by it
TAG_BEST_CHECKPOINT = "rcml.best_checkpoint"  # where the trial's best checkpoint lives
SEED_KEY = "seed"


def _label_value(value: Any) -> str:
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # numpy scalars, as a pandas table holds them
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.4g}"
    return str(value)


def _missing(value: Any) -> bool:
    try:
        return value is None or (isinstance(value, float) or hasattr(value, "item")) and math.isnan(float(value))
    except (TypeError, ValueError):
        return False


def configuration_label(config: Mapping[str, Any], axes: Sequence[str] = ()) -> str:
    """The configuration of a trial in one line: the study's axes in their order, then any other key (search
    parameters) sorted; the seed and missing values (None, NaN) left out. Floats keep 4 significant digits
    and integral floats print as integers (a table's `batch_size` 32.0 is `batch_size=32`)."""
    keys = [k for k in axes if k in config] + sorted(k for k in config if k not in axes)
    shown = [k for k in keys if k != SEED_KEY and not _missing(config[k])]
    return " ".join(f"{k}={_label_value(config[k])}" for k in shown) or "default"


def seed_value(config: Mapping[str, Any]) -> str:
    """The trial's seed as a tag value ("0"), "" without one."""
    value = config.get(SEED_KEY)
    return "" if _missing(value) else _label_value(value)
