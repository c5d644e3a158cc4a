"""Wall time of the embedded default beta sweep on this machine (DESIGN §6 target: under 10 minutes on
2 CPU cores), as a newcomer runs it: `python sweeps/beta_sweep.py` with no arguments, in a fresh home
folder (so the synthetic catalog is generated too, and nothing is reused from earlier runs).

    python -m benchmarks.sweep_wall_time [--home DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.shapes import machine

ROOT = Path(__file__).resolve().parents[1]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--home", type=Path, default=None, help="default: a new temporary folder")
    args = p.parse_args(argv)
    home = args.home or Path(tempfile.mkdtemp(prefix="rcml-sweep-wall-"))
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, str(ROOT / "sweeps" / "beta_sweep.py"), "--home", str(home)], cwd=ROOT,
                         capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    tail = [line for line in out.stdout.splitlines() if line.strip()][-14:]
    print("\n".join(tail))
    print(json.dumps({"benchmark": "sweep_wall_time", "machine": machine(), "returncode": out.returncode,
                      "seconds": round(seconds, 1), "minutes": round(seconds / 60, 2), "target": "< 10 minutes",
                      "home": str(home)}, indent=2))
    return out.returncode


if __name__ == "__main__":
    raise SystemExit(main())
