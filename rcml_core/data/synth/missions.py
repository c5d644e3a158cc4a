"""The "missions" store's shoppers: each keeps to one attribute value across a group of categories.

The process (the default synthetic generator, docs/synthetic-data.md):

- Missions: pairs of latent missions share a category group (`mission_categories` categories with
  Dirichlet weights), and the two missions of a pair keep to different attributes, one shown only
  in the image (colour, pattern) and one only in the title (material, age range, brand). So several
  relations join the same category pairs but choose different partners, and which modality holds
  the deciding attribute depends on the relation.
- Shoppers: a mission drawn by prevalence (or none, for a `browser_fraction` of browsers), a
  Dirichlet draw around the mission's category weights, the attribute value they keep to (drawn
  like a first purchase: a category by their weights, an item of it by popularity, its value), and
  a log-normal number of purchases.
- Each purchase: a category by the shopper's weights, then an item of it by popularity; with
  probability `match_probability` among the items that have the shopper's value (any item of the
  category when none has it). Repeat purchases are dropped; timestamps as in behaviour.py.

Missions, shoppers and their values are the generator's internal state, never written to a dataset:
relations come from the builder's clustering of what shoppers bought.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rcml_core.data.synth.attributes import IMAGE_ATTRIBUTES, TEXT_ATTRIBUTES, AttributeDomain
from rcml_core.data.synth.behaviour import dirichlet_rows, purchase_counts, purchase_log, sample_rows
from rcml_core.data.synth.config import SynthConfig

BROWSER = -1  # mission index of shoppers on no mission


@dataclass(frozen=True)
class Missions:
    """Latent shopping missions (M of them)."""

    attribute: tuple[str, ...]  # (M,) the attribute each mission keeps to
    category_pref: np.ndarray  # (M, C) rows sum to 1
    focus: tuple[tuple[int, ...], ...]  # (M,) the categories each mission buys from
    group: np.ndarray  # (M,) int64 category group; the missions of a group share `focus`
    prevalence: np.ndarray  # (M,) sums to 1

    def __len__(self) -> int:
        return int(self.prevalence.shape[0])


@dataclass(frozen=True)
class Shoppers:
    """Simulated shoppers (U of them) with their latent mission and value."""

    mission: np.ndarray  # (U,) int64 mission index, BROWSER for browsers
    category_pref: np.ndarray  # (U, C) rows sum to 1
    value: np.ndarray  # (U,) object: the attribute value kept to (None for browsers)
    n_purchases: np.ndarray  # (U,) int64 purchases drawn (before dropping repeats)

    def __len__(self) -> int:
        return int(self.mission.shape[0])


def sample_missions(config: SynthConfig, domain: AttributeDomain, rng: np.random.Generator) -> Missions:
    """Category groups of `mission_categories` categories, two missions per group (image attribute, text
    attribute), attributes cycling so that every attribute is some mission's."""
    n_cat, n_missions = domain.n_categories, config.n_missions
    attributes: list[str] = []
    focus: list[tuple[int, ...]] = []
    group: list[int] = []
    pref = np.zeros((n_missions, n_cat))
    for m in range(n_missions):
        g, second = divmod(m, 2)
        if not second:
            cats = tuple(int(c) for c in rng.choice(n_cat, size=config.mission_categories, replace=False))
        attributes.append(TEXT_ATTRIBUTES[g % len(TEXT_ATTRIBUTES)] if second else IMAGE_ATTRIBUTES[g % len(IMAGE_ATTRIBUTES)])
        focus.append(cats)
        group.append(g)
        pref[m, list(cats)] = rng.dirichlet(np.full(len(cats), config.mission_concentration))
    pref = (1.0 - config.mission_leak) * pref + config.mission_leak / n_cat
    prevalence = rng.dirichlet(np.full(n_missions, 6.0))
    return Missions(tuple(attributes), pref, tuple(focus), np.asarray(group, np.int64), prevalence)


