"""The step-time benchmark runs end to end and reports what it measured: interleaved rounds, medians, the
ratio's median with its bootstrap CI, min / max, and met / not met by the CI rule."""

from __future__ import annotations

import json

import pytest

from benchmarks.step_time import VARIANTS, main


def _run(capsys, *args: str, batch: int = 8) -> dict:
    assert main(["--batch", str(batch), "--threads", "1", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_step_time_benchmark_reports_medians_and_ratios_with_a_ci_judged_by_its_upper_end(capsys) -> None:
    result = _run(capsys, "--rounds", "3", "--warmup-rounds", "1")
    assert result["measure"]["rounds"] == 3 and result["measure"]["order"] == "rotate"
    assert set(result["step_ms"]) == set(VARIANTS)
    for stats in result["step_ms"].values():
        assert stats["n"] == 3 and 0 < stats["min"] <= stats["median"] <= stats["max"]
    train = result["ratios"]["train_rcml_over_clip"]
    assert train["pairs"] == 3 and train["min"] <= train["median"] <= train["max"]
    assert train["ci95"][0] <= train["median"] <= train["ci95"][1]
    for target, limit in (("<= 1.2", 1.2), ("<= 1.1", 1.1)):
        assert train["verdicts"][target] == ("met" if train["ci95"][1] < limit else "not met")
    assert {"forward_rcml_over_clip", "train_rcml_padded_over_clip", "train_conditioning_over_clip"} <= set(
        result["ratios"])
    assert result["threads"] == 1 and result["allocator"]


def test_step_time_benchmark_draws_a_new_batch_per_round_unless_told_to_keep_one(capsys) -> None:
    varying = _run(capsys, "--rounds", "4", "--warmup-rounds", "0", "--variants", "rcml", "clip")
    assert set(varying["step_ms"]) == {"rcml", "clip"} and set(varying["ratios"]) == {"train_rcml_over_clip"}
    assert varying["batch_shapes"]["distinct"] > 1
    assert isinstance(varying["batch_shapes"]["unique_items"], list)  # [min, median, max] over the rounds
    fixed = _run(capsys, "--rounds", "4", "--warmup-rounds", "0", "--variants", "rcml", "clip", "--fixed-batch")
    assert fixed["batch_shapes"]["distinct"] == 1 and isinstance(fixed["batch_shapes"]["unique_items"], int)


def test_step_time_batches_carry_only_the_relations_their_rows_use(capsys) -> None:
    import torch

    from benchmarks.step_time import synthetic_batch, synthetic_texts
    from rcml_core.model.backbone import BackboneConfig, build_backbone
    from rcml_core.model.rcml import RCMLConfig, RCMLModel

    titles, relations = synthetic_texts(32, seed=0)
    model = RCMLModel(build_backbone(BackboneConfig(), titles + relations), RCMLConfig())
    batch = synthetic_batch(model, titles, relations, 4, 0.5, seed=0)
    assert batch.num_relations == len(set(batch.rel.tolist())) <= 4  # as make_pair_batch builds them
    assert sorted(set(batch.rel.tolist())) == list(range(batch.num_relations))
    every = synthetic_batch(model, titles, relations, 4, 0.5, seed=0, all_relations=True)  # relation_negatives
    assert every.num_relations == len(relations) and torch.equal(every.src, batch.src)


def test_step_time_benchmark_counts_flops_and_reports_mfu_under_bf16_autocast(capsys) -> None:
    result = _run(capsys, "--rounds", "1", "--warmup-rounds", "1", "--variants", "rcml", "clip", "--autocast",
                  "bf16", "--peak-tflops", "1.0")
    assert result["autocast"] == "bf16" and result["compile"] is None
    flops = result["gflops_per_step"]
    assert flops["rcml"] > flops["clip"] > 0  # RCML adds the relation texts and the conditioning
    # the GFLOPs are printed rounded to 1 MFLOP, the ratio computed before
    assert result["flop_ratio_rcml_over_clip"] == pytest.approx(flops["rcml"] / flops["clip"], rel=0.02)
    for k in ("rcml", "clip"):
        assert result["mfu"][k] == round(result["achieved_tflops"][k] / 1.0, 4)


def test_step_time_benchmark_rejects_variants_without_rcml_and_clip() -> None:
    with pytest.raises(ValueError, match="must include rcml and clip"):
        from benchmarks.step_time import measure

        measure(batch_size=4, variants=["rcml", "conditioning"])


@pytest.mark.slow  # tracing both models takes ~30 s on 2 cores
def test_step_time_benchmark_compiles_and_times_steps_whose_shapes_vary(capsys) -> None:
    # aot_eager traces and runs the compiled graphs without needing a C compiler
    result = _run(capsys, "--rounds", "2", "--warmup-rounds", "1", "--variants", "rcml", "clip",
                  "--compile", "--compile-backend", "aot_eager", batch=4)
    assert result["compile"] == "aot_eager" and result["step_ms"]["rcml"]["median"] > 0
    assert result["batch_shapes"]["distinct"] > 1  # new shapes after the warm-up: recompiles or dynamic graphs
    counters = result["compile_counters"]
    assert counters["unique_graphs"] >= 2 and counters["frames_compiled"] >= 2 and result["warmup_s"]["rcml"] > 0
