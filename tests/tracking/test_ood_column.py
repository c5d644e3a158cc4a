"""--ood-data: the selected checkpoints tested on a second dataset, logged as ood/test/* and shown as Table 1's
out-of-domain column; a folder that is no dataset is refused before anything runs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from cluster.sweep_settings import SweepSettings
from rcml_core.errors import ConfigError
from rcml_core.eval import keys
from tests.eval.conftest import tiny_data  # noqa: F401 - the shared built catalog
from tracking.report_table1 import columns, html_table, markdown, table1
from tracking.reports import ood_report


def _metrics(ood: bool) -> dict[str, float]:
    out = {"selected/test/n_queries": 143.0, "selected/test/n_pairs": 91.0, "selected/test/n_seeds": 2.0,
           "selected/test/ref_cat_hit_at_5": 0.35}
    for sim in keys.SIMILARITIES:
        out["selected/" + keys.metric_key("test", "hit_at_5", sim)] = 0.4
    if ood:
        out.update({"ood/test/hit_at_5": 0.31, "ood/test/hit_at_5_std": 0.02, "ood/test/hit_at_5_ci_lo": 0.25,
                    "ood/test/hit_at_5_ci_hi": 0.37, "ood/test/n_queries": 80.0, "ood/test/n_pairs": 40.0,
                    "ood/test/ref_cat_hit_at_5": 0.33})
    return out


def test_table1_gets_an_out_of_domain_column_only_when_the_sweep_was_given_ood_data() -> None:
    assert ("ood", "OOD AVG") not in columns(table1(_metrics(ood=False)))
    table = table1(_metrics(ood=True)).set_index("prefix")
    assert table.loc["", "ood_mean"] == 0.31 and table.loc["", "ood_ci_hi"] == 0.37
    assert table.loc["ref_cat_", "ood_mean"] == 0.33 and math.isnan(table.loc["ref_cat_", "ood_std"])
    text = markdown(table.reset_index(), "hit@5", ood_name="goodreads-x")
    assert "| OOD AVG |" in text and "**0.3300**" in text  # the best OOD value in bold (the reference scorer)
    assert "0.3100 ± 0.0200 [0.250, 0.370]" in text
    assert "out-of-domain dataset goodreads-x (80 queries, 40 distinct item pairs)" in text
    assert "<th>OOD AVG</th>" in html_table(table.reset_index(), "hit@5", ood_name="goodreads-x")


def test_the_sweep_report_gets_the_ood_table_and_lines() -> None:
    report = ood_report({"ood/test/hit@5": 0.31, "ood/test/hit@5_std": 0.02, "ood/test/ref_cat_hit@5": 0.33,
                         "ood/test/n_queries": 80.0})
    table = report.tables["test_ood"]
    assert set(table["scorer"]) == {"model", "reference: category pair"}
    assert report.lines[0].startswith("  out-of-domain (--ood-data) test hit@5 AVG: selected 0.3100")
    assert ood_report({}).tables == {} and ood_report({}).lines == []


def test_a_folder_without_a_manifest_is_refused_as_ood_data(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--ood-data .*no manifest.json"):
        SweepSettings(ood_data=str(tmp_path))


def test_a_checkpoint_is_evaluated_on_another_catalog_with_every_scorer_on_its_queries(
        tiny_data: Path, tmp_path: Path) -> None:  # noqa: F811
    from cluster.final_eval import _evaluate_ood
    from rcml_core.data.format.io import load_dataset
    from rcml_core.data.synth import generate_catalog, synth_preset
    from rcml_core.runtime.run_config import resolve_run_config
    from rcml_core.train.loop import train

    ood = tmp_path / "synth-tiny-seed1"
    generate_catalog(synth_preset("tiny", seed=1), ood, progress=False)
    config = resolve_run_config("tiny", overrides=[f"data={tiny_data}", "epochs=1", "max_steps_per_epoch=2",
                                                   "batch_size=8", f"out_dir={tmp_path / 'run'}", "device=cpu"])
    best = train(config, final_splits=()).best_checkpoint
    # as a sweep's task sees it: a Ray Train checkpoint folder holding best/, on the storage's filesystem
    result = _evaluate_ood(str(best.parent), str(tmp_path), str(ood), False)
    m = result.metrics
    assert m["test/n_queries"] == len(load_dataset(ood).retrieval["test"]) != len(load_dataset(tiny_data).retrieval["test"])
    assert 0.0 <= m["test/hit@5"] <= 1.0 and m["test/hit@5_ci_lo"] <= m["test/hit@5"] <= m["test/hit@5_ci_hi"]
    assert {"test/free_hit@5", "test/ref_catrel_hit@5", "test/validity_acc"} <= set(m)
