"""The MLflow UI and the `rcml report` page as a person sees them, in headless Chromium.

    python -m benchmarks.screenshots --home SWEEP_HOME --out docs/img

starts `mlflow server` on 127.0.0.1 (a free port) over the sweep's local store (`<home>/mlflow.db`), opens the
experiment's training runs (`#/experiments/<id>/runs?workflowType=machine_learning`), expands the sweep's parent
run, shows the `val/hit_at_5` column (and the swept params) through the Columns menu as a user would, and saves
`mlflow-ui.png`; then writes the sweep's report with `rcml report` and saves `report.png`. Without `--home` it
first runs `sweeps/beta_sweep.py --smoke-test` into a temp folder. The README's screenshots come from here, and
`tests/sweeps/test_beta_sweep_smoke.py` drives the same functions (`open_runs_page`, `open_report`).

Needs Playwright (the project's `dev` extra) and a Chromium binary: Debian's `chromium` (`apt-get install
chromium`, what `.ci/run` installs) at /usr/bin/chromium, or `--chromium PATH`.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

DEFAULT_CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1800, "height": 900}  # wide enough for the added columns beside MLflow's own
UI_TIMEOUT_MS = 90_000  # the first page load compiles nothing but waits on a loaded 2-core machine


def chromium_path(explicit: str | None = None) -> str | None:
    """The Chromium binary to drive: `explicit`, else `chromium` on PATH, else /usr/bin/chromium; None if absent."""
    for candidate in (explicit, shutil.which("chromium"), DEFAULT_CHROMIUM):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def mlflow_server(home: Path, log_path: Path, timeout_s: float = 120.0) -> Iterator[str]:
    """`mlflow server` over `<home>/mlflow.db` on 127.0.0.1, one worker, no job runner; yields its base URL.

    It runs in a process group of its own (the server and its uvicorn worker), which is ended by that id on exit.
    """
    home = Path(home).resolve()
    port = free_port()
    mlflow_exe = Path(sys.executable).with_name("mlflow")
    command = [str(mlflow_exe) if mlflow_exe.exists() else "mlflow", "server",
               "--backend-store-uri", f"sqlite:///{home / 'mlflow.db'}",
               "--default-artifact-root", (home / "mlartifacts").as_uri(),
               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=home,
                                   start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"mlflow server exited with {process.returncode}; its log: {log_path}")
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server not healthy after {timeout_s:.0f} s; its log: {log_path}")
            time.sleep(0.5)
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@dataclass(frozen=True)
class RunsView:
    """What the runs table shows after `open_runs_page`: its column headers and, per visible row, the run name
    and the text of each added column's cell."""
    headers: list[str]
    rows: dict[str, dict[str, str]]  # run name -> column name -> cell text


_CELLS_BY_ROW_JS = """() => {
  const out = {};
  for (const cell of document.querySelectorAll('[role=gridcell][col-id]')) {
    const row = cell.closest('[row-index]');
    if (!row) continue;
    const i = row.getAttribute('row-index');
    (out[i] = out[i] || {})[cell.getAttribute('col-id')] = cell.innerText.trim();
  }
  return out;
}"""


def _column_name(col_id: str) -> str:
    """`metrics.`val/hit_at_5`` -> `val/hit_at_5` (the grid's column ids quote the name in backticks)."""
    match = re.search(r"`(.*)`$", col_id)
    return match.group(1) if match else col_id


def _add_column(page, name: str) -> None:
    page.get_by_role("button", name="Columns", exact=True).click()
    search = page.get_by_placeholder("Search columns")
    search.fill(name)
    tree = page.get_by_test_id("column-selector-tree")
    # a matching node's title is the full name (the search term is highlighted inside it)
    node = tree.locator(".du-bois-light-tree-treenode").filter(has_text=re.compile(f"^{re.escape(name)}$"))
    node.first.locator(".du-bois-light-tree-checkbox").click()
    page.keyboard.press("Escape")


