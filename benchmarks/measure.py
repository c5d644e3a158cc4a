"""Interleaved, repeated timing of benchmark variants, and ratios with a bootstrap confidence interval.

Every benchmark in this folder compares variants (RCML against CLIP, ten relation types against one,
a trial against a plain process) on a shared, noisy machine. A single pair of timings moves with the
machine's load; what carries over to another machine is the ratio, measured like this:

- **interleaved**: one *round* runs every variant once, back to back, so that a change of the machine's
  load hits every variant of the round alike; the order inside a round rotates (A B, B A, ... for two
  variants: each variant runs first equally often) or is shuffled per round;
- **warmed up**: `warmup` untimed rounds first (first calls pay for lazy initialisation, caches, the
  allocator's first growth);
- **repeated**: `rounds` rounds; a ratio is computed per round (variant A's time over B's in the same
  round, a *pair*), and reported as the median of the per-round ratios with a 95 % percentile-bootstrap
  CI of that median (pairs resampled with replacement), and the min / max;
- **judged by the CI**: a target "ratio <= t" is met only when the CI's upper end is under t (">= t":
  only when the CI's lower end is above t); a median under the target with a CI across it is "not met".

Python's garbage collector is off while a variant runs (as in `timeit`) and runs between rounds. The clock
is wall time, or with `clock="cpu"` this process's CPU time (one thread, no GPU: on a machine that other
processes share it leaves out the waits for a core). `set_allocator` fixes glibc's malloc thresholds.

    from benchmarks.measure import MeasureConfig, Target, run_rounds, ratio_summary
    rounds = run_rounds({"rcml": rcml_step, "clip": clip_step}, MeasureConfig(rounds=30))
    summary = ratio_summary(rounds.samples["rcml"], rounds.samples["clip"], [Target("<=", 1.2)])
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import gc
import random
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

ORDERS: tuple[str, ...] = ("rotate", "shuffle")
# wall: time.perf_counter; cpu: time.process_time, the CPU seconds of this process (all its threads), which
# leaves out the time the process waits for a core that another process holds (a shared machine)
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}


@dataclass(frozen=True)
class Target:
    """A target on a ratio: op "<=" (at most `value`) or ">=" (at least `value`)."""

    op: str
    value: float

    def __post_init__(self) -> None:
        if self.op not in ("<=", ">="):
            raise ValueError(f"Target.op must be '<=' or '>=', got {self.op!r}")
        if not self.value > 0:
            raise ValueError(f"Target.value must be > 0, got {self.value!r}")

    def verdict(self, ci_low: float, ci_high: float) -> str:
        """"met" only when the whole CI is on the target's side of `value` (strictly)."""
        met = ci_high < self.value if self.op == "<=" else ci_low > self.value
        return "met" if met else "not met"

    def __str__(self) -> str:
        return f"{self.op} {self.value:g}"


@dataclass(frozen=True)
class MeasureConfig:
    """rounds: timed rounds (each variant once per round: the number of pairs of a ratio);
    warmup: untimed rounds first; order: "rotate" | "shuffle"; clock: "wall" | "cpu" (CLOCKS); seed: of
    the shuffle and the bootstrap; resamples: bootstrap resamples; confidence: of the CI."""

    rounds: int = 20
    warmup: int = 2
    order: str = "rotate"
    clock: str = "wall"
    seed: int = 0
    resamples: int = 4000
    confidence: float = 0.95

    def __post_init__(self) -> None:
        if self.rounds < 1:
            raise ValueError(f"MeasureConfig.rounds must be >= 1, got {self.rounds}")
        if self.warmup < 0:
            raise ValueError(f"MeasureConfig.warmup must be >= 0, got {self.warmup}")
        if self.order not in ORDERS:
            raise ValueError(f"MeasureConfig.order must be one of {ORDERS}, got {self.order!r}")
        if self.clock not in CLOCKS:
            raise ValueError(f"MeasureConfig.clock must be one of {tuple(CLOCKS)}, got {self.clock!r}")
        if self.resamples < 100:
            raise ValueError(f"MeasureConfig.resamples must be >= 100, got {self.resamples}")
        if not 0.5 <= self.confidence < 1.0:
            raise ValueError(f"MeasureConfig.confidence must be in [0.5, 1), got {self.confidence}")


