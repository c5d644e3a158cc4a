"""The step-time benchmark runs end to end and reports what it measured."""

from __future__ import annotations

import json

from benchmarks.step_time import main


def test_step_time_benchmark_reports_medians_ratios_and_batch_shape(capsys) -> None:
    assert main(["--batch", "8", "--steps", "2", "--warmup", "1", "--threads", "1"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["batch_rows"] == 8 and result["relations"] == 11
    assert 1 <= result["unique_items"] <= 16
    for kind in ("train_ms", "forward_ms"):
        assert set(result[kind]) == {"rcml", "clip", "clip_ours", "relations", "conditioning"}
        assert all(v > 0 for v in result[kind].values())
    assert result["train_ratio_rcml_over_clip"] == round(result["train_ms"]["rcml"] / result["train_ms"]["clip"], 3)
