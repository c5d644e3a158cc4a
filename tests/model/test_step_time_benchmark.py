"""The step-time benchmark runs end to end and reports what it measured."""

from __future__ import annotations

import json

import pytest

from benchmarks.step_time import main


def test_step_time_benchmark_reports_medians_ratios_and_batch_shape(capsys) -> None:
    assert main(["--batch", "8", "--steps", "2", "--warmup", "1", "--threads", "1"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["batch_rows"] == 8 and result["relations"] == 11
    assert 1 <= result["unique_items"] <= 16
    for kind in ("train_ms", "forward_ms"):
        assert set(result[kind]) == {"rcml", "rcml_padded", "clip", "clip_ours", "relations", "conditioning"}
        assert all(v > 0 for v in result[kind].values())
    assert result["train_ratio_rcml_over_clip"] == round(result["train_ms"]["rcml"] / result["train_ms"]["clip"], 3)
    padded = result["train_ratio_rcml_padded_over_clip"]
    assert padded == round(result["train_ms"]["rcml_padded"] / result["train_ms"]["clip"], 3)
    rows, row_length = result["packed_text_rows"], result["packed_text_row_length"]
    padded_slots = result["unique_items"] * result["item_tokens"] + result["relations"] * result["relation_tokens"]
    assert rows is None or rows * row_length <= padded_slots  # packed only when it takes fewer slots


def test_step_time_benchmark_counts_flops_and_reports_mfu_under_bf16_autocast(capsys) -> None:
    assert main(["--batch", "8", "--steps", "1", "--warmup", "1", "--threads", "1", "--autocast", "bf16",
                 "--peak-tflops", "1.0"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["autocast"] == "bf16" and result["compile"] is None
    flops = result["gflops_per_step"]
    assert flops["rcml"] > flops["clip"] > 0  # RCML adds the relation texts and the conditioning
    for k in ("rcml", "clip"):
        assert result["mfu"][k] == round(result["achieved_tflops"][k] / 1.0, 4)


@pytest.mark.slow  # tracing both models takes ~30 s on 2 cores
def test_step_time_benchmark_runs_the_steps_through_torch_compile(capsys) -> None:
    # aot_eager traces and runs the compiled graphs without needing a C compiler
    assert main(["--batch", "4", "--steps", "1", "--warmup", "1", "--threads", "1", "--compile",
                 "--compile-backend", "aot_eager"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["compile"] == "aot_eager" and result["train_ms"]["rcml"] > 0