def round_orders(names: Sequence[str], rounds: int, order: str, seed: int) -> list[list[str]]:
    """The order of the variants in each round: rotated by one per round, or shuffled (seeded)."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    names = list(names)
    if order == "rotate":
        return [names[i % len(names):] + names[: i % len(names)] for i in range(rounds)]
    rng = random.Random(seed)
    return [rng.sample(names, len(names)) for _ in range(rounds)]


class Seconds(float):
    """What a variant returns when it times itself (e.g. leaving out its own untimed set-up): run_rounds
    records this instead of the call's time."""


def time_call(fn: Callable[[], object], sync: Callable[[], None] | None = None, clock: str = "wall") -> float:
    """Seconds of one call of `fn` on `clock` (after `sync()` and until `sync()` returns again: CUDA work
    included), with the garbage collector off during the call; `fn`'s own figure if it returns Seconds."""
    now = CLOCKS[clock]
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        if sync is not None:
            sync()
        t0 = now()
        out = fn()
        if sync is not None:
            sync()
        elapsed = now() - t0
        return float(out) if isinstance(out, Seconds) else elapsed
    finally:
        if was_enabled:
            gc.enable()


@dataclass
class Rounds:
    """Seconds per variant: `samples[name][i]` from timed round i (the same i in every list: a pair),
    `warmup[name]` the untimed rounds' seconds (first calls: lazy initialisation, compilation)."""

    samples: dict[str, list[float]]
    warmup: dict[str, list[float]]


def run_rounds(variants: Mapping[str, Callable[[], object]], config: MeasureConfig,
               sync: Callable[[], None] | None = None, setup: Callable[[int], None] | None = None) -> Rounds:
    """Warm-up rounds, then timed rounds, every round running each variant once in the round's order.

    setup(i), untimed, before round i (warm-up rounds are i = -warmup .. -1, timed ones 0 .. rounds-1):
    e.g. a new batch per round, as training draws one per step.
    """
    if not variants:
        raise ValueError("run_rounds needs at least one variant")
    names = list(variants)
    warmup: dict[str, list[float]] = {name: [] for name in names}
    samples: dict[str, list[float]] = {name: [] for name in names}
    orders = (round_orders(names, config.warmup, config.order, config.seed + 1)
              + round_orders(names, config.rounds, config.order, config.seed))
    for i, names_in_order in enumerate(orders, start=-config.warmup):
        if setup is not None:
            setup(i)
        gc.collect()
        for name in names_in_order:
            (warmup if i < 0 else samples)[name].append(time_call(variants[name], sync, config.clock))
    return Rounds(samples=samples, warmup=warmup)


def variant_summary(seconds: Sequence[float], unit: float = 1e3, digits: int = 3) -> dict:
    """Median, min and max of one variant's times, in `unit`s per second (1e3: milliseconds)."""
    if not seconds:
        raise ValueError("variant_summary needs at least one time")
    return {"median": round(statistics.median(seconds) * unit, digits), "min": round(min(seconds) * unit, digits),
            "max": round(max(seconds) * unit, digits), "n": len(seconds)}


