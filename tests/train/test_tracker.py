from rcml_core.train.tracker import LocalTracker, NoopTracker, Tracker, flatten


def test_local_tracker_writes_params_metrics_tags_and_artifacts(tmp_path) -> None:
    run = LocalTracker(tmp_path / "run")
    run.log_params({"model": {"beta": 0.6}, "seed": 1})
    run.log_metrics({"val/hit@5": 0.5}, step=0)
    run.log_metrics({"val/hit@5": 0.7, "train/loss": float("nan")}, step=1)
    run.set_tags({"status": "ok"})
    art = tmp_path / "table.csv"
    art.write_text("a,b\n")
    run.log_artifact(art, "tables")
    assert (tmp_path / "run/artifacts/tables/table.csv").read_text() == "a,b\n"
    again = LocalTracker(tmp_path / "run")  # reopening keeps what was logged
    assert [m["val/hit@5"] for m in again.metrics()] == [0.5, 0.7]
    assert again.metrics()[1]["train/loss"] == "nan"
    assert isinstance(again, Tracker) and isinstance(NoopTracker(), Tracker)


def test_flatten_nested_params() -> None:
    assert flatten({"a": {"b": 1, "c": {"d": 2}}, "e": [1, 2]}) == {"a.b": 1, "a.c.d": 2, "e": [1, 2]}
