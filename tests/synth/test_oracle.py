"""The attribute oracle: a reference scorer told the hidden attributes, fitted on train edges only."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from rcml_core.data.io import load_dataset
from rcml_core.data.schema import RetrievalSet
from rcml_core.data.synth import generate_catalog, simulate_world, synth_preset
from rcml_core.data.synth.attributes import ATTRIBUTES
from rcml_core.data.synth.oracle import attribute_codes, attribute_oracle_scores

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    config = synth_preset("tiny", n_items=300, n_users=900)
    out = tmp_path_factory.mktemp("oracle") / "ds"
    generate_catalog(config, out, progress=False)
    world = simulate_world(config)
    attributes = pd.DataFrame(list(world.items["attributes"]), index=world.items["item_id"])
    dataset = load_dataset(out)
    return dataset, attribute_codes(attributes, dataset.items["item_id"], ATTRIBUTES)


def test_a_candidate_sharing_the_relations_attribute_scores_higher_than_one_that_does_not(catalog) -> None:
    """Two candidates of one category that differ only in whether they share A's value of the attribute the
    query's relation keeps to (most often, on train edges)."""
    dataset, codes = catalog
    train = dataset.split_edges("train")
    match = codes[train["src_idx"].to_numpy()] == codes[train["dst_idx"].to_numpy()]  # (E, A)
    rates = pd.DataFrame(match, columns=ATTRIBUTES).groupby(train["relation_id"].to_numpy()).mean()
    row, attribute = np.unravel_index(np.argmax(rates.to_numpy()), rates.shape)
    relation = int(rates.index[row])
    a, x, y = (int(i) for i in dataset.item_indices("test")[:3])
    codes = codes.copy()
    codes[y] = codes[x]  # x and y alike ...
    codes[x, attribute] = codes[a, attribute]  # ... but x shares A's value
    codes[y, attribute] = (codes[a, attribute] + 1) % (codes[:, attribute].max() + 1)  # and y does not
    dataset = dataclasses.replace(dataset, items=dataset.items.copy())
    dataset.items.loc[y, "category"] = dataset.items.loc[x, "category"]  # same category
    queries = RetrievalSet("test", np.array([a]), np.array([relation]), np.array([[x, y]]))
    scores = attribute_oracle_scores(dataset, codes, queries)
    assert scores.shape == (1, 2) and scores[0, 0] > scores[0, 1]


def test_the_oracle_ranks_test_positives_above_most_negatives(catalog) -> None:
    dataset, codes = catalog
    scores = attribute_oracle_scores(dataset, codes, dataset.retrieval["test"])
    assert scores.shape == dataset.retrieval["test"].candidates.shape and np.isfinite(scores).all()
    rank = 1 + (scores[:, 1:] > scores[:, :1]).sum(axis=1)
    assert (rank <= 5).mean() > 0.5  # chance: 5/21
