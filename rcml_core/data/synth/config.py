"""Configuration of the synthetic relational catalog, and its size presets.

Every field is a parameter of the generative process (docs/synthetic-data.md): how many items and
users, how concentrated the latent preference profiles are, how heavy-tailed item
popularity and purchase counts are, how images are rendered. The whole config is
recorded in the dataset manifest (`source["params"]`), so a dataset says how to
regenerate it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from rcml_core.errors import ConfigError

GENERATORS: tuple[str, ...] = ("missions", "profiles")
CLUSTER_FITS: tuple[str, ...] = ("train", "all")


def _check_range(
    name: str, value: float, lo: float, hi: float, *, integer: bool = False, lo_open: bool = False
) -> None:
    """Raise ConfigError naming the field unless lo <= value <= hi (lo < value if lo_open)."""
    allowed = f"{'(' if lo_open else '['}{lo}, {hi}]"
    kind = "an integer" if integer else "a number"
    if integer:
        ok_type = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok_type = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok_type:
        raise ConfigError(f"synth.{name} must be {kind} in {allowed}, got {value!r}")
    if not (lo < value if lo_open else lo <= value) or value > hi:
        raise ConfigError(f"synth.{name} must be in {allowed}, got {value!r}")


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
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError(f"synth.name must be a non-empty string, got {self.name!r}")
        _check_range("seed", self.seed, 0, 2**32 - 1, integer=True)
        if self.generator not in GENERATORS:
            raise ConfigError(f"synth.generator must be one of {GENERATORS}, got {self.generator!r}")
        if self.cluster_fit not in CLUSTER_FITS:
            raise ConfigError(f"synth.cluster_fit must be one of {CLUSTER_FITS}, got {self.cluster_fit!r}")
        _check_range("n_items", self.n_items, 20, 1_000_000, integer=True)
        _check_range("popularity_exponent", self.popularity_exponent, 0.0, 3.0)
        _check_range("n_users", self.n_users, 10, 10_000_000, integer=True)
        _check_range("n_profiles", self.n_profiles, 1, 256, integer=True)
        n_categories = 10  # the Baby domain's categories (vocab.BABY_CATEGORIES)
        _check_range("profile_min_categories", self.profile_min_categories, 1, n_categories, integer=True)
        lo = self.profile_min_categories
        _check_range("profile_max_categories", self.profile_max_categories, lo, n_categories, integer=True)
        _check_range("profile_leak", self.profile_leak, 0.0, 0.5)
        _check_range("style_concentration", self.style_concentration, 0.0, 100.0, lo_open=True)
        _check_range("style_leak", self.style_leak, 0.0, 1.0)
        _check_range("user_concentration", self.user_concentration, 0.0, 10_000.0, lo_open=True)
        _check_range("min_purchases", self.min_purchases, 1, 1000, integer=True)
        _check_range("max_purchases", self.max_purchases, self.min_purchases, 10_000, integer=True)
        _check_range("mean_purchases", self.mean_purchases, float(self.min_purchases), float(self.max_purchases))
        _check_range("purchases_sigma", self.purchases_sigma, 0.0, 3.0)
        _check_range("mean_days_between_purchases", self.mean_days_between_purchases, 0.0, 3650.0)
        _check_range("n_missions", self.n_missions, 1, 256, integer=True)
        _check_range("mission_categories", self.mission_categories, 1, n_categories, integer=True)
        _check_range("mission_leak", self.mission_leak, 0.0, 0.5)
        _check_range("match_probability", self.match_probability, 0.0, 1.0)
        _check_range("browser_fraction", self.browser_fraction, 0.0, 1.0)
        _check_range("mission_concentration", self.mission_concentration, 0.0, 1000.0, lo_open=True)
        _check_range("behaviour_weight", self.behaviour_weight, 0.0, 100.0, lo_open=True)
        _check_range("image_size", self.image_size, 16, 512, integer=True)
        _check_range("noise_sigma", self.noise_sigma, 0.0, 64.0)
        _check_range("n_clusters", self.n_clusters, 1, 256, integer=True)
        fr = self.split_fractions
        if (
            not isinstance(fr, (tuple, list))
            or len(fr) != 3
            or not all(isinstance(f, (int, float)) and not isinstance(f, bool) and 0 < f < 1 for f in fr)
            or not math.isclose(sum(fr), 1.0, abs_tol=1e-6)
        ):
            raise ConfigError(
                f"synth.split_fractions must be three numbers in (0, 1) (train, val, test) summing to 1, got {fr!r}"
            )
        object.__setattr__(self, "split_fractions", tuple(float(f) for f in fr))

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
    if preset not in _PRESETS:
        raise ConfigError(f"synth preset must be one of {PRESET_NAMES}, got {preset!r}")
    fields = {f.name for f in dataclasses.fields(SynthConfig)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ConfigError(f"unknown synth config field(s) {unknown}; known: {sorted(fields)}")
    return SynthConfig(**{**_PRESETS[preset], **overrides})
