"""What a write costs through the sweep's tracking relay (cluster.tracking_relay) against MLflow directly,
and how many writes per second one relay takes from several trials at once.

    python -m benchmarks.tracking_relay [--writes 200] [--callers 1 2 4]

Same local SQLite store, same run kind (a sweep's child run) and the same write: one `log_metrics` call
of the loop's per-step train metrics (6 keys), as a trial's rank 0 makes every `train.log_every` steps.
  direct:  `MlflowTracker(client, run, while_running=True)` in this process (what trials did before);
  relay:   `RelayTracker(relay, run)` in this process, the relay actor on this node;
  callers: K Ray tasks (num_cpus=0), each with its own child run, writing through the one relay at once:
           the relay's throughput in writes/s and the time per write each caller sees.
Direct and relayed writes alternate, one of each per round (benchmarks.measure; Ray is up for both), so
the ratio relay / direct is the median per-round ratio with its 95 % bootstrap CI. Prints JSON with the
machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.measure import MeasureConfig, describe, ratio_summary, run_rounds, variant_summary
from benchmarks.shapes import machine

STEP_METRICS = ("total", "inter", "intra", "attention_entropy", "grad_norm", "lr")


def _metrics(step: int) -> dict[str, float]:
    return {f"train/{k}_step": 1.0 / (step + 1) for k in STEP_METRICS}


def _time_writes(tracker, writes: int) -> list[float]:
    seconds = []
    for step in range(writes):
        t0 = time.perf_counter()
        tracker.log_metrics(_metrics(step), step=step)
        seconds.append(time.perf_counter() - t0)
    return seconds


def _callers_run(relay, runs: list[str], writes: int) -> tuple[float, float]:
    """(writes per second through the relay, median seconds per write seen by a caller) for len(runs) callers."""
    import ray

    @ray.remote(num_cpus=0)
    def caller(relay, run_id: str, writes: int) -> list[float]:
        from cluster.tracking_relay import RelayTracker

        return _time_writes(RelayTracker(relay, run_id), writes)

    t0 = time.perf_counter()
    per_caller = ray.get([caller.remote(relay, run, writes) for run in runs])
    elapsed = time.perf_counter() - t0
    return len(runs) * writes / elapsed, statistics.median(s for seconds in per_caller for s in seconds)


def measure(writes: int = 200, callers: Sequence[int] = (1, 2, 4)) -> dict:
    from cluster.connect import connect, prefer_loopback

    prefer_loopback(None)  # before Ray is imported
    from mlflow.tracking import MlflowClient

    from cluster.tracking_relay import RelayTracker, open_trial_run, start_relay, stop_relay
    from tracking.mlflow_tracker import MlflowTracker
    from tracking.store import resolve_tracking
    from tracking.sweep_runs import SweepTracking, get_or_create_experiment, start_parent_run, start_trial_run

    home = Path(tempfile.mkdtemp(prefix="rcml-tracking-relay-"))
    target = resolve_tracking(home, env={})
    client = MlflowClient(target.uri)
    experiment = get_or_create_experiment(client, "rcml-tracking_relay", target)
    handle = SweepTracking(target.uri, experiment, start_parent_run(client, experiment, "relay", {}), "relay")

    direct_run = start_trial_run(handle, "direct", "direct", client=client)
    direct_tracker = MlflowTracker(client, direct_run, while_running=True)

    connect(num_cpus=2)
    relay = start_relay(handle)
    try:
        relay_run = open_trial_run(relay, "relay", "relay")  # waits for the relay's start-up, not timed
        relay_tracker = RelayTracker(relay, relay_run)
        step = {"i": 0}

        def setup(i: int) -> None:
            step["i"] = i

        config = MeasureConfig(rounds=writes, warmup=0)
        rounds = run_rounds({"direct": lambda: direct_tracker.log_metrics(_metrics(step["i"]), step=step["i"]),
                             "relay": lambda: relay_tracker.log_metrics(_metrics(step["i"]), step=step["i"])},
                            config, setup=setup).samples
        direct, through = rounds["direct"], rounds["relay"]
        concurrent = {}
        for k in callers:
            runs = [open_trial_run(relay, f"caller-{k}-{i}", f"caller {i}") for i in range(k)]
            rate, per_write = _callers_run(relay, runs, writes)
            concurrent[str(k)] = {"writes_per_s": round(rate, 1), "ms_per_write_median": round(per_write * 1e3, 2)}
    finally:
        stop_relay(relay)
    recorded = len(client.get_metric_history(relay_run, "train/total_step"))
    if recorded != writes:
        raise RuntimeError(f"the relay recorded {recorded} of {writes} writes")
    return {
        "benchmark": "tracking_relay",
        "machine": machine(),
        "store": "sqlite (local file)",
        "writes": writes,
        "keys_per_write": len(STEP_METRICS),
        "measure": describe(config),
        "direct_ms_per_write": variant_summary(direct, digits=2),
        "relay_ms_per_write": variant_summary(through, digits=2),
        "ratio": ratio_summary(through, direct, (), config),
        "callers": concurrent,
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--writes", type=int, default=200, help="log_metrics calls per variant and per caller")
    p.add_argument("--callers", type=int, nargs="+", default=[1, 2, 4], help="concurrent callers to time")
    args = p.parse_args(argv)
    if args.writes < 1 or any(k < 1 for k in args.callers):
        p.error("--writes and --callers must be >= 1")
    print(json.dumps(measure(args.writes, args.callers), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