def _first_values(attributes: list[str | None], category_pref: np.ndarray, items: pd.DataFrame,
                  rng: np.random.Generator) -> np.ndarray:
    """The value each shopper keeps to: that of a first purchase (a category by the shopper's weights, an
    item of it by popularity); None where `attributes` is None (browsers). (U,) object."""
    category = items["category_idx"].to_numpy()
    popularity = items["popularity"].to_numpy(dtype=np.float64)
    members = [np.flatnonzero(category == c) for c in range(category_pref.shape[1])]
    first = sample_rows(category_pref, rng)  # (U,)
    out = np.empty(len(attributes), dtype=object)
    for u, (attribute, c) in enumerate(zip(attributes, first)):
        if attribute is not None:
            m = members[c]
            out[u] = items["attributes"].iat[int(rng.choice(m, p=popularity[m] / popularity[m].sum()))][attribute]
    return out


def sample_shoppers(config: SynthConfig, missions: Missions, items: pd.DataFrame, rng: np.random.Generator) -> Shoppers:
    n, n_cat = config.n_users, missions.category_pref.shape[1]
    browser = rng.random(n) < config.browser_fraction  # (U,)
    mission = np.where(browser, BROWSER, rng.choice(len(missions), size=n, p=missions.prevalence)).astype(np.int64)
    alpha = np.where(browser[:, None], 1.0, config.user_concentration * missions.category_pref[np.maximum(mission, 0)])
    category_pref = dirichlet_rows(alpha, rng)  # (U, C)
    value = _first_values([None if m == BROWSER else missions.attribute[m] for m in mission], category_pref, items, rng)
    # A shopper keeping to a material or a brand buys from the categories that offer it (its weights elsewhere
    # drop to the leak), so that the value can be kept to in every purchase.
    offered: dict[tuple[str, str], np.ndarray] = {}  # (attribute, value) -> (C,) bool: categories that have it
    for c, attrs in zip(items["category_idx"].to_numpy(), items["attributes"]):
        for a, v in attrs.items():
            offered.setdefault((a, v), np.zeros(n_cat, dtype=bool))[c] = True
    for u in np.flatnonzero(mission != BROWSER):
        offers = offered[(missions.attribute[mission[u]], value[u])]
        if not offers.all():
            w = np.where(offers, category_pref[u], category_pref[u] * config.mission_leak)
            category_pref[u] = w / w.sum()
    return Shoppers(mission, category_pref, value, purchase_counts(config, n, rng))


def simulate_mission_purchases(config: SynthConfig, shoppers: Shoppers, missions: Missions, items: pd.DataFrame,
                               rng: np.random.Generator) -> pd.DataFrame:
    """Purchases (user_idx, item_idx, timestamp), one row per distinct (user, item), time-ordered per user."""
    buyer = np.repeat(np.arange(len(shoppers)), shoppers.n_purchases)  # (N,)
    category = sample_rows(shoppers.category_pref[buyer], rng)  # (N,)
    mission = shoppers.mission[buyer]  # (N,)
    keeps = (mission != BROWSER) & (rng.random(len(buyer)) < config.match_probability)  # (N,)
    attribute = np.array([missions.attribute[m] if k else None for m, k in zip(mission, keeps)], dtype=object)
    value = np.where(keeps, shoppers.value[buyer], None)
    item_category = items["category_idx"].to_numpy()
    popularity = items["popularity"].to_numpy(dtype=np.float64)
    values = {a: np.array([d[a] for d in items["attributes"]], dtype=object) for a in set(missions.attribute)}
    item = np.zeros(len(buyer), dtype=np.int64)
    keys = pd.DataFrame({"c": category, "a": attribute, "v": value})
    for (c, a, v), rows in keys.groupby(["c", "a", "v"], dropna=False, sort=True).indices.items():
        members = np.flatnonzero(item_category == c)  # (M,)
        if isinstance(a, str):  # keep to the value where the category has it
            match = members[values[a][members] == v]
            members = match if len(match) else members
        p = popularity[members] / popularity[members].sum()
        item[rows] = rng.choice(members, size=len(rows), p=p)
    return purchase_log(config, buyer, item, shoppers.n_purchases, rng)
