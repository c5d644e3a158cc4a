"""Each hand-run benchmark runs end to end on tiny sizes and reports its side-by-side ratio.

The numbers themselves live in docs/performance.md; these tests prove the scripts measure what they
say (both variants timed, ratio = the quotient of the two) so that a rerun on another machine works.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import data_loading, inference, retrieval_relations, scaling


def _last_json(text: str) -> dict:
    start = text.index("{")
    return json.loads(text[start:])


def test_retrieval_benchmark_times_one_and_many_relation_types(tiny_data: Path, capsys) -> None:
    assert retrieval_relations.main(["--data", str(tiny_data), "--queries", "40", "--repeats", "1",
                                     "--threads", "1"]) == 0
    out = _last_json(capsys.readouterr().out)
    many = out["relation_types"]
    assert out["queries"] == 40 and many >= 2 and out["candidates_per_query"] >= 2
    assert out["ratio"] == pytest.approx(out[f"seconds_{many}_relations"] / out["seconds_1_relation"], abs=0.02)


def test_inference_benchmark_reports_ms_per_sample_and_the_relation_index(capsys) -> None:
    assert inference.main(["--items", "32", "--batch", "16", "--repeats", "1", "--threads", "1"]) == 0
    out = _last_json(capsys.readouterr().out)
    assert out["clip_ms_per_sample"] > 0 and out["rcml_ms_per_sample"] > 0
    assert out["ratio"] == pytest.approx(out["rcml_ms_per_sample"] / out["clip_ms_per_sample"], rel=0.01)
    assert out["index"]["catalog_items"] == 32 and out["index"]["queries_per_s_cached_relation"] > 0


def test_data_loading_benchmark_compares_loader_and_training_throughput(tiny_data: Path, capsys) -> None:
    assert data_loading.main(["--data", str(tiny_data), "--batch", "8", "--steps", "3", "--threads", "1"]) == 0
    out = _last_json(capsys.readouterr().out)
    assert out["loader_pairs_per_s"] > 0 and out["train_pairs_per_s"] > 0
    assert out["ratio"] == pytest.approx(out["loader_pairs_per_s"] / out["train_pairs_per_s"], rel=0.05)


def test_scaling_benchmark_writes_its_table_and_plot(tmp_path: Path, capsys) -> None:
    assert scaling.main(["--batches", "4", "8", "--title-words", "6", "--steps", "1", "--threads", "1",
                         "--vit-b32-batches", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "scaling.json").read_text())
    assert [r["batch"] for r in result["tiny"]] == [4, 8]
    assert all(r["rcml_ms"] > 0 and r["rcml_activation_mb"] > r["clip_activation_mb"] > 0 for r in result["tiny"])
    assert (tmp_path / "scaling.csv").is_file() and (tmp_path / "scaling.png").stat().st_size > 1000
    assert "vit_b32" not in result  # skipped when no ViT-B/32 batch sizes are given


def test_activation_memory_counts_saved_tensors_once_and_leaves_the_weights_out() -> None:
    import torch

    from benchmarks.shapes import saved_activation_bytes

    weight = torch.nn.Parameter(torch.randn(64, 64))
    x = torch.randn(32, 64, requires_grad=True)

    def step() -> torch.Tensor:
        h = x @ weight  # saves x (input) and weight
        return (h * h).sum()  # saves h (once, though used twice)

    with_weights = saved_activation_bytes(step)
    without = saved_activation_bytes(step, [weight])
    assert with_weights - without == weight.numel() * 4
    assert without == (x.numel() + 32 * 64) * 4


@pytest.mark.slow
def test_ray_overhead_benchmark_times_both_trial_modes_and_a_sweep_against_the_plain_loop(tiny_data: Path) -> None:
    import ray

    from benchmarks import ray_overhead

    try:
        out = ray_overhead.measure(str(tiny_data), epochs=1, steps=2, sweep_trials=2, settle_s=0.0, repeats=2)
    finally:
        ray.shutdown()
    process = out["plain_new_process_s"]
    assert out["steps_per_epoch"] == 2  # what the loop ran, read back from its history
    # the lone trial and the new process are timed alternately, compared as medians
    assert len(out["plain_new_process_runs_s"]) == len(out["in_trial_runs_s"]) == 2
    assert process == pytest.approx(sum(out["plain_new_process_runs_s"]) / 2, abs=0.02)
    assert out["in_trial_trial_s"] == pytest.approx(sum(out["in_trial_runs_s"]) / 2, abs=0.02)
    assert out["in_trial_ratio_le_1_10_from_s"] == pytest.approx(max(out["in_trial_overhead_s_per_trial"], 0) * 10,
                                                                 abs=0.3)
    for mode in ("in_trial", "worker_group"):
        # the printed seconds are rounded to 0.01 s, the ratios computed before rounding: compare at 1 %
        assert out[f"{mode}_ratio"] == pytest.approx(out[f"{mode}_trial_s"] / process, rel=0.01)
        assert out[f"{mode}_overhead_s_per_trial"] == pytest.approx(out[f"{mode}_trial_s"] - process, abs=0.02)
    assert out["sweep_trials"] == 2
    assert out["sweep_plain_baseline_s"] == pytest.approx(process + out["plain_in_process_with_ray_up_s"], abs=0.02)
    assert out["sweep_ratio"] == pytest.approx(out["sweep_s"] / out["sweep_plain_baseline_s"], rel=0.01)
    assert out["trials_at_once"] >= 1 and "in the trial's process" in out["trial_resources"]


@pytest.mark.slow
def test_tracking_relay_benchmark_times_direct_and_relayed_writes_and_concurrent_callers() -> None:
    import ray

    from benchmarks import tracking_relay

    try:
        out = tracking_relay.measure(writes=5, callers=[2])
    finally:
        ray.shutdown()
    assert out["writes"] == 5 and out["direct_ms_per_write_median"] > 0 and out["relay_ms_per_write_median"] > 0
    assert out["ratio"] == pytest.approx(out["relay_ms_per_write_median"] / out["direct_ms_per_write_median"],
                                         rel=0.01)
    assert set(out["callers"]) == {"2"} and out["callers"]["2"]["writes_per_s"] > 0
