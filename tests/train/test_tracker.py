from rcml_core.train.tracker import NoopTracker, Tracker, flatten


def test_the_noop_tracker_is_the_protocol_and_records_nothing() -> None:
    tracker = NoopTracker()
    assert isinstance(tracker, Tracker)
    assert tracker.log_metrics({"val/hit@5": 0.5}, step=0) is None


def test_flatten_nested_params() -> None:
    assert flatten({"a": {"b": 1, "c": {"d": 2}}, "e": [1, 2]}) == {"a.b": 1, "a.c.d": 2, "e": [1, 2]}
