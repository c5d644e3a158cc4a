"""The shopping simulation: latent profiles, users around them, popularity-driven purchases.

These tests read the generator's internal state (profiles, per-user preferences), which
is never written to a dataset.
"""

from __future__ import annotations

import numpy as np
import pytest

from rcml_core.data.synth import simulate_world, synth_preset


@pytest.fixture(scope="module")
def world():
    return simulate_world(synth_preset("legacy-small", n_items=1000, n_users=3000))


def test_item_popularity_is_heavy_tailed(world) -> None:
    sold = np.bincount(world.purchases["item_idx"], minlength=len(world.items))  # (N,)
    top_decile = np.sort(sold)[::-1][: len(sold) // 10]
    assert top_decile.sum() / sold.sum() >= 0.4  # uniform popularity would give 0.1


def test_purchase_counts_per_user_are_heavy_tailed(world) -> None:
    per_user = world.purchases.groupby("user_idx").size().to_numpy()
    assert per_user.min() >= 1
    assert per_user.max() >= 4 * np.median(per_user)
    top = np.sort(per_user)[::-1][: len(per_user) // 10]
    assert top.sum() / per_user.sum() >= 0.2  # equal counts would give 0.1


def test_users_of_a_profile_buy_mostly_from_its_focus_categories(world) -> None:
    item_category = world.items["category_idx"].to_numpy()
    bought = item_category[world.purchases["item_idx"].to_numpy()]  # (N,) category of each purchase
    profile_of_purchase = world.users.profile[world.purchases["user_idx"].to_numpy()]  # (N,)
    for p, focus in enumerate(world.profiles.focus):
        mine = profile_of_purchase == p
        if mine.sum() < 50:
            continue
        in_focus = np.isin(bought[mine], focus).mean()
        assert in_focus >= 0.8, (p, focus, in_focus)
        primary_share = (bought[mine] == world.profiles.primary[p]).mean()
        assert primary_share >= 1.0 / len(focus) - 0.05, (p, primary_share)


def test_profiles_are_sparse_and_outnumber_the_relation_clusters(world) -> None:
    config = world.config
    assert config.n_profiles > config.n_clusters
    prefs = world.profiles.category_pref  # (P, C)
    np.testing.assert_allclose(prefs.sum(axis=1), 1.0)
    top = np.sort(prefs, axis=1)[:, ::-1][:, : config.profile_max_categories].sum(axis=1)
    assert (top >= 1.0 - config.profile_leak).all()
    assert {len(f) for f in world.profiles.focus} <= set(range(2, 5))
    assert len(set(world.profiles.primary.tolist())) == len(world.domain.categories)  # every category is someone's


def test_users_deviate_from_their_profile_but_stay_near_it(world) -> None:
    users, profiles = world.users, world.profiles
    own = np.abs(users.category_pref - profiles.category_pref[users.profile]).sum(axis=1)  # (U,) L1 distance
    assert own.mean() > 0.05  # per-user noise
    other = np.abs(users.category_pref - profiles.category_pref[(users.profile + 1) % len(profiles)]).sum(axis=1)
    assert own.mean() < 0.5 * other.mean()


def test_items_bought_by_one_user_share_a_style_line_more_often_than_chance(world) -> None:
    style = world.items["style_idx"].to_numpy()
    p = world.purchases
    rank = p.groupby("user_idx").cumcount()
    first = p[rank == 0].set_index("user_idx")["item_idx"]
    second = p[rank == 1].set_index("user_idx")["item_idx"]
    a, b = first.align(second, join="inner")
    assert len(a) > 1000
    same_style = (style[a.to_numpy()] == style[b.to_numpy()]).mean()
    chance = (np.bincount(style) / len(style)) @ (np.bincount(style) / len(style))
    assert same_style >= chance + 0.1


def test_each_user_buys_an_item_at_most_once_and_in_time_order(world) -> None:
    p = world.purchases
    assert not p.duplicated(["user_idx", "item_idx"]).any()
    assert (p.groupby("user_idx")["timestamp"].diff().dropna() >= 0).all()
    assert p["timestamp"].dtype == np.int64
