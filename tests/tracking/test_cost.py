"""Cost accounting: resources held x time per trial, priced per node type, summed per configuration and up to
the moment the selected configuration's score was known."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from rcml_core.errors import ConfigError
from tracking import cost

GPU_NODE = {cost.TAG_NODE_TYPE: "gpu_worker", cost.TAG_NODE_CPUS: "4", cost.TAG_NODE_GPUS: "1"}


def test_a_trial_holding_a_nodes_gpu_pays_for_the_node_for_its_wall_time() -> None:
    usage = cost.trial_usage(cost.Held(cpus=4.0, gpus=1.0), 1000.0, 1000.0 + 1800.0, GPU_NODE, {"gpu_worker": 1.2})
    assert usage[cost.WALL] == 1800.0 and usage[cost.CPU_S] == 7200.0 and usage[cost.GPU_S] == 1800.0
    assert usage[cost.USD] == pytest.approx(0.6)  # half an hour of a $1.20/h node
    assert (usage[cost.STARTED], usage[cost.ENDED]) == (1000.0, 2800.0)


def test_trials_sharing_a_cpu_node_pay_their_share_and_the_flag_beats_the_node_label() -> None:
    node = {cost.TAG_NODE_TYPE: "cpu", cost.TAG_NODE_CPUS: "2", cost.TAG_NODE_GPUS: "0", cost.TAG_NODE_PRICE: "0.5"}
    labelled = cost.trial_usage(cost.Held(cpus=1.0, gpus=0.0), 0.0, 3600.0, node, {})
    assert labelled[cost.USD] == pytest.approx(0.25) and labelled[cost.GPU_S] == 0.0
    flagged = cost.trial_usage(cost.Held(cpus=1.0, gpus=0.0), 0.0, 3600.0, node, {"cpu": 2.0})
    assert flagged[cost.USD] == pytest.approx(1.0)
    assert cost.USD not in cost.trial_usage(cost.Held(1.0, 0.0), 0.0, 10.0, {cost.TAG_NODE_TYPE: "x"}, {})


def test_node_prices_come_from_type_equals_usd_per_hour() -> None:
    assert cost.parse_prices(["gpu_worker=1.006", "head=0.384"]) == {"gpu_worker": 1.006, "head": 0.384}
    for bad in ("gpu_worker", "=1", "gpu=-1", "gpu=cheap", "gpu=nan"):
        with pytest.raises(ConfigError, match="--node-price must be NODE_TYPE=USD_PER_HOUR"):
            cost.parse_prices([bad])


def _trials() -> pd.DataFrame:
    # two configurations x two seeds on 1-GPU trials; beta=0.6 (selected) ends at t=300
    rows = [  # beta, seed, started, ended
        (0.2, 0, 0.0, 100.0), (0.2, 1, 0.0, 200.0), (0.6, 0, 100.0, 300.0), (0.6, 1, 200.0, 250.0),
        (1.0, 0, 250.0, 450.0),
    ]
    table = pd.DataFrame(rows, columns=["beta", "seed", cost.STARTED, cost.ENDED])
    table[cost.WALL] = table[cost.ENDED] - table[cost.STARTED]
    table[cost.GPU_S] = table[cost.WALL] * 1.0
    table[cost.CPU_S] = table[cost.WALL] * 4.0
    table[cost.USD] = math.nan
    return table


def test_gpu_hours_per_configuration_and_until_the_selected_score_was_known() -> None:
    summary = cost.summarize_costs(_trials(), ["beta"], {"beta": 0.6})
    by = summary.by_configuration.set_index("beta")
    assert by.loc[0.2, "gpu_h"] == pytest.approx(300 / 3600) and by.loc[0.6, "gpu_h"] == pytest.approx(250 / 3600)
    assert list(by["trials"]) == [2, 2, 1] and "usd" not in by
    t = summary.totals
    assert t["cost/gpu_h"] == pytest.approx(750 / 3600) and t["cost/cpu_h"] == pytest.approx(3000 / 3600)
    # until t=300: the four trials of beta 0.2 and 0.6 whole (550 s) and the first 50 s of beta=1.0
    assert t["cost/gpu_h_to_selected"] == pytest.approx(600 / 3600)
    assert t["cost/wall_h_to_selected"] == pytest.approx(300 / 3600)
    assert any("GPU-hours" in line for line in summary.lines())
    report = cost.cost_report(summary)
    assert "cost_by_configuration" in report.tables and report.documents["cost"] == t


def test_trials_without_a_record_are_counted_apart() -> None:
    table = _trials()
    table.loc[4, [cost.WALL, cost.CPU_S, cost.GPU_S, cost.STARTED, cost.ENDED]] = math.nan  # failed before starting
    t = cost.summarize_costs(table, ["beta"], {"beta": 0.6}).totals
    assert t["cost/trials"] == 4 and t["cost/trials_unrecorded"] == 1 and t["cost/gpu_h"] == pytest.approx(550 / 3600)
