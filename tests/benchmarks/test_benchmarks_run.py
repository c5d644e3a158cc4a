"""Each hand-run benchmark runs end to end on tiny sizes and reports its side-by-side ratio.

The numbers themselves live in docs/performance.md; these tests prove the scripts measure what they
say (both variants timed in interleaved rounds, the ratio's median with its bootstrap CI, min / max, and
"met" only when the CI is on the target's side) so that a rerun on another machine works. They check
behaviour, never wall time.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import data_loading, inference, retrieval_relations, scaling


def _last_json(text: str) -> dict:
    start = text.index("{")
    return json.loads(text[start:])


def _check_ratio(ratio: dict, pairs: int, targets: dict[str, float] | None = None) -> None:
    """A ratio summary as benchmarks.measure prints it, and its verdicts by the CI rule."""
    assert ratio["pairs"] == pairs
    assert ratio["min"] <= ratio["median"] <= ratio["max"]
    assert ratio["ci95"][0] <= ratio["median"] <= ratio["ci95"][1]
    for target, (op, limit) in (targets or {}).items():
        met = ratio["ci95"][1] < limit if op == "<=" else ratio["ci95"][0] > limit
        assert ratio["verdicts"][target] == ("met" if met else "not met")


def _check_times(stats: dict, n: int) -> None:
    assert stats["n"] == n and 0 < stats["min"] <= stats["median"] <= stats["max"]


def test_retrieval_benchmark_times_one_and_many_relation_types_interleaved(tiny_data: Path, capsys) -> None:
    assert retrieval_relations.main(["--data", str(tiny_data), "--queries", "40", "--rounds", "3",
                                     "--warmup-rounds", "1", "--threads", "1"]) == 0
    out = _last_json(capsys.readouterr().out)
    many = out["relation_types"]
    assert out["queries"] == 40 and many >= 2 and out["candidates_per_query"] >= 2
    _check_times(out["seconds_1_relation"], 3)
    _check_times(out[f"seconds_{many}_relations"], 3)
    _check_ratio(out["ratio"], 3, {"<= 1.3": ("<=", 1.3)})


def test_inference_benchmark_reports_ms_per_sample_with_a_ci_and_the_relation_index(capsys) -> None:
    assert inference.main(["--items", "32", "--batch", "8", "--batches-per-round", "2", "--rounds", "3",
                           "--warmup-rounds", "1", "--threads", "1"]) == 0
    out = _last_json(capsys.readouterr().out)
    assert out["samples_per_round"] == 16 and out["measure"]["rounds"] == 3
    _check_times(out["clip_ms_per_sample"], 3)
    _check_times(out["rcml_ms_per_sample"], 3)
    _check_ratio(out["ratio"], 3, {"<= 1.2": ("<=", 1.2), "<= 1.1": ("<=", 1.1)})
    assert out["minor_page_faults_per_batch"] >= 0 and out["allocator"]
    assert out["index"]["catalog_items"] == 32 and out["index"]["queries_per_s_cached_relation"] > 0


def test_data_loading_benchmark_compares_loader_and_training_throughput_per_round(tiny_data: Path, capsys) -> None:
    assert data_loading.main(["--data", str(tiny_data), "--batch", "8", "--steps", "3", "--rounds", "3",
                              "--warmup-rounds", "1", "--threads", "1"]) == 0
    out = _last_json(capsys.readouterr().out)
    assert out["loader_pairs_per_s"] > 0 and out["train_pairs_per_s"] > 0 and out["pairs_per_round"] == 24
    _check_times(out["loader_s_per_round"], 3)
    _check_times(out["train_s_per_round"], 3)
    # loader throughput over training consumption: a ">=" target, met only when the CI's lower end is above it
    _check_ratio(out["ratio"], 3, {">= 5": (">=", 5.0)})


def test_scaling_benchmark_writes_its_table_and_plot_with_a_ratio_ci_per_cell(tmp_path: Path, capsys) -> None:
    assert scaling.main(["--batches", "4", "8", "--title-words", "6", "--rounds", "2", "--warmup-rounds", "1",
                         "--threads", "1", "--vit-b32-batches", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "scaling.json").read_text())
    assert [r["batch"] for r in result["tiny"]] == [4, 8] and result["measure"]["rounds"] == 2
    assert all(r["rcml_ms"] > 0 and r["rcml_activation_mb"] > r["clip_activation_mb"] > 0 for r in result["tiny"])
    for r in result["tiny"]:
        assert r["pairs"] == 2 and r["ratio_ci95_low"] <= r["ratio"] <= r["ratio_ci95_high"]
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
    # the lone trial and the new process are timed in interleaved rounds, compared as medians
    _check_ratio(out["in_trial_ratio_ci"], 2, {"<= 1.1": ("<=", 1.1)})
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
    assert out["writes"] == 5
    _check_times(out["direct_ms_per_write"], 5)
    _check_times(out["relay_ms_per_write"], 5)
    _check_ratio(out["ratio"], 5)  # one direct and one relayed write per round
    assert set(out["callers"]) == {"2"} and out["callers"]["2"]["writes_per_s"] > 0


def test_sweep_wall_time_reports_the_median_with_a_ci_and_judges_it_by_the_upper_end(tmp_path, monkeypatch,
                                                                                     capsys) -> None:
    from benchmarks import sweep_wall_time

    seconds = iter([150.0, 170.0, 160.0, 300.0])
    monkeypatch.setattr(sweep_wall_time, "run_sweep", lambda home: (next(seconds), 0, [f"ran in {home.name}"]))
    assert sweep_wall_time.main(["--home", str(tmp_path), "--repeats", "3"]) == 0
    out = _last_json(capsys.readouterr().out)
    assert out["seconds"]["median"] == 160.0 and out["seconds"]["n"] == 3
    assert out["seconds"]["verdicts"] == {"<= 4 minutes": "met"} and len(out["homes"]) == 3
    assert sweep_wall_time.main(["--home", str(tmp_path / "one")]) == 0  # 300 s: over 4 minutes
    assert _last_json(capsys.readouterr().out)["seconds"]["verdicts"] == {"<= 4 minutes": "not met"}


def test_gpu_script_runs_every_section_8_command_and_summarises_them(tmp_path: Path) -> None:
    """benchmarks/gpu.sh on a CUDA machine, with `python` replaced by a recorder (no GPU needed here; the
    commands themselves were run on CPU with `gpu.sh --dry-run`)."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    assert subprocess.run(["bash", "-n", str(root / "benchmarks" / "gpu.sh")]).returncode == 0
    log = tmp_path / "commands.txt"
    fake = tmp_path / "python"
    fake.write_text(
        "#!/usr/bin/env bash\n"
        'if [[ "$1" == "-m" ]]; then echo "$*" >> "$LOG"; echo \'{"ratio": {"median": 1.0}}\'; exit 0; fi\n'
        'if [[ "$1" == "-c" ]]; then exit 0; fi\n'  # torch.cuda.is_available()
        f'exec {sys.executable} "$@"\n'  # the summary
    )
    fake.chmod(0o755)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHON": str(fake), "LOG": str(log)}
    done = subprocess.run(["bash", str(root / "benchmarks" / "gpu.sh"), str(out)], env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    commands = log.read_text().splitlines()
    assert [c.split()[1] for c in commands] == ["benchmarks.step_time", "benchmarks.step_time",
                                                "benchmarks.scaling", "benchmarks.inference"]
    assert all("--device cuda" in c for c in commands)
    assert "--compile" not in commands[0] and "--compile --compile-backend inductor" in commands[1]
    assert "--autocast bf16" in commands[0] and "--peak-tflops 989" in commands[1]
    assert "--measure-vit-b32 512 --bf16" in commands[2] and "--items 8192 --batch 256" in commands[3]
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) == {"step_eager", "step_compiled", "peak_memory", "inference"}
