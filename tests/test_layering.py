"""rcml_core is framework-free: it imports with ray, mlflow, optuna unavailable."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import rcml_core

ROOT = Path(__file__).resolve().parents[1]


def _core_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(rcml_core.__path__, prefix="rcml_core."))


def test_rcml_core_imports_with_ray_mlflow_optuna_unavailable() -> None:
    modules = _core_modules()
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


def test_rcml_core_source_never_imports_frameworks_or_argparse() -> None:
    banned = ("ray", "mlflow", "optuna", "argparse")
    offenders = []
    for path in (ROOT / "rcml_core").rglob("*.py"):
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            words = line.strip().replace(",", " ").split()
            if len(words) >= 2 and words[0] in ("import", "from") and words[1].split(".")[0] in banned:
                offenders.append(f"{path.relative_to(ROOT)}:{lineno}: {line.strip()}")
    assert not offenders, offenders
