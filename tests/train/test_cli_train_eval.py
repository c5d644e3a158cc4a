"""`rcml train` then `rcml eval`, end to end on a tiny catalog, for RCML, the CLIP baseline and ablations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rcml_cli.main import main


def test_rcml_train_then_eval_end_to_end(tiny_data: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert main(["train", "--data", str(tiny_data), "--preset", "tiny", "beta=0.6", "seed=1", "epochs=1",
                 "batch_size=16", f"out_dir={out}"]) == 0
    printed = capsys.readouterr().out
    assert "epoch  0" in printed and "epoch  1" in printed and "best epoch" in printed
    report = json.loads((out / "metrics.json").read_text())
    assert report["config"]["model"]["beta"] == 0.6 and report["config"]["seed"] == 1
    assert json.loads((out / "config.json").read_text()) == report["config"]

    result = tmp_path / "test.json"
    assert main(["eval", "--checkpoint", str(out / "checkpoints/best"), "--split", "test", "--out", str(result)]) == 0
    metrics = json.loads(result.read_text())
    for key in ("test/hit@5_tt", "test/hit@5_ii", "test/hit@5_ti", "test/hit@5_it", "test/hit@5"):  # AVG: no suffix
        assert 0.0 <= metrics[key] <= 1.0
    assert metrics["test/n_queries"] > 0 and "test/validity_acc" in metrics and "test/rtype_top3_avg" in metrics
    assert "TT" in capsys.readouterr().out


@pytest.mark.parametrize(
    "overrides",
    [
        ["method=clip"],
        ["no_inter_edges=true"],
        ["no_intra_loss=true"],
        ["no_edge_text=true"],
        ["frozen_backbone=true"],
        ["relation_negatives=true"],
        ["summary_mix=logit", "beta=0.3"],
    ],
    ids=lambda o: "+".join(o),
)
def test_every_method_and_ablation_trains_and_is_recorded(tiny_data: Path, tmp_path: Path, overrides) -> None:
    out = tmp_path / "run"
    assert main(["train", "--data", str(tiny_data), "epochs=1", "batch_size=16", "max_steps_per_epoch=2",
                 f"out_dir={out}", *overrides]) == 0
    report = json.loads((out / "metrics.json").read_text())
    assert len(report["epochs"]) == 2 and report["final"]["val"]["val/n_queries"] > 0


def test_bad_override_is_one_line_error_without_traceback(tmp_path: Path, capsys) -> None:
    assert main(["train", "--data", str(tmp_path), "tau=-1"]) == 2
    err = capsys.readouterr().err
    assert "loss.tau" in err and "Traceback" not in err


def test_eval_of_a_folder_that_is_not_a_checkpoint_is_a_clear_error(tmp_path: Path, capsys) -> None:
    assert main(["eval", "--checkpoint", str(tmp_path)]) == 2
    assert "is not a checkpoint" in capsys.readouterr().err


def test_relation_texts_over_the_token_limit_are_truncated_and_counted(tiny_data: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert main(["train", "--data", str(tiny_data), "epochs=1", "batch_size=16", "max_steps_per_epoch=1",
                 "backbone.max_text_tokens=8", f"out_dir={out}"]) == 0
    counts = json.loads((out / "metrics.json").read_text())["data"]
    assert counts["relations_truncated"] == 4  # the intra text and all three inter descriptions exceed 8 tokens
    assert "relation texts" in capsys.readouterr().out
