"""The layers of the code base and the arrows allowed between them (docs/architecture.md).

`LAYERS` below is the one definition: each layer names the modules it holds and the layers it
stands on; it may import those, whatever they stand on in turn, and its own modules. Every
import in the source counts: at module level, inside functions and under TYPE_CHECKING.
Besides the arrows: rcml_core imports none of ray, mlflow, optuna, argparse (it imports with
them unavailable); tracking imports no ray; no two modules of rcml_core import each other.
"""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import rcml_core

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("rcml_core", "tracking", "cluster", "sweeps", "rcml_cli")


@dataclass(frozen=True)
class Layer:
    name: str
    modules: tuple[str, ...]  # module names; each also holds the modules below it (`rcml_core.model.x`)
    stands_on: tuple[str, ...] = ()  # layers it may import (and, through them, what they stand on)
    packages: tuple[str, ...] = ()  # package modules (their __init__) held without what is below them


# Bottom-up. rcml_core: errors/config/writable < data < model (with loss and its data-parallel gather,
# distributed) < runtime < eval < train; serve beside train
# (it never imports it); data inside: format < build < sources, synth on build; runtime and
# everything above it read datasets through data.format only.
LAYERS: tuple[Layer, ...] = (
    Layer("base", ("rcml_core.errors", "rcml_core.config", "rcml_core.writable"), packages=("rcml_core",)),
    Layer("data.format", ("rcml_core.data.format",), ("base",), packages=("rcml_core.data",)),
    Layer("data.build", ("rcml_core.data.build",), ("data.format",)),
    Layer("data.sources", ("rcml_core.data.sources",), ("data.build",)),
    Layer("data.synth", ("rcml_core.data.synth",), ("data.build",)),
    Layer("model", ("rcml_core.model", "rcml_core.loss", "rcml_core.distributed"), ("base",)),
    Layer("runtime", ("rcml_core.runtime",), ("model", "data.format")),
    Layer("eval", ("rcml_core.eval",), ("runtime",)),
    Layer("train", ("rcml_core.train",), ("eval",)),
    Layer("serve", ("rcml_core.serve",), ("eval",)),
    Layer("tracking", ("tracking",), ("train", "serve")),
    Layer("cluster", ("cluster",), ("tracking", "data.synth")),
    Layer("sweeps", ("sweeps",), ("cluster",)),
    Layer("cli", ("rcml_cli",), ("cluster", "data.sources")),  # rcml compare/report read the sweeps' store
)
BANNED_IMPORTS: dict[str, tuple[str, ...]] = {  # package -> top-level names it must never import
    "rcml_core": ("ray", "mlflow", "optuna", "argparse"),
    "tracking": ("ray",),
}


# -- the checker: pure functions of a module graph ---------------------------------------------------
def layer_of(module: str, layers: Iterable[Layer] = LAYERS) -> Layer | None:
    """The layer holding `module`: the one with the longest matching module name."""
    best: tuple[int, Layer] | None = None
    for layer in layers:
        if module in layer.packages:
            return layer
        for name in layer.modules:
            if (module == name or module.startswith(name + ".")) and (best is None or len(name) > best[0]):
                best = (len(name), layer)
    return None if best is None else best[1]


def reachable(layer: Layer, layers: Iterable[Layer] = LAYERS) -> set[str]:
    """Names of the layers `layer` may import: itself and everything it stands on, transitively."""
    by_name = {x.name: x for x in layers}
    seen, todo = {layer.name}, list(layer.stands_on)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(by_name[name].stands_on)
    return seen


def layer_violations(graph: Mapping[str, Iterable[str]], layers: Iterable[Layer] = LAYERS) -> list[str]:
    """One line per import that goes against the arrows; `graph` maps a module to the modules it imports."""
    layers = tuple(layers)
    out = []
    for module in sorted(graph):
        home = layer_of(module, layers)
        if home is None:
            out.append(f"{module}: belongs to no layer (add it to LAYERS)")
            continue
        allowed = reachable(home, layers)
        for target in sorted(graph[module]):
            there = layer_of(target, layers)
            if there is not None and there.name not in allowed:
                out.append(f"{module} ({home.name}) imports {target} ({there.name})")
    return out


def import_cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Import loops between the graph's own modules (each as the list of modules around it)."""
    edges = {m: sorted(t for t in targets if t in graph and t != m) for m, targets in graph.items()}
    cycles, state = [], {}  # state: 1 on the current path, 2 done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in edges[node]:
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    return cycles


