"""User profiles, KMeans clusters, relation wording and co-purchase edges (paper appendix A.2)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rcml_core.data.build.relation_text import describe_centroid, describe_clusters, join_names
from rcml_core.data.build.relations import cluster_users, co_purchase_edges, pair_from_index, user_profiles

CATS = ["Feeding", "Nursery", "Diapering", "Safety", "Gifts", "Potty Training"]


def test_description_of_a_hand_made_centroid_uses_the_documented_tiers_in_descending_order() -> None:
    w = np.array([0.02, 0.25, 0.20, 0.10, 0.03, 0.40])[[5, 1, 2, 3, 4, 0]]  # Feeding .40 ... Potty Training .02
    assert describe_centroid(w, CATS) == (
        "Co-purchased by people who primarily buy Feeding, followed by Nursery and Diapering, "
        "with moderate interest in Safety and lower interest in Gifts, "
        "while showing minimal interest in Potty Training."
    )


@pytest.mark.parametrize(
    "top, phrase", [(0.80, "overwhelmingly favor"), (0.70, "overwhelmingly favor"), (0.50, "strongly prefer"), (0.30, "primarily buy")]
)
def test_strength_of_the_lead_phrase_follows_the_top_share(top: float, phrase: str) -> None:
    rest = (1 - top) / 5
    w = np.array([top] + [rest] * 5)
    assert describe_centroid(w, CATS).startswith(f"Co-purchased by people who {phrase} Feeding")


def test_every_category_appears_once_and_the_verb_starts_the_text() -> None:
    w = np.array([0.5, 0.0, 0.004, 0.3, 0.15, 0.046])
    text = describe_centroid(w, CATS, verb="Co-read")
    assert text.startswith("Co-read by people who strongly prefer Feeding, followed by Safety and Gifts")
    assert "lower interest in Potty Training" in text
    assert text.endswith("almost no interest in Diapering and Nursery.")  # ties by name
    positions = [text.index(c) for c in ["Feeding", "Safety", "Gifts", "Potty Training", "Diapering", "Nursery"]]
    assert positions == sorted(positions)


def test_english_lists_use_the_serial_comma() -> None:
    assert [join_names(x) for x in (["A"], ["A", "B"], ["A", "B", "C"])] == ["A", "A and B", "A, B, and C"]
    assert [join_names(x, "or") for x in (["A"], ["A", "B"], ["A", "B", "C"])] == ["A", "A or B", "A, B, or C"]


def test_coinciding_descriptions_are_made_distinct_by_the_fewest_leading_shares() -> None:
    same_wording = np.array(
        [
            [0.40, 0.25, 0.20, 0.10, 0.03, 0.02],
            [0.42, 0.23, 0.20, 0.10, 0.03, 0.02],
            [0.40, 0.20, 0.25, 0.10, 0.03, 0.02],  # other order: already distinct, left alone
        ]
    )
    texts = describe_clusters(same_wording, CATS)
    assert len(set(texts)) == 3
    assert texts[0].endswith("minimal interest in Potty Training (Feeding 40%).")
    assert texts[1].endswith("minimal interest in Potty Training (Feeding 42%).")
    assert texts[2] == describe_centroid(same_wording[2], CATS)


def test_identical_centroids_still_get_distinct_descriptions() -> None:
    c = np.array([[0.5, 0.5, 0, 0, 0, 0], [0.5, 0.5, 0, 0, 0, 0], [0.51, 0.49, 0, 0, 0, 0]])
    texts = describe_clusters(c, CATS)
    assert len(set(texts)) == 3
    assert texts[0].endswith("(Feeding 50%; group 1).") and texts[1].endswith("(Feeding 50%; group 2).")
    assert texts[2].endswith("(Feeding 51%).")


def _interactions(rows: dict[str, list[str]]) -> pd.DataFrame:
    return pd.DataFrame([(u, i) for u, items in rows.items() for i in items], columns=["user_id", "item_id"])


def test_user_profiles_are_category_shares_of_users_with_two_or_more_items() -> None:
    inter = _interactions({"u1": ["a", "b", "c", "d"], "u2": ["a"], "u3": ["c", "d"]})
    cats = pd.Series({"a": "X", "b": "X", "c": "Y", "d": "Z"})
    p = user_profiles(inter, cats)
    assert p.user_ids.tolist() == ["u1", "u3"] and p.categories == ("X", "Y", "Z")
    np.testing.assert_allclose(p.shares, [[0.5, 0.25, 0.25], [0.0, 0.5, 0.5]])


def _random_profiles(seed: int, n_users: int = 120, n_cats: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        pref = rng.dirichlet(np.full(n_cats, 0.3))
        for _ in range(int(rng.integers(2, 10))):
            c = rng.choice(n_cats, p=pref)
            rows.append((f"u{u}", f"c{c}-i{int(rng.integers(0, 30))}"))
    return pd.DataFrame(rows, columns=["user_id", "item_id"]).drop_duplicates()


def test_clustering_is_deterministic_for_a_seed_and_ordered_by_size() -> None:
    inter = _random_profiles(0)
    cats = pd.Series({i: i.split("-")[0] for i in inter["item_id"].unique()})
    p = user_profiles(inter, cats)
    a, b = cluster_users(p, 5, seed=7), cluster_users(p, 5, seed=7)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.centroids, b.centroids)
    assert list(a.sizes) == sorted(a.sizes, reverse=True) and a.sizes.sum() == len(p.user_ids)
    np.testing.assert_allclose(a.centroids[0], p.shares[a.labels == 0].mean(axis=0))
    np.testing.assert_allclose(a.centroids.sum(axis=1), 1.0)


def test_pair_index_decoding_matches_numpy_upper_triangle() -> None:
    for n in (2, 3, 7, 50, 1001):
        i, j = pair_from_index(np.arange(n * (n - 1) // 2), n)
        ti, tj = np.triu_indices(n, 1)
        np.testing.assert_array_equal(i, ti)
        np.testing.assert_array_equal(j, tj)


def test_edges_join_items_of_one_user_labelled_with_its_relation_and_counted_by_support() -> None:
    inter = _interactions({"u1": ["b", "a", "c"], "u2": ["a", "b"], "u3": ["a", "b"]})
    rel = pd.Series({"u1": 1, "u2": 1, "u3": 2})
    e = co_purchase_edges(inter, rel, max_pairs_per_user=50, min_pair_support=1, seed=0, progress=False)
    assert e.to_dict("list") == {
        "src": ["a", "a", "a", "b"],
        "dst": ["b", "b", "c", "c"],
        "relation_id": [1, 2, 1, 1],
        "support": [2, 1, 1, 1],
    }
    strong = co_purchase_edges(inter, rel, max_pairs_per_user=50, min_pair_support=2, seed=0, progress=False)
    assert strong[["src", "dst", "relation_id"]].values.tolist() == [["a", "b", 1]]


def test_a_heavy_user_contributes_at_most_the_pair_cap_as_a_seeded_sample() -> None:
    heavy = [f"i{k:03d}" for k in range(40)]  # 780 pairs
    inter = _interactions({"heavy": heavy, "light": ["i000", "i001", "i002"]})
    rel = pd.Series({"heavy": 1, "light": 2})
    a = co_purchase_edges(inter, rel, max_pairs_per_user=25, min_pair_support=1, seed=3, progress=False)
    b = co_purchase_edges(inter, rel, max_pairs_per_user=25, min_pair_support=1, seed=3, progress=False)
    c = co_purchase_edges(inter, rel, max_pairs_per_user=25, min_pair_support=1, seed=4, progress=False)
    assert (a["relation_id"] == 1).sum() == 25 and (a["relation_id"] == 2).sum() == 3
    assert a.equals(b) and not a.equals(c)
    assert (a["src"] < a["dst"]).all() and not a.duplicated(["src", "dst", "relation_id"]).any()


def test_attribute_agreement_is_one_when_every_pair_agrees_and_zero_at_chance() -> None:
    from rcml_core.data.build.relations import attribute_agreement

    # user 0: red red red (all 3 pairs agree); user 1: red blue (no pair agrees); user 2: one known value
    users = np.array([0, 0, 0, 1, 1, 2, 2])
    values = np.array(["red", "red", "red", "red", "blue", "blue", None], dtype=object)
    a = attribute_agreement(users, 3, values)
    expected = (4 / 6) ** 2 + (2 / 6) ** 2  # chance that two of the 6 known values are equal: p_red^2 + p_blue^2
    np.testing.assert_allclose(a, [1.0, (0.0 - expected) / (1 - expected), 0.0])


def test_profiles_on_attributes_hold_one_agreement_column_per_attribute() -> None:
    inter = _interactions({"u1": ["a", "b", "c"], "u2": ["a", "d"]})
    cats = pd.Series({"a": "X", "b": "X", "c": "Y", "d": "Y"})
    attrs = pd.DataFrame({"colour": ["red", "red", "red", "blue"], "brand": ["p", "q", "r", "p"]},
                         index=["a", "b", "c", "d"])
    p = user_profiles(inter, cats, item_attributes=attrs)
    assert p.attributes == ("colour", "brand") and p.agreement.shape == (2, 2)
    assert p.agreement[0, 0] == 1.0 and p.agreement[0, 1] < 0  # u1 keeps to red, never repeats a brand
    assert p.features(2.0).shape == (2, 4)
    np.testing.assert_allclose(p.features(2.0)[:, 2:], 2.0 * p.agreement)


def test_clusters_fitted_on_a_subset_keep_its_labels_and_assign_the_rest_to_the_nearest_centre() -> None:
    inter = _random_profiles(1, n_users=150)
    cats = pd.Series({i: i.split("-")[0] for i in inter["item_id"].unique()})
    everyone = user_profiles(inter, cats)
    fit_users = set(everyone.user_ids[::2])
    subset = user_profiles(inter[inter["user_id"].isin(fit_users)], cats, categories=everyone.categories)
    fitted = cluster_users(everyone, 4, seed=0, fit_on=subset)
    alone = cluster_users(subset, 4, seed=0)
    position = pd.Index(everyone.user_ids).get_indexer(subset.user_ids)
    # the fitted users' partition is the one KMeans found on them alone (labels may be renumbered by size)
    pairs = set(zip(alone.labels, fitted.labels[position]))
    assert len(pairs) == 4 and len({a for a, _ in pairs}) == 4
    for k in range(4):  # centroids describe the fitted members only
        np.testing.assert_allclose(fitted.centroids[k], subset.shares[fitted.labels[position] == k].mean(axis=0))
    others = np.setdiff1d(np.arange(len(everyone.user_ids)), position)
    distances = ((everyone.shares[others, None, :] - fitted.centroids[None]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(fitted.labels[others], distances.argmin(axis=1))
    assert fitted.sizes.sum() == len(everyone.user_ids)


def test_behaviour_descriptions_lead_with_the_attribute_kept_to_then_the_main_categories() -> None:
    from rcml_core.data.build.relation_text import describe_behaviour

    w = np.array([0.40, 0.25, 0.20, 0.10, 0.03, 0.02])
    attrs = ["colour", "material", "brand"]
    assert describe_behaviour(w, np.array([0.8, 0.1, 0.0]), CATS, attrs) == (
        "Co-purchased by people who keep to one colour, mostly buying Feeding, Nursery, and Diapering."
    )
    assert describe_behaviour(w, np.array([0.5, 0.9, 0.0]), CATS, attrs, verb="Co-read") == (
        "Co-read by people who keep to one material and one colour, mostly buying Feeding, Nursery, and Diapering."
    )
    assert describe_behaviour(w, np.array([0.1, 0.2, 0.3]), CATS, attrs) == (
        "Co-purchased by people who mostly buy Feeding, Nursery, and Diapering, whatever the colour, material, "
        "or brand."
    )
    texts = describe_clusters(np.array([w, w]), CATS, agreement=np.array([[0.8, 0, 0], [0.8, 0, 0]]), attributes=attrs)
    assert len(set(texts)) == 2  # identical wording is disambiguated as before
