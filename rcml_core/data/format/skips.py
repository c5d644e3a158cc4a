"""Bad-record policy: fail with a precise message, or skip and count.

Every reader and builder reports a bad record through one `SkipLog`. Under the
`fail` policy the first bad record raises a `DataError` naming where it is
(file:line, item id, ...) and what is wrong. Under `skip` it is counted by reason,
the first few locations are kept as examples, and the counts end up in the
summary printed to the user and in the dataset manifest. Nothing is dropped
without passing through here.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from rcml_core.errors import DataError

BadRecordPolicy = Literal["fail", "skip"]
POLICIES: tuple[str, ...] = ("fail", "skip")
_MAX_EXAMPLES = 5


@dataclass
class SkipLog:
    """Counts skipped records by reason; raises at the first one under `fail`."""

    policy: BadRecordPolicy = "fail"
    counts: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise DataError(f"on_bad_record must be one of {POLICIES}, got {self.policy!r}")

    def bad(self, reason: str, where: str, detail: str) -> None:
        """Report one bad record.

        reason: a short stable key (e.g. "malformed_json", "missing_image");
        where: the location (e.g. "reviews.jsonl:17", "item B0001");
        detail: what is wrong, for a human.
        """
        if self.policy == "fail":
            raise DataError(
                f"{where}: {detail} (reason: {reason}; pass --on-bad-record skip to skip and count such records)"
            )
        self.counts[reason] += 1
        ex = self.examples.setdefault(reason, [])
        if len(ex) < _MAX_EXAMPLES:
            ex.append(f"{where}: {detail}")

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_dict(self) -> dict:
        """JSON-ready form stored in the manifest under "skips"."""
        return {
            "policy": self.policy,
            "total": self.total,
            "counts": dict(sorted(self.counts.items())),
            "examples": {k: list(v) for k, v in sorted(self.examples.items())},
        }


def skip_summary_lines(skips: dict, heading: str = "skipped records") -> list[str]:
    """A manifest's "skips" (SkipLog.to_dict()) as printed: the total, then each reason with an example."""
    if not skips or not skips.get("total"):
        return [f"{heading}: none"]
    lines = [f"{heading}: {skips['total']} (policy: {skips.get('policy')})"]
    for reason, n in skips.get("counts", {}).items():
        example = (skips.get("examples", {}).get(reason) or [""])[0]
        lines.append(f"  {reason}: {n}" + (f"  e.g. {example}" if example else ""))
    return lines
