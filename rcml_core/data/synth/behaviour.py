"""The shopping-behaviour simulation: latent profiles -> users -> purchases.

The same process real co-purchase logs come from (the `legacy-*` presets' generator,
docs/synthetic-data.md):

- Latent preference profiles, more of them than the k clusters the builder will find:
  each concentrates its category mass on 2-4 categories (one primary), leaks a little
  onto all others, and has a sparse preference over style lines.
- Users: a profile drawn by its prevalence, then a Dirichlet draw around that profile's
  category and style preferences (per-user noise), and a log-normal (heavy-tailed)
  number of purchases.
- Each purchase: a category from the user's category preference, then an item of that
  category with probability proportional to popularity x the user's style affinity;
  repeat purchases of an item are dropped; timestamps follow exponential gaps.

Profiles and per-user preferences are the generator's internal state: tests may inspect
them, but they are never written to a dataset. Relations come only from the builder's
clustering of the observed purchases.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rcml_core.data.synth.config import SynthConfig

EPOCH_START = 1_640_995_200  # 2022-01-01T00:00:00Z: first possible purchase (unix seconds)
_ACTIVITY_SPAN_DAYS = 730.0  # users start shopping uniformly within two years
_SECONDS_PER_DAY = 86_400
_ROWS_PER_CHUNK = 4096  # purchases sampled at once per category (bounds the (rows, items) matrix)


@dataclass(frozen=True)
class Profiles:
    """Latent preference profiles (P of them)."""

    category_pref: np.ndarray  # (P, C) rows sum to 1
    style_pref: np.ndarray  # (P, S) rows sum to 1
    prevalence: np.ndarray  # (P,) sums to 1: share of users drawn from each profile
    primary: np.ndarray  # (P,) int64 index of each profile's top category
    focus: tuple[tuple[int, ...], ...]  # per profile, the categories it concentrates on (primary first)

    def __len__(self) -> int:
        return int(self.prevalence.shape[0])


@dataclass(frozen=True)
class Users:
    """Simulated users (U of them) with their latent per-user preferences."""

    profile: np.ndarray  # (U,) int64 profile index
    category_pref: np.ndarray  # (U, C) rows sum to 1
    style_pref: np.ndarray  # (U, S) rows sum to 1
    n_purchases: np.ndarray  # (U,) int64 purchases drawn (before dropping repeats)

    def __len__(self) -> int:
        return int(self.profile.shape[0])


def sample_profiles(config: SynthConfig, n_categories: int, n_styles: int, rng: np.random.Generator) -> Profiles:
    """Sparse category/style preferences; primaries cycle through a permutation of categories
    so that every category is some profile's main interest once there are enough profiles."""
    if config.profile_max_categories > n_categories:
        raise ValueError(f"profile_max_categories={config.profile_max_categories} > {n_categories} categories")
    order = rng.permutation(n_categories)
    n_prof = config.n_profiles
    category_pref = np.zeros((n_prof, n_categories))
    primary = np.zeros(n_prof, np.int64)
    focus: list[tuple[int, ...]] = []
    for p in range(n_prof):
        k = int(rng.integers(config.profile_min_categories, config.profile_max_categories + 1))
        main = int(order[p % n_categories])
        others = rng.choice(np.delete(np.arange(n_categories), main), size=k - 1, replace=False)
        cats = np.concatenate([[main], others]).astype(np.int64)  # (k,) primary first
        weights = np.sort(rng.dirichlet(np.full(k, 1.5)))[::-1]  # (k,) largest goes to the primary
        category_pref[p, cats] = weights
        primary[p] = main
        focus.append(tuple(int(c) for c in cats))
    category_pref = (1.0 - config.profile_leak) * category_pref + config.profile_leak / n_categories
    style_pref = rng.dirichlet(np.full(n_styles, config.style_concentration), size=n_prof)  # (P, S)
    style_pref = (1.0 - config.style_leak) * style_pref + config.style_leak / n_styles
    prevalence = rng.dirichlet(np.full(n_prof, 4.0))  # (P,) moderately uneven
    return Profiles(category_pref, style_pref, prevalence, primary, tuple(focus))


