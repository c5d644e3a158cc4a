"""tracking.compare: paired bootstrap differences between configurations on the same queries."""

from __future__ import annotations

import numpy as np
import pytest

from rcml_core.eval.results import QueryOutcomes
from tracking.compare import SeedOutcomes, ablation_drops, compare_to_reference, holm

N_PAIRS, QUERIES_PER_PAIR = 150, 2


def _pairs() -> np.ndarray:
    return np.repeat(np.arange(N_PAIRS), QUERIES_PER_PAIR)  # (Q,) two queries (directions) per pair


def _simulate(rng: np.random.Generator, p_a: float, p_b: float, seeds=(0,)) -> dict[str, SeedOutcomes]:
    """Hits of two configurations on the same queries: each pair has a difficulty both share (what pairing
    removes); given it, A hits with probability p_a and B with p_b on average."""
    pair = _pairs()
    difficulty = rng.normal(0.0, 1.0, N_PAIRS)[pair]  # (Q,) shared by both configurations and every seed

    def hits(p: float) -> np.ndarray:
        # a logistic shift that keeps the mean hit rate near p over the difficulty distribution
        logit = np.log(p / (1 - p)) + 1.5 * difficulty
        return (rng.random(len(pair)) < 1 / (1 + np.exp(-logit))).astype(float)

    return {name: SeedOutcomes.from_seeds({s: QueryOutcomes(pair, {"hit@5_avg": hits(p)}) for s in seeds})
            for name, p in (("A", p_a), ("B", p_b))}


def _population_difference(p_a: float, p_b: float, n: int = 2_000_000) -> float:
    z = np.random.default_rng(123).normal(0.0, 1.0, n)
    mean = lambda p: float(np.mean(1 / (1 + np.exp(-(np.log(p / (1 - p)) + 1.5 * z)))))  # noqa: E731
    return mean(p_b) - mean(p_a)


def test_a_large_known_effect_has_an_interval_around_the_true_difference_that_excludes_zero() -> None:
    truth = _population_difference(0.3, 0.6)
    covered = 0
    for case in range(40):
        table = compare_to_reference(_simulate(np.random.default_rng(case), 0.3, 0.6), "A", n_resamples=1000)
        row = table.iloc[0]
        assert row["ci_lo"] > 0 and row["p"] < 0.01 and row["significant"]
        assert row["ci_lo"] <= row["diff"] <= row["ci_hi"]
        covered += row["ci_lo"] <= truth <= row["ci_hi"]
    assert covered >= 34  # a 95 % interval: ~38 of 40 expected; 34 leaves room for bootstrap undercoverage


def test_without_an_effect_about_five_percent_of_cases_are_marked_significant() -> None:
    significant = 0
    n_cases = 200
    for case in range(n_cases):
        table = compare_to_reference(_simulate(np.random.default_rng(1000 + case), 0.4, 0.4), "A", n_resamples=500)
        significant += bool(table.iloc[0]["significant"])
    assert significant / n_cases <= 0.08


def test_pairing_gives_a_narrower_interval_than_the_two_separate_intervals() -> None:
    from rcml_core.eval.bootstrap import cluster_bootstrap

    configs = _simulate(np.random.default_rng(7), 0.4, 0.5)
    row = compare_to_reference(configs, "A").iloc[0]
    separate = [cluster_bootstrap(c.values["hit@5_avg"][0], c.pair) for c in configs.values()]
    unpaired_width = sum(float(s.high[0] - s.low[0]) for s in separate)
    assert row["ci_hi"] - row["ci_lo"] < unpaired_width


def test_seeds_are_resampled_jointly_only_when_both_configurations_ran_the_same_seeds() -> None:
    same = _simulate(np.random.default_rng(3), 0.4, 0.5, seeds=(0, 1, 2))
    assert bool(compare_to_reference(same, "A").iloc[0]["seeds_paired"])
    other = {"A": same["A"], "B": SeedOutcomes(same["B"].pair, (3, 4, 5), same["B"].values)}
    row = compare_to_reference(other, "A").iloc[0]
    assert not bool(row["seeds_paired"]) and row["seeds"] == "3 4 5"


def test_identical_outcomes_differ_by_exactly_zero_and_are_not_significant() -> None:
    configs = _simulate(np.random.default_rng(5), 0.4, 0.4)
    configs["B"] = configs["A"]
    row = compare_to_reference(configs, "A").iloc[0]
    assert (row["diff"], row["ci_lo"], row["ci_hi"], row["p"]) == (0.0, 0.0, 0.0, 1.0)


def test_holm_adjusts_as_the_textbook_step_down() -> None:
    # sorted 0.005, 0.01, 0.03, 0.04 -> 4 x 0.005, 3 x 0.01, 2 x 0.03, max(previous, 1 x 0.04)
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.3, 0.01, 0.02]) == pytest.approx([0.3, 0.03, 0.04])  # 3 x 0.01, 2 x 0.02, 1 x 0.3
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # 2 x 0.5 capped at 1; then never below it
    adjusted = holm([0.02, np.nan, 0.04])
    assert np.isnan(adjusted[1]) and adjusted[[0, 2]] == pytest.approx([0.04, 0.04])  # NaN not counted


def test_with_three_configurations_the_p_values_are_holm_adjusted_per_metric() -> None:
    rng = np.random.default_rng(11)
    configs = _simulate(rng, 0.4, 0.45)
    configs["C"] = _simulate(rng, 0.4, 0.42)["B"]
    configs["C"] = SeedOutcomes(configs["A"].pair, configs["C"].seeds, configs["C"].values)
    table = compare_to_reference(configs, "A")
    assert list(table["config"]) == ["B", "C"]
    assert table["p_holm"].to_numpy() == pytest.approx(holm(table["p"].to_numpy()))


def test_ablation_drops_are_reference_minus_variant_with_a_mark_where_significant() -> None:
    configs = _simulate(np.random.default_rng(2), 0.6, 0.3)
    configs = {"full": configs["A"], "no_x": configs["B"]}
    row = ablation_drops(configs, "full").iloc[0]
    assert row["drop"] == pytest.approx(row["reference_mean"] - row["variant_mean"]) and row["drop"] > 0
    assert 0 < row["drop_ci_lo"] <= row["drop"] <= row["drop_ci_hi"]
    assert row["relative_drop_ci_lo"] <= row["relative_drop"] <= row["relative_drop_ci_hi"]
    assert row["mark"] == "*"


def test_configurations_scored_on_other_queries_cannot_be_paired() -> None:
    configs = _simulate(np.random.default_rng(1), 0.4, 0.4)
    shifted = SeedOutcomes(configs["B"].pair + 1, configs["B"].seeds, configs["B"].values)
    with pytest.raises(ValueError, match="not evaluated on the same queries"):
        compare_to_reference({"A": configs["A"], "B": shifted}, "A")
