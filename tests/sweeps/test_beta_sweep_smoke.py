"""`sweeps/beta_sweep.py --smoke-test --ood-data DIR` end to end on local Ray: one child run per trial with
per-epoch metrics, the selected beta is the argmax of val Hit@5, the model is registered and serves, the
selected checkpoint is also tested on a second catalog (out of domain); the MLflow UI and the `rcml report`
page over that sweep (Table 1 with its OOD column, Figures 2-6), opened in headless Chromium."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.screenshots import chromium, chromium_path, mlflow_server, open_report, open_runs_page
from cluster.paths import PROJECT_ROOT
from sweeps import beta_sweep
from tests.sweeps.conftest import read_sweep
from tracking.run_metadata import git_commit

N_TRIALS = len(beta_sweep.BETAS) * len(beta_sweep.SUMMARY_MIXES)  # the grid, one seed (the smoke test)

OOD_DATA = "synth-tiny-seed1"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def beta_home(tmp_path_factory, local_ray) -> Path:
    from rcml_core.data.synth import generate_catalog, synth_preset

    home = tmp_path_factory.mktemp("beta-sweep")
    generate_catalog(synth_preset("tiny", seed=1), home / OOD_DATA, progress=False)  # another draw: out of domain
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert beta_sweep.main(["--smoke-test", "--home", str(home), "--ood-data", str(home / OOD_DATA)]) == 0
    (home / "printed.txt").write_text(printed.getvalue())
    return home


def test_every_trial_has_exactly_one_finished_child_run_with_per_epoch_metrics(beta_home: Path) -> None:
    record = read_sweep(beta_home, "beta_sweep")
    assert record.parent.info.status == "FINISHED"
    assert len(record.children) == len(beta_sweep.BETAS) * len(beta_sweep.SUMMARY_MIXES)  # 6 betas x 2 modes x 1 seed
    assert len({c.data.tags["rcml.trial_id"] for c in record.children}) == len(record.children)
    for child in record.children:
        assert child.info.status == "FINISHED"
        assert child.data.tags["mlflow.parentRunId"] == record.parent.info.run_id
        assert [step for step, _ in record.history(child, "val/hit_at_5")] == [0, 1]  # epoch 0 and epoch 1
        assert float(child.data.params["model.beta"]) in beta_sweep.BETAS
        # recorded by the trial through the sweep's tracking relay
        assert {a.path for a in record.client.list_artifacts(child.info.run_id)} >= {"metrics.json", "config.json"}
        assert child.data.tags["status"] == "finished"
    configurations = sorted((c.data.params["model.summary_mix"], float(c.data.params["model.beta"]))
                            for c in record.children)
    assert configurations == sorted((m, b) for m in beta_sweep.SUMMARY_MIXES for b in beta_sweep.BETAS)


def test_the_selected_mode_and_beta_are_the_argmax_of_validation_hit5(beta_home: Path) -> None:
    record = read_sweep(beta_home, "beta_sweep")
    best = {(c.data.params["model.summary_mix"], float(c.data.params["model.beta"])):
            max(v for _, v in record.history(c, "val/hit_at_5")) for c in record.children}
    selected = json.loads(record.parent.data.tags["rcml.selected"])
    assert best[selected["summary_mix"], selected["beta"]] == max(best.values())
    assert record.parent.data.metrics["selected/val/hit_at_5"] == pytest.approx(max(best.values()))  # mean, 1 seed
    assert 0.0 <= record.parent.data.metrics["selected/test/hit_at_5"] <= 1.0


def test_the_parent_run_holds_figure_5_and_the_tables(beta_home: Path) -> None:
    record = read_sweep(beta_home, "beta_sweep")
    artifacts = {a.path for a in record.client.list_artifacts(record.parent.info.run_id, "report")}
    assert {"report/hit5_vs_beta.png", "report/hit5_by_configuration.csv", "report/trials.csv",
            "report/selection.json", "report/fig6_tsne.png", "report/fig6_tsne_items.csv",
            "report/test_ood.csv"} <= artifacts


def test_the_selected_model_is_registered_and_embeds_items_under_a_new_relation(beta_home: Path) -> None:
    import mlflow.pyfunc

    record = read_sweep(beta_home, "beta_sweep")
    version = record.client.get_model_version_by_alias("rcml-beta_sweep", "champion")
    assert version.tags["rcml.trial_id"] == record.parent.data.tags["rcml.selected_trial"]
    assert 0.0 <= float(version.tags["final/test/hit_at_5"]) <= 1.0  # the checkpoint's own test result
    selected_child = next(c for c in record.children if c.data.tags["rcml.trial_id"] == version.tags["rcml.trial_id"])
    assert float(version.tags["final/test/hit_at_5"]) == \
        pytest.approx(selected_child.data.metrics["final/test/hit_at_5"], abs=1e-5)  # the same name on its run
    mlflow.set_tracking_uri(f"sqlite:///{beta_home / 'mlflow.db'}")
    try:
        model = mlflow.pyfunc.load_model("models:/rcml-beta_sweep@champion")
    finally:
        mlflow.set_tracking_uri(None)  # also unsets MLFLOW_TRACKING_URI, which later sweeps would read
    data = beta_home / "data" / "synth-tiny-seed0"
    items = pd.read_parquet(data / "items.parquet").head(3)
    frame = pd.DataFrame({"text": items["text"], "image": [str(data / p) for p in items["image"]],
                          "relation": ["Bought together by parents of twins"] * 3})
    out = model.predict(frame)
    z = np.stack(out["z_avg"].to_numpy())
    assert z.shape[0] == 3 and np.allclose(np.linalg.norm(z, axis=1), 1.0, atol=1e-4)


def test_the_report_shows_intervals_the_floor_and_the_selected_models_test_numbers(beta_home: Path) -> None:
    record = read_sweep(beta_home, "beta_sweep")
    metrics = record.parent.data.metrics
    for key in ("selected/test/hit_at_5", "selected/test/hit_at_5_ci_lo", "selected/test/hit_at_5_ci_hi",
                "selected/test/free_hit_at_5", "selected/test/ref_catrel_hit_at_5", "selected/test/n_pairs",
                "baselines/val/ref_cat_hit_at_5_ci_hi", "baselines/val/free_hit_at_5"):
        assert key in metrics, key
    assert metrics["selected/test/hit_at_5_ci_lo"] <= metrics["selected/test/hit_at_5"] \
        <= metrics["selected/test/hit_at_5_ci_hi"]
    assert metrics["ood/test/hit_at_5_ci_lo"] <= metrics["ood/test/hit_at_5"] <= metrics["ood/test/hit_at_5_ci_hi"]
    assert {"ood/test/free_hit_at_5", "ood/test/ref_catrel_hit_at_5", "ood/test/n_pairs"} <= set(metrics)
    for run in [record.parent, *record.children]:  # one name per number: the AVG similarity has no _avg twin
        assert not [k for k in run.data.metrics if "hit_at_5_avg" in k or k.endswith("/hit_at_5_mean")], run.info.run_name
    for child in record.children:  # every finished trial left its per-query val outcomes for pooling
        assert {a.path for a in record.client.list_artifacts(child.info.run_id, "outcomes")} >= \
            {"outcomes/selection-val.npz"}
    report = beta_home / "reports" / record.parent.data.tags["mlflow.runName"]
    table = pd.read_csv(report / "hit5_by_configuration.csv")
    assert (table["n_pooled"].dropna() == 1).sum() == N_TRIALS  # one seed pooled per row
    assert table.iloc[:, 0].astype(str).str.startswith("reference: category pair | relation").any()  # first key column
    assert {"test_selected.csv", "val_baselines.csv"} <= {p.name for p in report.iterdir()}
    # the CLIP baselines, trained with the sweep's budget and seed, tested on the selected model's test queries
    for key in ("baselines/test/concat_hit_at_5", "baselines/test/plain_hit_at_5_ci_lo", "baselines/test/plain_n_pairs"):
        assert key in metrics, key
    assert metrics["baselines/test/concat_n_queries"] == metrics["selected/test/n_queries"]
    scorers = set(pd.read_csv(report / "test_selected.csv")["scorer"])
    # per-relation slices on test: every query in exactly one slice, for the model and both CLIP rows
    slices = pd.read_csv(report / "hit5_by_relation.csv")
    assert set(slices["scorer"]) == {"selected", "CLIP-concat", "CLIP fine-tuned (plain)"}
    for _, rows in slices.groupby("scorer"):
        assert rows["n_queries"].sum() == metrics["selected/test/n_queries"]
        assert ((rows["ci_lo"] <= rows["mean"]) & (rows["mean"] <= rows["ci_hi"])).all()
    # every configuration's val Hit@5 over its seeds on the parent, not only the selected one's
    per_config = {k for k in metrics if k.startswith("configurations/") and k.endswith("/val/hit_at_5")}
    assert len(per_config) == N_TRIALS and "configurations/summary_mix:logit beta:0.6/val/hit_at_5" in per_config
    assert {"CLIP-concat", "CLIP fine-tuned (plain)", "reference: category pair"} <= scorers


def test_the_store_says_what_each_run_is_which_code_and_data_made_it_and_where_its_checkpoint_is(
        beta_home: Path) -> None:
    record = read_sweep(beta_home, "beta_sweep")
    commit = git_commit(PROJECT_ROOT)  # None outside a git checkout: then no commit tag is expected
    manifest = json.loads((beta_home / "data" / "synth-tiny-seed0" / "manifest.json").read_text())
    for run in [record.parent, *record.children]:
        run_id = run.info.run_id
        assert run.data.tags.get("mlflow.source.git.commit") == commit
        inputs = {t.value: i.dataset for i in record.client.get_run(run_id).inputs.dataset_inputs for t in i.tags
                  if t.key == "mlflow.data.context"}
        assert inputs["train"].digest == manifest["content_hash"][:32]
        assert "config.json" in {a.path for a in record.client.list_artifacts(run_id)}
    for child in record.children:
        params = child.data.params
        assert child.data.tags["seed"] == params["seed"] == "0"
        assert child.data.tags["rcml.configuration"] == \
            f"summary_mix={params['model.summary_mix']} beta={float(params['model.beta']):.4g}"
        best = Path(child.data.tags["rcml.best_checkpoint"])
        assert best.name == "best" and best.is_dir()  # local Ray storage: the folder itself
    ood_manifest = json.loads((beta_home / OOD_DATA / "manifest.json").read_text())
    ood_input = {t.value: i.dataset for i in record.client.get_run(record.parent.info.run_id).inputs.dataset_inputs
                 for t in i.tags}["ood_test"]
    assert ood_input.digest == ood_manifest["content_hash"][:32]
    note = record.client.get_experiment(record.parent.info.experiment_id).tags["mlflow.note.content"]
    assert all(term in note for term in ("selected/", "baselines/", "_tt", "free_", "ref_", "_ci_lo", "n_pairs"))
    version = record.client.get_model_version_by_alias("rcml-beta_sweep", "champion")
    selected = json.loads(record.parent.data.tags["rcml.selected"])
    assert f"summary_mix={selected['summary_mix']} beta={selected['beta']:.4g}" in version.description
    assert "seed 0" in version.description and "selection rule: the highest mean val Hit@5" in version.description
    assert version.tags["rcml.seed"] == "0"
    printed = (beta_home / "printed.txt").read_text()
    link = f"/#/experiments/{record.parent.info.experiment_id}/runs?workflowType=machine_learning"
    assert link in printed.splitlines()[-1]


def test_rcml_report_writes_table_1_with_the_stored_numbers_and_the_figures_and_logs_them(
        beta_home: Path, tmp_path: Path) -> None:
    from rcml_cli.main import main as rcml_main

    record = read_sweep(beta_home, "beta_sweep")
    parent = record.parent.info.run_id
    assert rcml_main(["report", parent, "--home", str(beta_home), "--out", str(tmp_path)]) == 0
    metrics = record.parent.data.metrics
    table = pd.read_csv(tmp_path / "table1_hit5.csv", keep_default_na=False, na_values=[""]).set_index("scorer")
    for sim in ("tt", "ii", "ti", "it", "avg"):
        key = "selected/test/hit_at_5" + ("" if sim == "avg" else f"_{sim}")  # AVG: no suffix
        assert table.loc["RCML (selected)", f"{sim}_mean"] == pytest.approx(metrics[key])
        assert table.loc["RCML (selected)", f"{sim}_ci_lo"] == pytest.approx(metrics[key + "_ci_lo"])
    assert table.loc["reference: category pair | relation", "avg_mean"] == \
        pytest.approx(metrics["selected/test/ref_catrel_hit_at_5"])
    assert table.loc["RCML (selected)", "n_pairs"] == metrics["selected/test/n_pairs"]
    assert table.loc["CLIP-concat", "avg_mean"] == pytest.approx(metrics["baselines/test/concat_hit_at_5"])
    assert table.loc["CLIP fine-tuned (plain)", "tt_ci_hi"] == pytest.approx(metrics["baselines/test/plain_hit_at_5_tt_ci_hi"])
    assert table.loc["RCML (selected)", "ood_mean"] == pytest.approx(metrics["ood/test/hit_at_5"])  # out of domain
    assert table.loc["RCML (selected)", "ood_n_queries"] == metrics["ood/test/n_queries"] != metrics["selected/test/n_queries"]
    assert table.loc["CLIP-concat"].isna()["ood_mean"]  # the CLIP baselines are not tested out of domain
    page = (tmp_path / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 4 and "hit5_vs_beta" in page  # Figure 5, embedded
    assert "fig2_relation_type" in page and "fig3_validity" in page  # Figures 2 and 3 from the stored metrics
    assert "fig6_tsne" in page and "<th>OOD AVG</th>" in page  # Figure 6 and the out-of-domain column
    md = (tmp_path / "report.md").read_text()
    assert f"{metrics['selected/test/hit_at_5']:.4f}" in md and f"{metrics['ood/test/hit_at_5']:.4f}" in md
    assert f"out-of-domain dataset {json.loads((beta_home / OOD_DATA / 'manifest.json').read_text())['name']}" in md
    logged = {a.path for a in record.client.list_artifacts(parent, "report/rcml_report")}
    assert {"report/rcml_report/report.html", "report/rcml_report/report.md"} <= logged


@pytest.fixture(scope="module")
def browser_page():
    """One headless Chromium page for the browser checks; they skip (never fail) where no browser is installed."""
    pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (the project's dev extra)")
    executable = chromium_path()
    if executable is None:
        pytest.skip("no Chromium binary (chromium on PATH or /usr/bin/chromium): .ci/run installs Debian's "
                    "chromium with apt-get and prints why when it cannot")
    with chromium(executable) as page:
        yield page


def test_the_mlflow_ui_in_a_browser_shows_the_child_runs_under_the_parent_with_their_val_hit5(
        beta_home: Path, browser_page, tmp_path: Path) -> None:
    record = read_sweep(beta_home, "beta_sweep")
    with mlflow_server(beta_home, tmp_path / "mlflow-server.log") as url:
        view = open_runs_page(browser_page, url, record.parent.info.experiment_id, record.parent.info.run_name,
                              ["val/hit_at_5"])
        browser_page.screenshot(path=str(tmp_path / "mlflow-ui.png"))
    assert "val/hit_at_5" in view.headers
    children = {child.info.run_name: child for child in record.children}
    assert len(children) == N_TRIALS  # one name per configuration and seed
    assert set(view.rows) == {record.parent.info.run_name, *children}  # the parent expanded: all its children
    for name, child in children.items():  # the latest epoch's value, as the UI shows it
        assert float(view.rows[name]["val/hit_at_5"]) == pytest.approx(child.data.metrics["val/hit_at_5"], abs=5e-4)
    assert (tmp_path / "mlflow-ui.png").stat().st_size > 0


def test_every_figure_of_the_report_page_loads_in_a_browser(beta_home: Path, browser_page, tmp_path: Path) -> None:
    from rcml_cli.main import main as rcml_main

    record = read_sweep(beta_home, "beta_sweep")
    assert f"rcml report {record.parent.info.run_id} --home {beta_home}" in (beta_home / "printed.txt").read_text()
    assert rcml_main(["report", record.parent.info.run_id, "--home", str(beta_home), "--out", str(tmp_path),
                      "--no-log"]) == 0
    widths = open_report(browser_page, tmp_path / "report.html")
    browser_page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert "hit5_vs_beta" in widths  # Figure 5 at least
    assert all(width > 0 for width in widths.values()), widths
