"""`generate_catalog`: simulate a store and build it into a canonical dataset.

The generator only produces what a real source would (titles, category paths, image
files, a purchase log) and hands it to `build_dataset`, which clusters users, writes the
relation texts and edges, splits and draws the eval sets exactly as for Amazon data.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from rcml_core.data.build.dataset import BuildConfig, build_dataset
from rcml_core.data.format.skips import SkipLog
from rcml_core.data.format.schema import Manifest
from rcml_core.data.format.store import check_destination
from rcml_core.data.synth.attributes import ATTRIBUTES
from rcml_core.data.synth.config import SynthConfig
from rcml_core.data.synth.world import public_interactions, public_items, simulate_world, write_images
from rcml_core.writable import naming_refusals

GENERATOR = "rcml_core.data.synth"


def synth_source(config: SynthConfig) -> dict:
    """The manifest's `source`: kind "synth" and every generator parameter."""
    return {"kind": "synth", "generator": GENERATOR, "params": config.to_dict(), "files": []}


def synth_build_config(config: SynthConfig) -> BuildConfig:
    """BuildConfig for a synthetic catalog: the config's name, seed, clusters, cluster fit and splits;
    users of the missions generator are clustered on their attribute agreement too (the catalog's
    metadata states the attributes, as Amazon's `details` do); the evaluation protocol (20 negatives,
    eval set sizes) at its defaults."""
    return BuildConfig(
        name=config.name, n_clusters=config.n_clusters, split_fractions=config.split_fractions, seed=config.seed,
        cluster_fit=config.cluster_fit, behaviour_weight=config.behaviour_weight, behaviour_attributes=ATTRIBUTES if config.generator == "missions" else (),
    )


def generate_catalog(
    config: SynthConfig,
    out_dir: Path | str,
    overwrite: bool = False,
    progress: bool = True,
    skips: SkipLog | None = None,
) -> Manifest:
    """Simulate the store described by `config` and build it into `out_dir`.

    Images are rendered into a scratch folder beside `out_dir` (same filesystem, so the
    builder hard-links rather than copies them) that is removed afterwards. `skips`
    defaults to the fail policy: the generator never produces a bad record, so any
    would be a bug to surface, not to count.
    """
    out_dir = Path(out_dir)
    check_destination(out_dir, overwrite)  # fail before simulating and rendering
    skips = skips if skips is not None else SkipLog("fail")
    world = simulate_world(config)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with naming_refusals(f"dataset {out_dir} (rendering its images beside it)", "nothing was published"), \
            tempfile.TemporaryDirectory(prefix=f".{out_dir.name}.render-", dir=out_dir.parent) as scratch:
        paths = write_images(world, Path(scratch), progress)
        return build_dataset(
            items=public_items(world, paths),
            interactions=public_interactions(world),
            out_dir=out_dir,
            config=synth_build_config(config),
            source=synth_source(config),
            skips=skips,
            overwrite=overwrite,
            progress=progress,
        )
