"""What a sweep cost: per trial, per configuration, in total, and to reach the selected configuration's score.

Per trial (on its child run; cluster/nodes.py and cluster.callbacks.UsageCallback record them):

    tags     rcml.node_id, rcml.hostname, rcml.node_type, rcml.node_cpus, rcml.node_gpus  (where rank 0 trained;
             the trial records them when it starts), rcml.node_usd_per_hour (the node type's price, when the
             cluster config declares one as the node label `rcml-usd-per-hour`)
    metrics  cost/wall_s     seconds the trial held its resources: from Tune starting it to its end (done,
                             stopped early or failed), on the driver's clock
             cost/cpu_s      CPUs held x wall seconds (the trial's driver share and its workers' CPUs)
             cost/gpu_s      GPUs held x wall seconds
             cost/started_at, cost/ended_at   the interval, seconds since the epoch (driver's clock)
             cost/usd        price per hour of the node type x the share of the node the trial holds x hours,
                             when a price is known (--node-price TYPE=USD_PER_HOUR, else the node label)

The share of a node is the larger of the trial's CPUs / the node's and its GPUs / the node's: a trial that
holds a g5.xlarge's one GPU pays for the whole node, two trials on a 2-CPU node pay half each.

Per sweep (parent run metrics `cost/*` and the report's `cost_by_configuration.csv`, `cost.json`): the totals,
GPU-hours (and CPU-hours, wall-clock hours, dollars) per configuration, and the GPU-hours the sweep had spent,
over all its trials, by the time the selected configuration's last trial ended, when its score was known.
A trial interrupted and resumed counts its last attempt.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from rcml_core.errors import ConfigError

if TYPE_CHECKING:  # a trial imports this module for its tag names: not the report's figures
    from tracking.reports import Report

TAG_NODE_ID = "rcml.node_id"
TAG_HOSTNAME = "rcml.hostname"
TAG_NODE_TYPE = "rcml.node_type"
TAG_NODE_CPUS = "rcml.node_cpus"
TAG_NODE_GPUS = "rcml.node_gpus"
TAG_NODE_PRICE = "rcml.node_usd_per_hour"
NODE_TYPE_LABEL = "rcml-node-type"  # node label in a cluster config (available_node_types.<type>.labels)
PRICE_LABEL = "rcml-usd-per-hour"
WALL, CPU_S, GPU_S, USD = "cost/wall_s", "cost/cpu_s", "cost/gpu_s", "cost/usd"
STARTED, ENDED = "cost/started_at", "cost/ended_at"
METRICS = (WALL, CPU_S, GPU_S, USD, STARTED, ENDED)


def parse_prices(pairs: Sequence[str]) -> dict[str, float]:
    """`--node-price TYPE=USD_PER_HOUR` values -> {node type: USD per hour}."""
    prices: dict[str, float] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        try:
            price = float(value)
        except ValueError:
            price = math.nan
        if not sep or not name or not math.isfinite(price) or price < 0:
            raise ConfigError(f"--node-price must be NODE_TYPE=USD_PER_HOUR with a price >= 0, got {pair!r}")
        prices[name] = price
    return prices


@dataclass(frozen=True)
class Held:
    """What a trial holds while it runs (cluster.resources.TrialPlan: trial_cpus, trial_gpus)."""

    cpus: float
    gpus: float


def node_share(held: Held, node_cpus: float, node_gpus: float) -> float:
    """The fraction of its node a trial holds: the larger of its CPU and GPU shares (at most 1)."""
    shares = [held.cpus / node_cpus if node_cpus > 0 else 0.0, held.gpus / node_gpus if node_gpus > 0 else 0.0]
    return min(1.0, max(shares))


def trial_usage(held: Held, started_at: float, ended_at: float, tags: Mapping[str, str],
                prices: Mapping[str, float]) -> dict[str, float]:
    """One trial's cost metrics (module docstring) from the interval it held `held`, its node's tags and prices."""
    wall = max(0.0, ended_at - started_at)
    out = {WALL: wall, CPU_S: held.cpus * wall, GPU_S: held.gpus * wall, STARTED: started_at, ENDED: ended_at}
    price = prices.get(tags.get(TAG_NODE_TYPE, ""))
    if price is None and tags.get(TAG_NODE_PRICE):
        price = float(tags[TAG_NODE_PRICE])
    if price is not None:
        share = node_share(held, float(tags.get(TAG_NODE_CPUS) or 0), float(tags.get(TAG_NODE_GPUS) or 0))
        out[USD] = price * share * wall / 3600.0
    return out


def trial_costs(client, trials: pd.DataFrame) -> pd.DataFrame:
    """The trials table (cluster.outcome, with its `run_id` column) joined with each child run's cost metrics
    and node type; `client` is an MlflowClient."""
    rows = []
    for run_id in trials["run_id"]:
        run = client.get_run(run_id) if run_id else None
        metrics = run.data.metrics if run is not None else {}
        row = {m: float(metrics[m]) if m in metrics else math.nan for m in METRICS}
        row["node_type"] = run.data.tags.get(TAG_NODE_TYPE) if run is not None else None
        rows.append(row)
    return pd.concat([trials.reset_index(drop=True), pd.DataFrame(rows, columns=[*METRICS, "node_type"])], axis=1)


@dataclass(frozen=True)
class CostSummary:
    by_configuration: pd.DataFrame  # one row per configuration: trials, wall_h, cpu_h, gpu_h (, usd)
    totals: dict[str, float]  # cost/* metrics of the parent run

    def lines(self) -> list[str]:
        t = self.totals
        usd = f", ${t['cost/usd']:.2f}" if "cost/usd" in t else ""
        out = [f"  cost: {t['cost/trials']:.0f} trial(s), {t['cost/wall_h']:.3f} trial-hours, "
               f"{t['cost/cpu_h']:.3f} CPU-hours, {t['cost/gpu_h']:.3f} GPU-hours{usd}"]
        if "cost/gpu_h_to_selected" in t:
            out.append(f"  spent until the selected configuration's score was known: "
                       f"{t['cost/gpu_h_to_selected']:.3f} GPU-hours, {t['cost/cpu_h_to_selected']:.3f} CPU-hours")
        return out


def _spent_until(costs: pd.DataFrame, until: float, column: str) -> float:
    """Resource-seconds (`column`: cost/cpu_s or cost/gpu_s) of every trial up to time `until`; a trial
    running then counts its part."""
    held = (costs[column] / costs[WALL].where(costs[WALL] > 0)).fillna(0.0)  # resources held (cpus or gpus)
    overlap = (costs[ENDED].clip(upper=until) - costs[STARTED]).clip(lower=0.0)
    return float((held * overlap).sum())


def summarize_costs(costs: pd.DataFrame, axes: Sequence[str], selected: Mapping[str, object] | None) -> CostSummary:
    """costs: one row per trial with the study's axes and the cost/* metrics (NaN where a trial recorded none)."""
    keys = [a for a in axes if a in costs] or ["trial_id"]
    recorded = costs.dropna(subset=[WALL])
    hours = recorded[keys].assign(trials=1)
    hours["wall_h"], hours["cpu_h"], hours["gpu_h"] = (recorded[c] / 3600.0 for c in (WALL, CPU_S, GPU_S))
    priced = USD in recorded and recorded[USD].notna().any()
    if priced:
        hours["usd"] = recorded[USD]
    by_config = hours.groupby(keys, sort=False, dropna=False).sum(numeric_only=True).reset_index()
    totals = {"cost/trials": float(len(recorded)), "cost/trials_unrecorded": float(len(costs) - len(recorded)),
              "cost/wall_h": float(hours["wall_h"].sum()), "cost/cpu_h": float(hours["cpu_h"].sum()),
              "cost/gpu_h": float(hours["gpu_h"].sum())}
    if priced:
        totals["cost/usd"] = float(recorded[USD].sum())
    if selected and len(recorded):
        shown = {k: v for k, v in selected.items() if k in recorded}
        mask = recorded[list(shown)].eq(pd.Series(shown, dtype=object)).all(axis=1)
        if mask.any():
            until = float(recorded.loc[mask, ENDED].max())
            totals["cost/gpu_h_to_selected"] = _spent_until(recorded, until, GPU_S) / 3600.0
            totals["cost/cpu_h_to_selected"] = _spent_until(recorded, until, CPU_S) / 3600.0
            totals["cost/wall_h_to_selected"] = (until - float(recorded[STARTED].min())) / 3600.0
    return CostSummary(by_config, totals)


def cost_report(summary: CostSummary) -> Report:
    """The cost table, the totals as JSON, and the printed lines."""
    from tracking.reports import Report

    return Report(tables={"cost_by_configuration": summary.by_configuration}, documents={"cost": dict(summary.totals)},
                  lines=summary.lines())
