"""The record loop every source shares: items from one raw file, interactions from another.

A source hands over its parsed records (line number, dict) and what is its own; the loop counts
the records, locates each as `file:line`, reports bad ones to the SkipLog and builds the frame.

- Items (`read_items`): the item id, de-duplicated (the first record is kept), and a non-empty
  title (whitespace folded) are checked here; the rest of the row is the source's `parse`, which
  raises `BadRecord` for a record bad for a reason of its own. A skipped item's id is kept, so that
  its interactions are counted apart from interactions with items that never existed.
- Interactions (`read_interactions`): the source's `identify` gives (user, item), or None for a
  record left out by design (counted, not bad); the item must be one that was read; then the
  source's `fields` gives the remaining columns, or None (left out by design too).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rcml_core.data.format.skips import SkipLog

Record = Mapping[str, Any]


class BadRecord(Exception):
    """A record a source cannot use: reported to the SkipLog under `reason` with `detail`."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


@dataclass(frozen=True)
class ItemRecords:
    """Items read from one file, one row per kept item."""

    frame: pd.DataFrame  # item_id, text, then the source's columns
    n_records: int  # well-formed records read (bad lines are counted in the SkipLog)
    skipped_ids: frozenset[str]  # ids of items reported as bad (their interactions are counted apart)


@dataclass(frozen=True)
class InteractionRecords:
    """Interactions read from one file."""

    frame: pd.DataFrame  # user_id, item_id, then the source's columns
    n_records: int  # well-formed records read (bad lines are counted in the SkipLog)
    n_left_out: int  # records left out by design (a choice, such as a minimum rating; not bad records)


@dataclass(frozen=True)
class ItemSpec:
    """What one source's item file holds and how its messages name things."""

    id_field: str  # e.g. "parent_asin"
    noun: str  # how a message names one item, e.g. "book"
    file_role: str  # how a message names the file, e.g. "the books file"
    columns: tuple[str, ...]  # the frame's columns after item_id and text
    parse: Callable[[str, Record], tuple]  # (item id, record) -> the values of `columns`; raises BadRecord


@dataclass(frozen=True)
class InteractionSpec:
    """What one source's interaction file holds and how its messages name things."""

    reason_prefix: str  # "review": reasons review_unknown_item, review_of_skipped_item
    about: str  # "review of item": "<about> <id>, which was skipped"
    missing: str  # "which is not in the metadata": "<about> <id>, <missing>"
    identify: Callable[[Record], tuple[str, str] | None]  # (user, item), or None: left out; raises BadRecord
    fields: Callable[[Record], tuple | None] = lambda record: ()  # the values of `columns`, or None: left out
    columns: Mapping[str, Any] = field(default_factory=dict)  # extra column -> numpy dtype


def read_items(path: Path, records: Iterable[tuple[int, Record]], skips: SkipLog, spec: ItemSpec) -> ItemRecords:
    """One row per distinct item id (the first record kept), bad records reported to `skips`."""
    rows: dict[str, tuple] = {}
    skipped: set[str] = set()
    n_records = 0
    for line_no, record in records:
        n_records += 1
        where = f"{Path(path).name}:{line_no}"
        item_id = str(record[spec.id_field]).strip()
        if item_id in rows:
            skips.bad("duplicate_item", where,
                      f"{spec.noun} {item_id} appeared before in {spec.file_role}; the first is kept")
            continue
        title = record["title"]
        try:
            if not isinstance(title, str) or not title.strip():
                raise BadRecord("empty_title", f"{spec.noun} {item_id} has an empty title")
            rows[item_id] = (" ".join(title.split()), *spec.parse(item_id, record))
        except BadRecord as bad:
            skipped.add(item_id)
            skips.bad(bad.reason, where, bad.detail)
    frame = pd.DataFrame([(k, *v) for k, v in rows.items()], columns=["item_id", "text", *spec.columns],
                         dtype=object)
    return ItemRecords(frame, n_records, frozenset(skipped - set(rows)))


def read_interactions(path: Path, records: Iterable[tuple[int, Record]], skips: SkipLog, items: ItemRecords,
                      spec: InteractionSpec) -> InteractionRecords:
    """(user_id, item_id, ...) of the records whose item was read, bad records reported to `skips`."""
    known = set(items.frame["item_id"])
    rows: list[tuple] = []
    n_records = n_left_out = 0
    for line_no, record in records:
        n_records += 1
        try:
            ids = spec.identify(record)
            if ids is not None and ids[1] not in known:
                item = ids[1]
                if item in items.skipped_ids:
                    raise BadRecord(f"{spec.reason_prefix}_of_skipped_item", f"{spec.about} {item}, which was skipped")
                raise BadRecord(f"{spec.reason_prefix}_unknown_item", f"{spec.about} {item}, {spec.missing}")
            values = None if ids is None else spec.fields(record)
        except BadRecord as bad:
            skips.bad(bad.reason, f"{Path(path).name}:{line_no}", bad.detail)
            continue
        if values is None:
            n_left_out += 1
            continue
        rows.append((*ids, *values))
    columns = list(zip(*rows)) if rows else [()] * (2 + len(spec.columns))
    frame = pd.DataFrame({"user_id": pd.Series(columns[0], dtype=object),
                          "item_id": pd.Series(columns[1], dtype=object),
                          **{name: np.asarray(columns[2 + k], dtype=dtype)
                             for k, (name, dtype) in enumerate(spec.columns.items())}})
    return InteractionRecords(frame, n_records, n_left_out)