def imports_of(source: str, module: str, is_package: bool, known: set[str]) -> set[str]:
    """Modules (absolute names) `source` imports; `from pkg import name` counts as pkg.name when that
    is a module in `known`, else as pkg."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's package, one level up per extra dot
                parts = module.split(".")[: len(module.split(".")) - (0 if is_package else 1)]
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return found


# -- the repository's graph ----------------------------------------------------------------------------
def _source_files() -> dict[str, Path]:
    files = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return files


def repository_graph() -> dict[str, set[str]]:
    files = _source_files()
    known = set(files)
    return {m: imports_of(p.read_text(), m, p.name == "__init__.py", known) for m, p in files.items()}


# -- the tests -----------------------------------------------------------------------------------------
def test_no_module_imports_a_layer_above_its_own_or_beside_it() -> None:
    assert layer_violations(repository_graph()) == []


def test_the_checker_reports_an_upward_import_added_to_a_module() -> None:
    graph = repository_graph()
    graph["rcml_core.model.rcml"] = graph["rcml_core.model.rcml"] | {"rcml_core.train.loop"}
    graph["rcml_core.eval.tasks"] = graph["rcml_core.eval.tasks"] | {"rcml_core.train.sampler"}
    assert layer_violations(graph) == [
        "rcml_core.eval.tasks (eval) imports rcml_core.train.sampler (train)",
        "rcml_core.model.rcml (model) imports rcml_core.train.loop (train)",
    ]


def test_the_checker_reads_imports_inside_functions_and_relative_imports() -> None:
    source = "def f():\n    from ..train.loop import train\n    import cluster.launcher\n"
    found = imports_of(source, "rcml_core.eval.extra", is_package=False,
                       known={"rcml_core.train.loop", "cluster.launcher"})
    assert found == {"rcml_core.train.loop", "cluster.launcher"}
    graph = {"rcml_core.eval.extra": found, "tracking.x": {"cluster.tuner"}, "rcml_core.new": set()}
    assert layer_violations(graph) == [
        "rcml_core.eval.extra (eval) imports cluster.launcher (cluster)",
        "rcml_core.eval.extra (eval) imports rcml_core.train.loop (train)",
        "rcml_core.new: belongs to no layer (add it to LAYERS)",
        "tracking.x (tracking) imports cluster.tuner (cluster)",
    ]


def test_cluster_never_imports_sweeps_and_train_and_serve_stay_apart() -> None:
    layers = {layer.name: layer for layer in LAYERS}
    assert "sweeps" not in reachable(layers["cluster"]) and "sweeps" not in reachable(layers["cli"])
    assert "train" not in reachable(layers["serve"]) and "serve" not in reachable(layers["train"])
    assert "train" not in reachable(layers["eval"])
    assert {"data.build", "data.sources", "data.synth"}.isdisjoint(reachable(layers["runtime"]))
    assert layer_violations({"cluster.x": {"sweeps.cli"}}) == ["cluster.x (cluster) imports sweeps.cli (sweeps)"]


def test_rcml_core_has_no_import_cycle() -> None:
    core = {m: t for m, t in repository_graph().items() if m.startswith("rcml_core")}
    assert import_cycles(core) == []
    assert import_cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


def test_rcml_core_and_tracking_never_import_their_banned_frameworks() -> None:
    offenders = []
    for module, targets in repository_graph().items():
        banned = BANNED_IMPORTS.get(module.split(".")[0], ())
        offenders += [f"{module} imports {t}" for t in sorted(targets) if t.split(".")[0] in banned]
    assert offenders == []
    assert "mlflow" in BANNED_IMPORTS["rcml_core"]  # so rcml_core.data, inside it, knows no MLflow either


def test_rcml_core_imports_with_ray_mlflow_optuna_unavailable() -> None:
    modules = sorted(m.name for m in pkgutil.walk_packages(rcml_core.__path__, prefix="rcml_core."))
    assert modules, "rcml_core has no modules"
    code = (
        "import sys, importlib\n"
        "class _Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('ray', 'mlflow', 'optuna'):\n"
        "            raise ImportError(f'blocked for this test: {name}')\n"
        "        return None\n"
        "sys.meta_path.insert(0, _Block())\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok")
