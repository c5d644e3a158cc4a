"""The quality bar trains every row on a tiny catalog and reports test numbers with intervals beside the floor."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks import quality_bar
from rcml_core.eval.results import EvalResult, QueryOutcomes

SIMS = ("tt", "ii", "ti", "it", "avg")
PAIRS = np.array([1, 1, 2, 3])


def _result(hit5: list[float], refs: bool = False) -> EvalResult:
    model = QueryOutcomes(PAIRS, {f"{m}_{s}": np.array(hit5, float) for m in ("hit@1", "hit@5", "hit@10", "mrr")
                                  for s in SIMS})
    metrics, outcomes = model.report("test"), {"": model}
    if refs:
        ref = QueryOutcomes(PAIRS, {m: np.array([0.5, 0.5, 0.5, 0.5]) for m in ("hit@1", "hit@5", "hit@10", "mrr")})
        metrics.update(ref.report("test", "ref_catrel_"))
        outcomes["ref_catrel_"] = ref
    return EvalResult("test", metrics, outcomes)


def test_the_summary_compares_rcml_with_both_clip_rows_the_floor_and_a_variant() -> None:
    results = {"rcml": [_result([1, 1, 1, 0], refs=True), _result([1, 1, 0, 1], refs=True)],  # 0.75 both seeds
               "clip_concat": [_result([1, 0, 0, 0]), _result([0, 1, 0, 0])],  # 0.25
               "clip_plain": [_result([1, 1, 0, 0]), _result([1, 0, 1, 0])],  # 0.5
               "no_edge_text": [_result([1, 1, 0, 0]), _result([1, 1, 1, 0])]}  # 0.625
    labels = {**quality_bar.MODEL_ROWS, "no_edge_text": "RCML no_edge_text"}
    doc = quality_bar.summarise(results, labels, n_candidates=21)
    rcml = doc["rows"]["rcml"]["hit@5"]["avg"]
    assert rcml["mean"] == 0.75 and rcml["std"] == 0.0 and rcml["ci_lo"] <= 0.75 <= rcml["ci_hi"]
    assert doc["rows"]["rcml"]["n_pairs"] == 3 and doc["rows"]["rcml"]["n_seeds"] == 2
    assert doc["relative_gain"]["vs_clip_concat"]["avg"] == pytest.approx(2.0)  # 0.75 / 0.25 - 1
    assert doc["relative_gain"]["vs_best_clip"]["avg"] == pytest.approx(0.5)  # against the better CLIP row (0.5)
    assert doc["rows"]["ref_catrel"]["hit@5"]["tt"]["mean"] == 0.5  # one value under every similarity type
    assert doc["best_reference_over_rcml"] == {"scorer": "ref_catrel", **{s: pytest.approx(2 / 3) for s in SIMS}}
    assert doc["variant_over_rcml"]["no_edge_text"]["avg"] == pytest.approx(0.625 / 0.75)
    targets = doc["targets"]
    assert targets["best_reference_over_rcml_avg"]["met"] is True
    assert targets["rcml_over_best_clip_avg"]["value"] == pytest.approx(1.5)
    assert targets["no_edge_text_over_rcml_avg"]["met"] is True  # 0.83 <= 0.90
    assert doc["chance"]["hit@5"] == pytest.approx(5 / 21)


def test_the_quality_bar_runs_end_to_end_and_writes_its_json(tiny_data: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "bar"
    assert quality_bar.main(["--data", str(tiny_data), "batch_size=16", "--seeds", "0", "--epochs", "1",
                             "--max-steps-per-epoch", "2", "--out", str(out),
                             "--variant", "no_edge_text", "no_edge_text=true"]) == 0
    doc = json.loads((out / "quality_bar.json").read_text())
    assert set(doc["rows"]) == {"rcml", "clip_concat", "clip_plain", "no_edge_text", "training_free", "ref_pop",
                                "ref_cat", "ref_catrel"}
    for row in doc["rows"].values():
        cell = row["hit@5"]["avg"]
        assert cell["ci_lo"] <= cell["mean"] <= cell["ci_hi"] and row["n_queries"] > row["n_pairs"] > 0
    assert [r["seed"] for r in doc["runs"]["clip_plain"]] == [0]
    assert doc["plan"]["no_edge_text"] == ["method=rcml", "beta=0.6", "no_edge_text=true"]
    assert "best_reference_over_rcml_avg" in doc["targets"] and "vs_best_clip" in doc["relative_gain"]
    assert "test/free_hit@5_ci_lo" in doc["metrics"]["rcml"]
    printed = capsys.readouterr().out
    assert "CLIP fine-tuned" in printed and "reference: category pair | relation" in printed


def test_a_malformed_variant_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        quality_bar.main(["--data", str(tmp_path), "--variant", "no_edge_text"])
