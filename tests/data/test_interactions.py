"""Interaction filtering: repeats merged, top-N items, iterated k-core (hand-checked cases)."""

from __future__ import annotations

import pandas as pd
import pytest

from rcml_core.data.sources.interactions import InteractionFilter, dedupe, filter_interactions, k_core, top_items
from rcml_core.errors import ConfigError


def frame(pairs: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(pairs, columns=["user_id", "item_id"])


def pairs(df: pd.DataFrame) -> set[tuple[str, str]]:
    return set(zip(df["user_id"], df["item_id"]))


def test_k_core_iterates_until_every_user_and_item_has_k_interactions():
    # u1..u3 each buy a, b; u3 also buys c, which only u3 and u4 buy; u4 buys c and d.
    # k=2 round 1 drops d (1 buyer); round 2 drops u4 (now 1 item); round 3 drops c (only u3).
    df = frame([("u1", "a"), ("u1", "b"), ("u2", "a"), ("u2", "b"), ("u3", "a"), ("u3", "b"), ("u3", "c"),
                ("u4", "c"), ("u4", "d")])
    out, rounds = k_core(df, 2)
    assert pairs(out) == {("u1", "a"), ("u1", "b"), ("u2", "a"), ("u2", "b"), ("u3", "a"), ("u3", "b")}
    assert rounds == 3


def test_k_core_can_empty_the_graph_and_k1_keeps_everything():
    df = frame([("u1", "a"), ("u2", "b")])
    assert k_core(df, 2)[0].empty
    assert pairs(k_core(df, 1)[0]) == pairs(df)


def test_top_items_keeps_the_most_interacted_items_breaking_ties_by_id():
    df = frame([("u1", "a"), ("u2", "a"), ("u3", "a"), ("u1", "c"), ("u2", "c"), ("u1", "b"), ("u2", "b"), ("u3", "d")])
    assert set(top_items(df, 2)["item_id"]) == {"a", "b"}  # b and c tie at 2: b has the smaller id


def test_dedupe_keeps_the_earliest_of_repeated_pairs():
    df = pd.DataFrame({"user_id": ["u", "u", "v"], "item_id": ["a", "a", "a"], "timestamp": [5, 2, 9]})
    out = dedupe(df)
    assert list(out["timestamp"]) == [2, 9]


def test_filter_reports_what_each_step_removed():
    df = frame([("u1", "a"), ("u1", "a"), ("u1", "b"), ("u2", "a"), ("u2", "b"), ("u3", "z")])
    out, rep = filter_interactions(df, InteractionFilter(k_core=2, max_items=2))
    assert pairs(out) == {("u1", "a"), ("u1", "b"), ("u2", "a"), ("u2", "b")}
    assert (rep.n_in, rep.n_duplicates, rep.n_dropped_max_items, rep.n_dropped_k_core) == (6, 1, 1, 0)
    assert rep.n_in - rep.n_duplicates - rep.n_dropped_max_items - rep.n_dropped_k_core == len(out)  # every row


@pytest.mark.parametrize("kw, msg", [({"k_core": 0}, r"k_core must be an integer in \[1, 10000\]"),
                                     ({"max_items": 1}, r"max_items must be an integer >= 2 \(or unset\), got 1")])
def test_filter_config_rejects_out_of_range_values(kw, msg):
    with pytest.raises(ConfigError, match=msg):
        InteractionFilter(**kw)
