"""One simulated store: catalog + latent behaviour + users + purchases, and its public view.

`simulate_world` runs the whole generative process of the configured generator ("missions":
mission_catalog.py + missions.py; "profiles", the legacy one: catalog.py + behaviour.py) and keeps
its internal state (tests inspect it). `public_items` / `public_interactions` / `write_images` turn
it into exactly what a real source provides to `build_dataset`: item titles, category paths,
image files, the catalog's attribute metadata (missions: colour, pattern, material, age range,
brand, which only the builder's user clustering reads), and a (user, item, timestamp) purchase
log. Missions, profiles, popularity and per-user preferences stay behind.

Each part of the process draws from its own random stream, so e.g. changing the number
of users leaves the catalog (titles and images) unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from rcml_core.data.synth.attributes import ATTRIBUTES, MISSION_DOMAIN
from rcml_core.data.synth.behaviour import Profiles, Users, sample_profiles, sample_users, simulate_purchases
from rcml_core.data.synth.catalog import PUBLIC_ITEM_COLUMNS, sample_items
from rcml_core.data.synth.mission_catalog import sample_mission_items
from rcml_core.data.synth.missions import Missions, Shoppers, sample_missions, sample_shoppers, simulate_mission_purchases
from rcml_core.data.synth.config import SynthConfig
from rcml_core.data.synth.render import encode_png, render_image
from rcml_core.data.synth.vocab import BABY_DOMAIN, Domain

# Random stream ids: one independent stream per stage of the process.
_STREAM_CATALOG, _STREAM_PROFILES, _STREAM_USERS, _STREAM_PURCHASES = 1, 2, 3, 4


def _rng(config: SynthConfig, stream: int) -> np.random.Generator:
    return np.random.default_rng([config.seed, stream])


@dataclass(frozen=True)
class SynthWorld:
    """The generator's full state. Only the public_* views below ever reach a dataset."""

    config: SynthConfig
    domain: Domain
    items: pd.DataFrame  # public columns + the generator's latent ones; row = item_idx
    users: Users | Shoppers  # latent per-user state; row = user_idx
    purchases: pd.DataFrame  # user_idx, item_idx, timestamp
    profiles: Profiles | None = None  # generator "profiles": the latent preference profiles
    missions: Missions | None = None  # generator "missions": the latent missions

    def user_id(self, user_idx: np.ndarray) -> np.ndarray:
        width = max(6, len(str(len(self.users))))
        return np.array([f"U{u:0{width}d}" for u in user_idx], dtype=object)

    @property
    def attributes(self) -> tuple[str, ...]:
        """Attribute names the catalog's metadata states (what the builder may cluster users on)."""
        return ATTRIBUTES if "attributes" in self.items else ()


def simulate_world(config: SynthConfig, domain: Domain = BABY_DOMAIN) -> SynthWorld:
    """Run the generative process (catalog, behaviour, users, purchases); deterministic in config."""
    if config.generator == "missions":
        if domain is not BABY_DOMAIN:
            raise ValueError("the missions generator has one domain (attributes.MISSION_DOMAIN)")
        items = sample_mission_items(config, MISSION_DOMAIN, _rng(config, _STREAM_CATALOG))
        missions = sample_missions(config, MISSION_DOMAIN, _rng(config, _STREAM_PROFILES))
        shoppers = sample_shoppers(config, missions, items, _rng(config, _STREAM_USERS))
        purchases = simulate_mission_purchases(config, shoppers, missions, items, _rng(config, _STREAM_PURCHASES))
        return SynthWorld(config, domain, items, shoppers, purchases, missions=missions)
    items = sample_items(config, domain, _rng(config, _STREAM_CATALOG))
    profiles = sample_profiles(config, len(domain.categories), len(domain.styles), _rng(config, _STREAM_PROFILES))
    users = sample_users(config, profiles, _rng(config, _STREAM_USERS))
    purchases = simulate_purchases(config, users, items, _rng(config, _STREAM_PURCHASES))
    return SynthWorld(config, domain, items, users, purchases, profiles=profiles)


def write_images(world: SynthWorld, image_dir: Path, progress: bool = False) -> list[Path]:
    """Render every item's image to image_dir/<item_id>.png; returns the paths in item order."""
    image_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    specs = world.items["image_spec"]
    ids = world.items["item_id"]
    for item_id, spec in tqdm(zip(ids, specs, strict=True), total=len(ids), desc="render", disable=not progress):
        path = image_dir / f"{item_id}.png"
        path.write_bytes(encode_png(render_image(spec, world.config.image_size)))
        paths.append(path)
    return paths


def public_items(world: SynthWorld, image_paths: list[Path]) -> pd.DataFrame:
    """What a real catalog provides: item_id, text, image_path, category, profile_category (and the
    attributes metadata when the generator states it)."""
    if len(image_paths) != len(world.items):
        raise ValueError(f"{len(image_paths)} image paths for {len(world.items)} items")
    frame = world.items[list(PUBLIC_ITEM_COLUMNS)].reset_index(drop=True)
    frame.insert(2, "image_path", [str(p) for p in image_paths])
    if world.attributes:
        frame["attributes"] = [dict(a) for a in world.items["attributes"]]
    return frame


def public_interactions(world: SynthWorld) -> pd.DataFrame:
    """What a real purchase log provides: user_id, item_id, timestamp (int64), time-ordered."""
    p = world.purchases.sort_values(["timestamp", "user_idx", "item_idx"], kind="stable")
    return pd.DataFrame(
        {
            "user_id": world.user_id(p["user_idx"].to_numpy()),
            "item_id": world.items["item_id"].to_numpy()[p["item_idx"].to_numpy()],
            "timestamp": p["timestamp"].to_numpy(dtype=np.int64),
        }
    ).reset_index(drop=True)