def open_runs_page(page, base_url: str, experiment_id: str, parent_name: str, columns: Sequence[str]) -> RunsView:
    """Open the experiment's training runs, expand the run named `parent_name`, add `columns` (metric or param
    names, as the Columns menu lists them) and read the table back."""
    page.goto(f"{base_url}/#/experiments/{experiment_id}/runs?workflowType=machine_learning")
    page.get_by_text(parent_name, exact=True).first.wait_for(timeout=UI_TIMEOUT_MS)
    close_assistant = page.get_by_role("button", name="Close", exact=True)
    if close_assistant.count():  # MLflow 3's assistant side panel takes a third of the page
        close_assistant.first.click()
    name_cells = page.locator('[role=gridcell][col-id="attributes.`Run Name`"]')
    before = name_cells.count()
    name_cells.filter(has=page.get_by_text(parent_name, exact=True)).locator("button").first.click()  # expander
    page.wait_for_function(f"document.querySelectorAll('[role=gridcell][col-id=\"attributes.`Run Name`\"]').length"
                           f" > {before}", timeout=UI_TIMEOUT_MS)
    for column in columns:
        _add_column(page, column)
    headers = [h.inner_text().strip() for h in page.locator("[role=columnheader]").all()]
    # ag-grid renders a row once per container (pinned left, centre): join the cells by the row's index
    cells_by_row = page.evaluate(_CELLS_BY_ROW_JS)
    rows: dict[str, dict[str, str]] = {}
    for cells in cells_by_row.values():
        named = {_column_name(col_id): text for col_id, text in cells.items()}
        if "Run Name" in named:
            rows[named["Run Name"].splitlines()[-1]] = {c: named.get(c, "") for c in columns}  # swatch label first
    return RunsView(headers=headers, rows=rows)


def open_report(page, html: Path) -> dict[str, int]:
    """Open a report page from disk; return each <img>'s alt text (or src head) -> naturalWidth once loaded
    (0: the browser could not decode it)."""
    page.goto(Path(html).resolve().as_uri())
    page.wait_for_load_state("load")
    images = page.eval_on_selector_all(
        "img", "els => els.map(e => [e.alt || e.src.slice(0, 60), e.complete ? e.naturalWidth : 0])")
    return {name: int(width) for name, width in images}


@contextmanager
def chromium(executable: str) -> Iterator[object]:
    """A headless Chromium page (Playwright), closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            yield browser.new_page(viewport=VIEWPORT)
        finally:
            browser.close()


def sweep_parent(home: Path, study: str = "beta_sweep") -> tuple[str, str, str]:
    """(experiment id, parent run id, parent run name) of the latest sweep of `study` in `<home>/mlflow.db`."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{Path(home).resolve() / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(f"rcml-{study}")
    if experiment is None:
        raise SystemExit(f"screenshots: no experiment rcml-{study} in {home}/mlflow.db")
    parents = client.search_runs([experiment.experiment_id], "tags.`rcml.role` = 'sweep'",
                                 order_by=["attributes.start_time DESC"], max_results=1)
    if not parents:
        raise SystemExit(f"screenshots: no sweep run in experiment rcml-{study} of {home}/mlflow.db")
    run = parents[0]
    return experiment.experiment_id, run.info.run_id, run.info.run_name


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--home", type=Path, help="a beta sweep's home folder (default: run a smoke sweep into a temp one)")
    p.add_argument("--out", type=Path, default=Path("docs/img"), help="folder for mlflow-ui.png and report.png")
    p.add_argument("--chromium", help=f"Chromium binary (default: chromium on PATH, else {DEFAULT_CHROMIUM})")
    args = p.parse_args(argv)
    executable = chromium_path(args.chromium)
    if executable is None:
        print("screenshots: no Chromium binary (apt-get install chromium, or --chromium PATH)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="rcml-screenshots-"))
    home = args.home
    if home is None:
        from sweeps import beta_sweep

        home = work / "home"
        if beta_sweep.main(["--smoke-test", "--home", str(home)]) != 0:
            return 1
    from rcml_cli.main import main as rcml_main

    experiment_id, run_id, run_name = sweep_parent(home)
    if rcml_main(["report", run_id, "--home", str(home), "--out", str(work / "report"), "--no-log"]) != 0:
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    with mlflow_server(home, work / "mlflow-server.log") as url, chromium(executable) as page:
        open_runs_page(page, url, experiment_id, run_name, ["val/hit_at_5", "model.summary_mix", "model.beta"])
        page.screenshot(path=str(args.out / "mlflow-ui.png"))
        open_report(page, work / "report" / "report.html")
        page.screenshot(path=str(args.out / "report.png"))
    print(f"screenshots: {args.out / 'mlflow-ui.png'}, {args.out / 'report.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
