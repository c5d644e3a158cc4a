"""Wall time of the embedded default beta sweep on this machine (target: under 4 minutes on 2 CPU cores),
as a newcomer runs it: `python sweeps/beta_sweep.py` with no arguments, in a fresh home folder (so the
synthetic catalog is generated too, and nothing is reused from earlier runs).

    python -m benchmarks.sweep_wall_time [--home DIR] [--repeats 1] [--target-minutes 4]

There is no second variant to interleave with, so the sweep is simply repeated (--repeats, each run in its
own fresh home): the median, min, max and the median's 95 % bootstrap CI (benchmarks.measure; one run gives
a CI of that run alone); the target counts as met only when the CI's upper end is under it.
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

from benchmarks.measure import MeasureConfig, Target, value_summary
from benchmarks.shapes import machine

ROOT = Path(__file__).resolve().parents[1]


def run_sweep(home: Path) -> tuple[float, int, list[str]]:
    """Seconds, exit code and the last printed lines of `python sweeps/beta_sweep.py --home home`."""
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, str(ROOT / "sweeps" / "beta_sweep.py"), "--home", str(home)], cwd=ROOT,
                         capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    return seconds, out.returncode, [line for line in out.stdout.splitlines() if line.strip()][-14:]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--home", type=Path, default=None,
                   help="default: a new temporary folder (with --repeats > 1, one subfolder per run)")
    p.add_argument("--repeats", type=int, default=1, help="sweeps run one after the other, each from a fresh home")
    p.add_argument("--target-minutes", type=float, default=4.0)
    args = p.parse_args(argv)
    if args.repeats < 1 or args.target_minutes <= 0:
        p.error("--repeats must be >= 1 and --target-minutes > 0")
    root = args.home or Path(tempfile.mkdtemp(prefix="rcml-sweep-wall-"))
    homes = [root] if args.repeats == 1 else [root / f"run-{i}" for i in range(args.repeats)]
    seconds, codes = [], []
    for home in homes:
        s, code, tail = run_sweep(home)
        seconds.append(s)
        codes.append(code)
        print("\n".join(tail), flush=True)
    summary = value_summary(seconds, [Target("<=", 60 * args.target_minutes)], MeasureConfig(rounds=len(seconds)),
                            digits=1)
    summary["verdicts"] = {f"<= {args.target_minutes:g} minutes": v for v in summary["verdicts"].values()}
    print(json.dumps({"benchmark": "sweep_wall_time", "machine": machine(), "returncodes": codes,
                      "seconds": summary, "minutes_median": round(summary["median"] / 60, 2),
                      "homes": [str(h) for h in homes]}, indent=2))
    return next((c for c in codes if c), 0)


if __name__ == "__main__":
    raise SystemExit(main())
