"""benchmarks.measure: interleaved rounds, per-round ratios, the bootstrap CI and the CI rule for targets."""

from __future__ import annotations

import statistics
import sys

import pytest

from benchmarks.measure import (
    MeasureConfig,
    Seconds,
    Target,
    bootstrap_median_ci,
    half_width_by_pairs,
    ratio_summary,
    round_orders,
    run_rounds,
    set_allocator,
    value_summary,
)


def test_rotated_rounds_put_every_variant_first_equally_often() -> None:
    orders = round_orders(["a", "b", "c"], 6, "rotate", seed=0)
    assert orders[:3] == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"]]
    assert [o[0] for o in orders].count("a") == [o[0] for o in orders].count("c") == 2


def test_shuffled_rounds_are_seeded_permutations() -> None:
    first = round_orders(["a", "b", "c", "d"], 20, "shuffle", seed=3)
    assert first == round_orders(["a", "b", "c", "d"], 20, "shuffle", seed=3)
    assert all(sorted(o) == ["a", "b", "c", "d"] for o in first)
    assert len({tuple(o) for o in first}) > 1


def test_run_rounds_times_warmup_apart_and_aligns_each_round_across_variants() -> None:
    calls, setups = [], []
    variants = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}
    rounds = run_rounds(variants, MeasureConfig(rounds=4, warmup=2), setup=setups.append)
    assert setups == [-2, -1, 0, 1, 2, 3]
    assert len(rounds.warmup["a"]) == len(rounds.warmup["b"]) == 2
    assert len(rounds.samples["a"]) == len(rounds.samples["b"]) == 4
    assert calls == ["a", "b", "b", "a", "a", "b", "b", "a", "a", "b", "b", "a"]  # order rotates every round
    assert all(s >= 0 for s in rounds.samples["a"] + rounds.samples["b"])


def test_a_variant_that_times_itself_is_recorded_with_its_own_seconds() -> None:
    rounds = run_rounds({"slow": lambda: Seconds(2.5), "plain": lambda: None}, MeasureConfig(rounds=3, warmup=0))
    assert rounds.samples["slow"] == [2.5, 2.5, 2.5]
    assert all(s < 1.0 for s in rounds.samples["plain"])


def test_ratio_is_the_median_of_per_round_ratios_with_min_max_and_pairs() -> None:
    numerator = [2.0, 3.0, 9.0, 4.0, 5.0]
    denominator = [1.0, 2.0, 3.0, 4.0, 5.0]  # per-round ratios 2, 1.5, 3, 1, 1
    out = ratio_summary(numerator, denominator, with_convergence=False)
    assert out["median"] == 1.5 and out["min"] == 1.0 and out["max"] == 3.0 and out["pairs"] == 5
    assert out["ci95"][0] <= out["median"] <= out["ci95"][1]
    # not the ratio of the medians (4 / 3): a slow round of one variant pairs with the same round of the other
    assert out["median"] != round(statistics.median(numerator) / statistics.median(denominator), 3)


def test_constant_ratios_give_a_zero_width_interval() -> None:
    out = ratio_summary([1.1 * x for x in range(1, 21)], list(range(1, 21)), with_convergence=False)
    assert out["median"] == out["ci95"][0] == out["ci95"][1] == 1.1 and out["ci_half_width"] == 0.0


def test_bootstrap_interval_narrows_with_more_pairs_and_is_seeded() -> None:
    values = [1.0 + 0.1 * ((7 * i) % 11 - 5) / 5 for i in range(80)]  # spread +-10 %, no trend
    low10, high10 = bootstrap_median_ci(values[:10], seed=1)
    low80, high80 = bootstrap_median_ci(values, seed=1)
    assert high80 - low80 < high10 - low10
    assert bootstrap_median_ci(values, seed=1) == (low80, high80)
    assert bootstrap_median_ci([4.2]) == (4.2, 4.2)


def test_a_target_is_met_only_when_the_whole_interval_is_on_its_side() -> None:
    at_most = Target("<=", 1.2)
    assert at_most.verdict(1.05, 1.15) == "met"
    assert at_most.verdict(1.10, 1.25) == "not met"  # median may be under 1.2; the CI is not
    assert at_most.verdict(1.10, 1.20) == "not met"  # the upper end must be strictly under
    at_least = Target(">=", 5.0)
    assert at_least.verdict(5.5, 9.0) == "met" and at_least.verdict(4.9, 9.0) == "not met"


def test_ratio_summary_judges_each_target_by_the_interval() -> None:
    # ratios 1.00 .. 1.19 spread evenly: the median is ~1.1, the CI reaches above 1.1 but stays under 1.2
    ratios = [1.0 + 0.01 * i for i in range(20)]
    out = ratio_summary(ratios, [1.0] * 20, [Target("<=", 1.2), Target("<=", 1.1)], with_convergence=False)
    assert out["ci95"][1] < 1.2 and out["ci95"][0] < 1.1 < out["ci95"][1]
    assert out["verdicts"] == {"<= 1.2": "met", "<= 1.1": "not met"}


def test_half_width_by_pairs_reports_the_prefixes_the_samples_reach() -> None:
    numerator = [1.0 + 0.05 * ((3 * i) % 7 - 3) for i in range(25)]
    denominator = [1.0] * 25
    widths = half_width_by_pairs(numerator, denominator)
    assert list(widths) == [3, 5, 10, 15, 20]
    assert widths[20] == ratio_summary(numerator[:20], denominator[:20], with_convergence=False)["ci_half_width"]
    assert "ci_half_width_by_pairs" in ratio_summary(numerator, denominator)


def test_value_summary_judges_a_repeated_wall_time_against_its_target() -> None:
    out = value_summary([150.0, 160.0, 155.0], [Target("<=", 240.0)])
    assert out["median"] == 155.0 and out["min"] == 150.0 and out["max"] == 160.0 and out["n"] == 3
    assert out["verdicts"] == {"<= 240": "met"}
    assert value_summary([250.0], [Target("<=", 240.0)])["verdicts"] == {"<= 240": "not met"}


def test_bad_settings_are_rejected_with_the_field_named() -> None:
    with pytest.raises(ValueError, match="rounds"):
        MeasureConfig(rounds=0)
    with pytest.raises(ValueError, match="order"):
        MeasureConfig(order="random")
    with pytest.raises(ValueError, match="clock"):
        MeasureConfig(clock="tsc")
    with pytest.raises(ValueError, match="Target.op"):
        Target("<", 1.0)
    with pytest.raises(ValueError, match="equal"):
        ratio_summary([1.0, 2.0], [1.0])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_fixed_allocator_thresholds_are_set_and_reported() -> None:
    assert set_allocator("default") == "default"
    assert set_allocator("fixed").startswith(("fixed", "default (no glibc"))
    with pytest.raises(ValueError, match="allocator"):
        set_allocator("jemalloc")
