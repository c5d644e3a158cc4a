"""One corpus of bad inputs for every entry point, each run as a user runs it (a subprocess).

Entry points: `rcml data synth|check`, `rcml train|eval`, the sweep scripts (flags and overrides), and a
dataset damaged after it was built (truncated Parquet, a missing image whose decoded cache is still there,
corrupt image bytes, an edge to a missing item, an image path that leaves the folder). Each must end with a
one-line error naming the file, record or flag (exit status 2, no traceback), or, for `rcml data check`,
list the problem with its record (exit status 1). A preparation that fails leaves no dataset behind.

The sweep cases pass `--address 127.0.0.1:1`, where no Ray cluster listens: their arguments must be refused
before the sweep connects to Ray (otherwise the error would be about the cluster). The cases run a few at a
time; the count tried is printed in the test summary.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[1]
RCML = [sys.executable, "-m", "rcml_cli"]
NO_RAY = ["--address", "127.0.0.1:1"]  # nothing listens there: a sweep that reached Ray would fail on it


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]  # {ds}: the (damaged) dataset, {tmp}: this case's scratch folder
    names: tuple[str, ...]  # what the error must name (all of them), after formatting
    damage: str | None = None  # a function below applied to a copy of the built dataset
    status: int = 2
    absent: tuple[str, ...] = field(default_factory=tuple)  # paths that must not exist afterwards


def _rewrite(path: Path, column: str, row: int, value: str) -> None:
    table = pq.read_table(path)
    i = table.schema.get_field_index(column)
    values = table.column(column).to_pylist()
    values[row] = value
    pq.write_table(table.set_column(i, table.schema.field(i), pa.array(values, table.schema.field(i).type)), path)


def truncate_items(ds: Path) -> None:
    data = (ds / "items.parquet").read_bytes()
    (ds / "items.parquet").write_bytes(data[: len(data) // 2])


def delete_image(ds: Path) -> None:  # the decoded-image cache built before is still in ds/cache
    (ds / "images" / "SYN000007.png").unlink()


def corrupt_image(ds: Path) -> None:
    (ds / "images" / "SYN000003.png").write_bytes(b"\x89PNG\r\n\x1a\n but then nothing an image needs")


def edge_to_missing_item(ds: Path) -> None:
    _rewrite(ds / "edges.parquet", "dst", 0, "NO_SUCH_ITEM")


def image_path_leaves_folder(ds: Path) -> None:
    _rewrite(ds / "items.parquet", "image", 4, "../../outside.png")


TRAIN = ("train", "--data", "{ds}", "out_dir={tmp}/run")
CASES = [
    # rcml data synth
    Case("synth-items-out-of-range", ("data", "synth", "--out", "{tmp}/new", "--preset", "tiny", "--items", "-5"),
         ("synth.n_items", "-5"), absent=("{tmp}/new",)),
    Case("synth-out-below-a-file", ("data", "synth", "--out", "{tmp}/a-file/new", "--preset", "tiny"),
         ("--out", "{tmp}/a-file", "is a file, not a folder")),
    Case("synth-existing-out", ("data", "synth", "--out", "{ds}", "--preset", "tiny"), ("{ds}", "--overwrite")),
    # rcml data check
    Case("check-no-such-folder", ("data", "check", "{tmp}/nope"), ("{tmp}/nope", "no such folder")),
    Case("check-edge-to-missing-item", ("data", "check", "{ds}"),
         ("edges.parquet row 0", "NO_SUCH_ITEM", "endpoint is not an item"), damage="edge_to_missing_item", status=1),
    # rcml train: flags, overrides, paths
    Case("train-unknown-key", (*TRAIN, "nosuchkey=1"), ("unknown key", "'nosuchkey'")),
    Case("train-missing-config-file", (*TRAIN, "--config", "{tmp}/nope.yaml"), ("{tmp}/nope.yaml", "does not exist")),
    Case("train-no-such-data", ("train", "--data", "{tmp}/nope", "out_dir={tmp}/run"), ("{tmp}/nope", "manifest")),
    Case("train-out-dir-below-a-file", ("train", "--data", "{ds}", "out_dir={tmp}/a-file/run"),
         ("out_dir", "{tmp}/a-file", "is a file, not a folder")),
    # rcml train on a dataset damaged after it was built
    Case("train-truncated-parquet", TRAIN, ("{ds}/items.parquet", "unreadable Parquet"), damage="truncate_items"),
    Case("train-missing-image-with-cache", TRAIN, ("item 'SYN000007'", "{ds}/images/SYN000007.png", "is missing"),
         damage="delete_image"),
    Case("train-corrupt-image", TRAIN, ("item 'SYN000003'", "{ds}/images/SYN000003.png", "cannot be decoded"),
         damage="corrupt_image"),
    Case("train-edge-to-missing-item", TRAIN, ("{ds}/edges.parquet", "'NO_SUCH_ITEM'", "not in items.parquet"),
         damage="edge_to_missing_item"),
    Case("train-image-path-leaves-folder", TRAIN, ("items.parquet row 4", "'../../outside.png'", "leaves the dataset"),
         damage="image_path_leaves_folder"),
    # rcml eval
    Case("eval-not-a-checkpoint", ("eval", "--checkpoint", "{tmp}", "--data", "{ds}"), ("{tmp}", "not a checkpoint")),
    # the sweep scripts: refused before Ray starts
    Case("beta-sweep-num-workers-0", ("@sweeps/beta_sweep.py", "--smoke-test", "--num-workers", "0", *NO_RAY),
         ("resources.num_workers", "0")),
    Case("hparam-search-epochs-0", ("@sweeps/hparam_search.py", "--smoke-test", "--epochs", "0", *NO_RAY),
         ("--epochs", "0")),
    Case("ablation-sweep-bad-override", ("@sweeps/ablation_sweep.py", "--smoke-test", "optim.lr=abc", *NO_RAY),
         ("optim.lr", "'abc'")),
]


def _entry_point(case: Case) -> str:
    return " ".join(case.argv[:2]) if case.argv[0] == "data" else case.argv[0].lstrip("@")


@dataclass
class Outcome:
    case: Case
    status: int
    stdout: str
    stderr: str
    fmt: dict


def _run(case: Case, built: Path, scratch: Path) -> Outcome:
    tmp = scratch / case.id
    tmp.mkdir()
    (tmp / "a-file").write_text("a regular file, where a folder is expected")
    ds = built
    if case.damage is not None:
        ds = Path(shutil.copytree(built, tmp / "ds"))  # copy2: mtimes kept, so the image cache stays valid
        globals()[case.damage](ds)
    fmt = {"ds": str(ds), "tmp": str(tmp)}
    argv = [a.format(**fmt) for a in case.argv]
    if argv[0].startswith("@"):
        command = [sys.executable, str(ROOT / argv[0][1:]), *argv[1:], "--home", str(tmp / "home")]
    else:
        command = [*RCML, *argv]
    env = dict(os.environ, PYTHONPATH=str(ROOT), RCML_HOME=str(tmp / "home"))
    done = subprocess.run(command, cwd=tmp, env=env, capture_output=True, text=True, timeout=300)
    return Outcome(case, done.returncode, done.stdout, done.stderr, fmt)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> dict[str, Outcome]:
    from rcml_core.data.format.images import image_array
    from rcml_core.data.format.io import load_dataset
    from rcml_core.runtime.run_config import resolve_run_config

    built = tmp_path_factory.mktemp("corpus") / "ds"
    made = subprocess.run([*RCML, "data", "synth", "--out", str(built), "--preset", "tiny", "--no-progress"],
                          cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True,
                          timeout=300)
    assert made.returncode == 0, made.stderr[-3000:]
    size = resolve_run_config("tiny", None, []).backbone.image_size
    image_array(load_dataset(built), size, progress=False)  # the cache a first training run would have built
    scratch = tmp_path_factory.mktemp("cases")
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda c: _run(c, built, scratch), CASES))
    line = f"bad-input corpus: {len(results)} bad inputs tried over {len({_entry_point(c) for c in CASES})} entry points"
    capture = pytestconfig.pluginmanager.get_plugin("capturemanager")
    if capture is not None:
        with capture.global_and_fixture_disabled():  # shown in the test output whatever -s says
            print(f"\n{line}")
    else:
        print(line)
    return {o.case.id: o for o in results}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_bad_input_gives_one_line_naming_what_is_wrong(outcomes: dict[str, Outcome], case: Case) -> None:
    out = outcomes[case.id]
    shown = f"exit {out.status}\n--- stdout\n{out.stdout[-2000:]}\n--- stderr\n{out.stderr[-3000:]}"
    assert out.status == case.status, shown
    assert "Traceback" not in out.stdout + out.stderr, shown
    names = [n.format(**out.fmt) for n in case.names]
    if case.status == 2:  # the error is the last line of stderr, and one line
        last = out.stderr.strip().splitlines()[-1]
        assert "error" in last and all(n in last for n in names), shown
    else:  # `rcml data check`: every problem listed on its own line, with its record
        assert any(all(n in line for n in names) for line in out.stdout.splitlines()), shown
    for path in case.absent:
        assert not Path(path.format(**out.fmt)).exists(), f"{path}: a failed preparation left something behind"
