"""Configuration of the synthetic relational catalog, and its size presets.

Every field is a parameter of the generative process (docs/synthetic-data.md): how many items and
users, how concentrated the latent preference profiles are, how heavy-tailed item
popularity and purchase counts are, how images are rendered. The whole config is
recorded in the dataset manifest (`source["params"]`), so a dataset says how to
regenerate it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from rcml_core.config import check_choice, check_fractions, check_range, check_text, from_preset
from rcml_core.data.build.dataset import CLUSTER_FITS

GENERATORS: tuple[str, ...] = ("missions", "profiles")


@dataclass(frozen=True)
class SynthConfig:
    """Parameters of the synthetic catalog generator (all recorded in the manifest)."""

    name: str = "synth-baby"
    seed: int = 0
    # "missions" (default): shoppers keep to one attribute (colour, pattern, material, age range or brand)
    # within a group of categories; relations come from clustering their behaviour (mission_catalog.py,
    # missions.py). "profiles": the generator before 2026-12-06, users drawn from category/style profiles
    # (catalog.py, behaviour.py); the legacy-* presets rebuild its datasets.
    generator: str = "missions"
    # --- catalog -------------------------------------------------------------------
    n_items: int = 3000
    popularity_exponent: float = 1.0  # Zipf s: item of popularity rank r gets weight r^-s in its category
    # --- behaviour -----------------------------------------------------------------
    n_users: int = 4000
    n_profiles: int = 14  # latent preference profiles (never written to the dataset)
    profile_min_categories: int = 2  # each profile concentrates on this many to ...
    profile_max_categories: int = 4  # ... this many categories
    profile_leak: float = 0.04  # share of a profile's category mass spread over all categories
    style_concentration: float = 0.6  # Dirichlet alpha of a profile's style preference (small = sparse)
    style_leak: float = 0.1  # share of a profile's style mass spread over all styles
    user_concentration: float = 25.0  # per-user Dirichlet concentration around the profile (large = little noise)
    mean_purchases: float = 8.0  # mean of the log-normal purchase count per user
    purchases_sigma: float = 0.8  # log-space spread of purchase counts (heavy tail)
    min_purchases: int = 3
    max_purchases: int = 60
    mean_days_between_purchases: float = 20.0
    # --- missions (generator "missions") --------------------------------------------
    n_missions: int = 10  # latent shopping missions; pairs of them share a category group
    mission_categories: int = 7  # categories a mission's shoppers buy from
    mission_leak: float = 0.03  # share of a mission's category mass spread over all categories
    match_probability: float = 0.9  # chance a purchase keeps to the shopper's attribute value
    browser_fraction: float = 0.05  # shoppers on no mission (random categories, no attribute kept)
    mission_concentration: float = 6.0  # Dirichlet alpha of a mission's weights over its categories (large = even)
    behaviour_weight: float = 2.0  # BuildConfig.behaviour_weight: attribute agreement vs category shares
    # --- images --------------------------------------------------------------------
    image_size: int = 64  # square RGB PNG side in pixels
    noise_sigma: float = 6.0  # per-pixel Gaussian noise, in 0..255 intensity units
    # --- dataset shape (passed to build_dataset's BuildConfig; recorded here so that
    # `source["params"]` alone regenerates the dataset) --------------------------------
    n_clusters: int = 10  # user clusters = inter relation types (paper: 10 for Amazon)
    cluster_fit: str = "train"  # BuildConfig.cluster_fit: fit the user clusters on train purchases ("all": legacy)
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)  # train, val, test, item-disjoint

    def __post_init__(self) -> None:
        check_text("synth.name", self.name)
        check_range("synth.seed", self.seed, 0, 2**32 - 1, integer=True)
        check_choice("synth.generator", self.generator, GENERATORS)
        check_choice("synth.cluster_fit", self.cluster_fit, CLUSTER_FITS)
        check_range("synth.n_items", self.n_items, 20, 1_000_000, integer=True)
        check_range("synth.popularity_exponent", self.popularity_exponent, 0.0, 3.0)
        check_range("synth.n_users", self.n_users, 10, 10_000_000, integer=True)
        check_range("synth.n_profiles", self.n_profiles, 1, 256, integer=True)
        n_categories = 10  # the Baby domain's categories (vocab.BABY_CATEGORIES)
        check_range("synth.profile_min_categories", self.profile_min_categories, 1, n_categories, integer=True)
        lo = self.profile_min_categories
        check_range("synth.profile_max_categories", self.profile_max_categories, lo, n_categories, integer=True)
        check_range("synth.profile_leak", self.profile_leak, 0.0, 0.5)
        check_range("synth.style_concentration", self.style_concentration, 0.0, 100.0, low_open=True)
        check_range("synth.style_leak", self.style_leak, 0.0, 1.0)
        check_range("synth.user_concentration", self.user_concentration, 0.0, 10_000.0, low_open=True)
        check_range("synth.min_purchases", self.min_purchases, 1, 1000, integer=True)
        check_range("synth.max_purchases", self.max_purchases, self.min_purchases, 10_000, integer=True)
        check_range("synth.mean_purchases", self.mean_purchases, float(self.min_purchases), float(self.max_purchases))
        check_range("synth.purchases_sigma", self.purchases_sigma, 0.0, 3.0)
        check_range("synth.mean_days_between_purchases", self.mean_days_between_purchases, 0.0, 3650.0)
        check_range("synth.n_missions", self.n_missions, 1, 256, integer=True)
        check_range("synth.mission_categories", self.mission_categories, 1, n_categories, integer=True)
        check_range("synth.mission_leak", self.mission_leak, 0.0, 0.5)
        check_range("synth.match_probability", self.match_probability, 0.0, 1.0)
        check_range("synth.browser_fraction", self.browser_fraction, 0.0, 1.0)
        check_range("synth.mission_concentration", self.mission_concentration, 0.0, 1000.0, low_open=True)
        check_range("synth.behaviour_weight", self.behaviour_weight, 0.0, 100.0, low_open=True)
        check_range("synth.image_size", self.image_size, 16, 512, integer=True)
        check_range("synth.noise_sigma", self.noise_sigma, 0.0, 64.0)
        check_range("synth.n_clusters", self.n_clusters, 1, 256, integer=True)
        object.__setattr__(self, "split_fractions", check_fractions("synth.split_fractions", self.split_fractions))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


_SIZES: dict[str, dict] = {
    # ~150 items: generate + build in well under 2 s; what tests use.
    # Eval splits get 20% each so val/test hold enough items for 21-way retrieval.
    "tiny": {"n_items": 150, "n_users": 300, "n_profiles": 12, "split_fractions": (0.6, 0.2, 0.2)},
    # ~600 items: quick experiments.
    "small": {"n_items": 600, "n_users": 1000},
    # a few thousand items, tens of thousands of edges: the embedded default.
    "default": {},
}
# The generator before 2026-12-06 (datasets and results of that time): its processes and clustering.
_LEGACY = {"generator": "profiles", "cluster_fit": "all", "mean_purchases": 6.0, "min_purchases": 2}
_PRESETS: dict[str, dict] = {**_SIZES, **{f"legacy-{name}": {**sizes, **_LEGACY} for name, sizes in _SIZES.items()}}
PRESET_NAMES: tuple[str, ...] = tuple(_PRESETS)


def synth_preset(preset: str = "default", **overrides: object) -> SynthConfig:
    """The `preset` sizes with `overrides` (SynthConfig field names) applied on top.

    Raises ConfigError for an unknown preset or field, or an out-of-range value.
    """
    return from_preset(SynthConfig, _PRESETS, preset, overrides, what="synth preset", where="synth")
