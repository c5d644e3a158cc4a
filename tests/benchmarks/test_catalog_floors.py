"""benchmarks/catalog_floors: the floor and the attribute oracle of a synthetic catalog, with intervals."""

from __future__ import annotations

import json

import pytest

from benchmarks import catalog_floors
from rcml_core.data.synth import generate_catalog, synth_preset

pytestmark = pytest.mark.slow


def test_prints_every_reference_scorer_and_the_oracle_with_intervals(tmp_path, capsys) -> None:
    data = tmp_path / "synth"
    generate_catalog(synth_preset("tiny"), data, progress=False)
    assert catalog_floors.main(["--data", str(data), "--json", str(tmp_path / "floors.json")]) == 0
    out = capsys.readouterr().out
    for name in ("ref_pop", "ref_cat", "ref_catrel", "oracle"):
        assert f"  {name}" in out
    metrics = json.loads((tmp_path / "floors.json").read_text())
    for split in ("val", "test"):
        m = metrics[split]
        assert m[f"{split}/oracle_hit@5_ci_lo"] <= m[f"{split}/oracle_hit@5"] <= m[f"{split}/oracle_hit@5_ci_hi"]
        assert m[f"{split}/oracle_hit@5"] > 5 / 21  # told the attributes, it beats chance
        assert m[f"{split}/ref_catrel_depth"] in (1, 2, 3)


def test_refuses_a_dataset_that_is_not_synthetic(tmp_path) -> None:
    data = tmp_path / "synth"
    generate_catalog(synth_preset("tiny"), data, progress=False)
    manifest = json.loads((data / "manifest.json").read_text())
    manifest["source"]["kind"] = "amazon"
    (data / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SystemExit, match="not a synthetic catalog"):
        catalog_floors.main(["--data", str(data)])