def dirichlet_rows(alpha: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One Dirichlet draw per row of alpha (N, K) via normalised gammas; (N, K), rows sum to 1."""
    g = rng.standard_gamma(alpha)  # (N, K)
    g = np.maximum(g, 1e-12)  # tiny alphas can underflow to 0; keep every row drawable
    return g / g.sum(axis=1, keepdims=True)


def sample_users(config: SynthConfig, profiles: Profiles, rng: np.random.Generator) -> Users:
    """Users as noisy copies of their profile, with heavy-tailed purchase counts."""
    n = config.n_users
    profile = rng.choice(len(profiles), size=n, p=profiles.prevalence).astype(np.int64)  # (U,)
    category_pref = dirichlet_rows(config.user_concentration * profiles.category_pref[profile], rng)  # (U, C)
    style_pref = dirichlet_rows(config.user_concentration * profiles.style_pref[profile], rng)  # (U, S)
    return Users(profile, category_pref, style_pref, purchase_counts(config, n, rng))


def purchase_counts(config: SynthConfig, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n,) int64 heavy-tailed purchase counts: log-normal with mean `mean_purchases`, clipped."""
    sigma = config.purchases_sigma
    mu = np.log(config.mean_purchases) - sigma**2 / 2  # so that the untruncated mean is mean_purchases
    counts = np.rint(rng.lognormal(mu, sigma, size=n)).astype(np.int64)  # (U,)
    return np.clip(counts, config.min_purchases, config.max_purchases)


def sample_rows(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One index per row of unnormalised weights (N, K) by inverse CDF; (N,) int64."""
    cdf = np.cumsum(weights, axis=1)  # (N, K)
    u = rng.random(weights.shape[0]) * cdf[:, -1]  # (N,)
    idx = (cdf < u[:, None]).sum(axis=1)
    return np.minimum(idx, weights.shape[1] - 1).astype(np.int64)


def simulate_purchases(
    config: SynthConfig, users: Users, items: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """Purchases (user_idx, item_idx, timestamp), one row per distinct (user, item), time-ordered per user.

    items: the catalog frame (uses category_idx, style_idx, popularity); item_idx is its row number.
    """
    n_categories = users.category_pref.shape[1]
    buyer = np.repeat(np.arange(len(users)), users.n_purchases)  # (N,) user of each purchase
    category = sample_rows(users.category_pref[buyer], rng)  # (N,)
    item = np.zeros_like(buyer)
    item_category = items["category_idx"].to_numpy()
    item_style = items["style_idx"].to_numpy()
    popularity = items["popularity"].to_numpy(dtype=np.float64)
    for c in range(n_categories):
        rows = np.flatnonzero(category == c)  # purchases that went to category c
        members = np.flatnonzero(item_category == c)  # (M,) items of category c
        for start in range(0, len(rows), _ROWS_PER_CHUNK):
            chunk = rows[start : start + _ROWS_PER_CHUNK]
            affinity = users.style_pref[buyer[chunk]][:, item_style[members]]  # (n, M)
            item[chunk] = members[sample_rows(affinity * popularity[members], rng)]

    return purchase_log(config, buyer, item, users.n_purchases, rng)


def purchase_log(config: SynthConfig, buyer: np.ndarray, item: np.ndarray, n_purchases: np.ndarray,
                 rng: np.random.Generator) -> pd.DataFrame:
    """(user_idx, item_idx, timestamp) rows, one per distinct (user, item), time-ordered per user.

    buyer, item: (N,) purchases grouped by user in user order; n_purchases: (U,) rows per user.
    Each user starts at a uniform time within two years; gaps between purchases are exponential.
    """
    gaps = rng.exponential(config.mean_days_between_purchases * _SECONDS_PER_DAY, size=len(buyer))  # (N,)
    first = np.concatenate([[0], np.cumsum(n_purchases)[:-1]])  # (U,) row of each user's first purchase
    elapsed = np.cumsum(gaps) - np.repeat(np.cumsum(gaps)[first] - gaps[first], n_purchases)  # (N,)
    start = rng.uniform(0.0, _ACTIVITY_SPAN_DAYS * _SECONDS_PER_DAY, size=len(n_purchases))  # (U,)
    timestamp = (EPOCH_START + np.repeat(start, n_purchases) + elapsed).astype(np.int64)
    purchases = pd.DataFrame({"user_idx": buyer, "item_idx": item, "timestamp": timestamp})
    return purchases.drop_duplicates(["user_idx", "item_idx"], keep="first").reset_index(drop=True)
