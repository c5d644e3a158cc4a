"""One evaluation, every scorer on the same queries: the model's protocol, the baseline's other protocol,
intervals and counts on every Hit@k / MRR, and the reference scorers when asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from rcml_core.errors import ConfigError
from rcml_core.eval import keys
from rcml_core.eval.evaluate import EvalOptions, evaluate_split
from rcml_core.runtime.run_config import resolve_run_config
from rcml_core.runtime.session import build_session

SIMS = ("tt", "ii", "ti", "it", "avg")


def _evaluate(tiny_data: Path, method: str, **options):
    session = build_session(resolve_run_config("tiny", overrides=[f"data={tiny_data}", f"method={method}"]))
    return evaluate_split(session.model, session.inputs, session.dataset, "val", method, session.device,
                          EvalOptions(**options))


def test_every_retrieval_metric_has_an_interval_and_the_query_and_pair_counts(tiny_data: Path) -> None:
    result = _evaluate(tiny_data, "rcml", tasks=("retrieval",))
    m = result.metrics
    for metric in ("hit@1", "hit@5", "hit@10", "mrr"):
        for key in [f"val/{metric}_{s}" for s in SIMS if s != "avg"] + [f"val/{metric}"]:
            assert m[f"{key}_ci_lo"] <= m[key] <= m[f"{key}_ci_hi"], key
    assert "val/hit@5_avg" not in m  # the AVG similarity has one name, val/hit@5
    assert m["val/n_queries"] == len(result.outcomes[""]) > m["val/n_pairs"] > 0  # 2 directions per pair at least
    assert not any(k.startswith(("val/ref_", "val/plain_", "val/free_")) for k in m)


def test_the_clip_baseline_reports_its_concatenated_and_its_plain_protocol(tiny_data: Path) -> None:
    concat_first = _evaluate(tiny_data, "clip", tasks=("retrieval",)).metrics
    plain_first = _evaluate(tiny_data, "clip_plain", tasks=("retrieval",)).metrics
    for s in SIMS:
        # the unprefixed keys are the protocol the run is selected on; the other one sits beside it
        assert concat_first[keys.metric_key("val", "hit@5", s, keys.PLAIN)] == plain_first[keys.metric_key("val", "hit@5", s)]
        assert plain_first[keys.metric_key("val", "mrr", s, keys.CONCAT)] == concat_first[keys.metric_key("val", "mrr", s)]
    assert "val/plain_hit@5_ci_hi" in concat_first and "val/concat_n_pairs" in plain_first


def test_reference_scorers_are_scored_on_the_models_queries(tiny_data: Path) -> None:
    result = _evaluate(tiny_data, "rcml", tasks=("retrieval",), reference=True, max_queries=10)
    m = result.metrics
    for scorer in ("pop", "cat", "catrel"):
        assert m[f"val/ref_{scorer}_n_queries"] == m["val/n_queries"] == 10
        assert (result.outcomes[f"ref_{scorer}_"].pair == result.outcomes[""].pair).all()
        assert 0.0 <= m[f"val/ref_{scorer}_hit@1"] <= 1.0


def test_an_unknown_method_or_task_is_refused(tiny_data: Path) -> None:
    with pytest.raises(ConfigError, match=r"eval.tasks must be one of"):
        EvalOptions(tasks=("retrieval", "captioning"))
    session = build_session(resolve_run_config("tiny", overrides=[f"data={tiny_data}"]))
    with pytest.raises(ValueError, match="unknown method"):
        evaluate_split(session.model, session.inputs, session.dataset, "val", "siamese", session.device)
