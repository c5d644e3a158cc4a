"""Synthetic relational catalog: a simulated store whose purchases feed `build_dataset`.

    config.py     SynthConfig (every generator parameter) and the tiny/small/default presets
    vocab.py      the store's categories, style lines and colours (title words, visual looks)
    catalog.py    items: titles, attributes, Zipf popularity, image specs
    render.py     Pillow product images from an ImageSpec
    behaviour.py  latent preference profiles -> users -> purchases
    world.py      the whole simulation and its public view (what a real source provides)
    generate.py   generate_catalog: simulate, render, build_dataset
"""

from rcml_core.data.synth.config import PRESET_NAMES, SynthConfig, synth_preset
from rcml_core.data.synth.generate import generate_catalog, synth_build_config, synth_source
from rcml_core.data.synth.world import SynthWorld, simulate_world

__all__ = [
    "PRESET_NAMES",
    "SynthConfig",
    "SynthWorld",
    "generate_catalog",
    "simulate_world",
    "synth_build_config",
    "synth_preset",
    "synth_source",
]