def bootstrap_median_ci(values: Sequence[float], resamples: int = 4000, confidence: float = 0.95,
                        seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap CI of the median of `values` (resampled with replacement, seeded)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("bootstrap_median_ci needs at least one value")
    if x.size == 1:
        return float(x[0]), float(x[0])
    rng = np.random.default_rng(seed)
    medians = np.median(x[rng.integers(0, x.size, size=(resamples, x.size))], axis=1)  # (resamples,)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(medians, [tail, 100 - tail])
    return float(low), float(high)


def ratio_summary(numerator: Sequence[float], denominator: Sequence[float], targets: Sequence[Target] = (),
                  config: MeasureConfig = MeasureConfig(), digits: int = 3, with_convergence: bool = True) -> dict:
    """The per-round ratios numerator[i] / denominator[i]: median, CI of the median, min, max, the number
    of pairs, the CI's half-width relative to the median, a verdict per target and (from 10 pairs on)
    the half-width the first n pairs gave, for a few n (how many pairs this machine needs)."""
    if len(numerator) != len(denominator) or not numerator:
        raise ValueError(f"ratio_summary needs paired samples of equal, non-zero length, got "
                         f"{len(numerator)} and {len(denominator)}")
    ratios = [a / b for a, b in zip(numerator, denominator)]
    median = statistics.median(ratios)
    low, high = bootstrap_median_ci(ratios, config.resamples, config.confidence, config.seed)
    out = {
        "median": round(median, digits), "ci95": [round(low, digits), round(high, digits)],
        "min": round(min(ratios), digits), "max": round(max(ratios), digits), "pairs": len(ratios),
        "ci_half_width": round(max(high - median, median - low) / median, 4),
    }
    if targets:
        out["verdicts"] = {str(t): t.verdict(low, high) for t in targets}
    if with_convergence and len(ratios) >= 10:
        out["ci_half_width_by_pairs"] = half_width_by_pairs(numerator, denominator, config=config)
    return out


def value_summary(values: Sequence[float], targets: Sequence[Target] = (), config: MeasureConfig = MeasureConfig(),
                  digits: int = 3) -> dict:
    """One measured quantity repeated (a wall time with no variant to compare to): median, 95 % bootstrap CI
    of the median, min, max, n, and a verdict per target on the value itself, by the same CI rule."""
    if not values:
        raise ValueError("value_summary needs at least one value")
    low, high = bootstrap_median_ci(values, config.resamples, config.confidence, config.seed)
    out = {"median": round(statistics.median(values), digits), "ci95": [round(low, digits), round(high, digits)],
           "min": round(min(values), digits), "max": round(max(values), digits), "n": len(values)}
    if targets:
        out["verdicts"] = {str(t): t.verdict(low, high) for t in targets}
    return out


def half_width_by_pairs(numerator: Sequence[float], denominator: Sequence[float],
                        sizes: Sequence[int] = (3, 5, 10, 15, 20, 30, 40, 60, 80, 120),
                        config: MeasureConfig = MeasureConfig()) -> dict[int, float]:
    """The CI half-width (relative) of the ratio from the first n pairs, for each n in `sizes` that the
    samples reach: how many pairs this machine needs for a CI within +-5 %."""
    return {n: ratio_summary(numerator[:n], denominator[:n], (), config, with_convergence=False)["ci_half_width"]
            for n in sizes if n <= len(numerator)}


# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
ALLOCATORS: tuple[str, ...] = ("fixed", "default")


def set_allocator(mode: str) -> str:
    """"fixed": glibc's mmap threshold at 64 MiB and trim threshold at 512 MiB (mallopt), so that freed
    activations stay in the heap instead of going back to the OS and faulting in again on the next call;
    "default": leave glibc's thresholds, which move with the process's history of frees. With glibc's
    default 128 KiB thresholds a tiny CLIP batch took 1.29x as long and an RCML batch 1.19x, which moved their
    ratio from 1.16 to 1.09 (docs/performance.md §3). Returns what was set."""
    if mode not in ALLOCATORS:
        raise ValueError(f"allocator must be one of {ALLOCATORS}, got {mode!r}")
    if mode == "default":
        return "default"
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = getattr(libc, "mallopt", None)
    except OSError:
        mallopt = None
    if mallopt is None or not (mallopt(_M_MMAP_THRESHOLD, 64 << 20) and mallopt(_M_TRIM_THRESHOLD, 512 << 20)):
        return "default (no glibc mallopt here)"
    return "fixed: glibc mmap threshold 64 MiB, trim threshold 512 MiB"


def add_measure_arguments(parser: argparse.ArgumentParser, rounds: int, warmup: int = 2) -> None:
    """--rounds / --warmup-rounds / --order / --order-seed, with the benchmark's own defaults."""
    group = parser.add_argument_group("measurement (benchmarks.measure)")
    group.add_argument("--rounds", type=int, default=rounds,
                       help=f"timed rounds, each variant once per round = pairs per ratio (default {rounds})")
    group.add_argument("--warmup-rounds", type=int, default=warmup, help="untimed rounds first")
    group.add_argument("--order", choices=ORDERS, default="rotate",
                       help="variants' order within a round: rotated each round, or shuffled")
    group.add_argument("--clock", choices=tuple(CLOCKS), default="wall",
                       help="wall time, or this process's CPU time (leaves out waiting for a core; one thread only)")
    group.add_argument("--order-seed", type=int, default=0, help="seed of the shuffle and of the bootstrap")
    group.add_argument("--allocator", choices=ALLOCATORS, default="fixed",
                       help="fixed glibc malloc thresholds (default) or glibc's own, history-dependent ones")


def config_from_args(args: argparse.Namespace) -> MeasureConfig:
    return MeasureConfig(rounds=args.rounds, warmup=args.warmup_rounds, order=args.order, clock=args.clock,
                         seed=args.order_seed)


def describe(config: MeasureConfig) -> dict:
    """How the figures were measured, printed with them."""
    return {"rounds": config.rounds, "warmup_rounds": config.warmup, "order": config.order, "clock": config.clock,
            "ci": f"{config.confidence:.0%} percentile bootstrap of the median per-round ratio, "
                  f"{config.resamples} resamples",
            "rule": "a target is met only when the CI's upper end is under it (lower end above it for >=)"}
