"""Profile changes (Localytics Profile Imports semantics), applied by Load to `profile` records.

A `profile_changes` line is {"customer_id": ..., "changes": [{"op", "attr", "value"}, ...]}. Ops:
  assign      set the attribute to the value (an array is stored as a set)
  set-add     add the values (an array) to a set attribute; an absent attribute becomes the set
  set-remove  remove the values from a set attribute; an absent attribute stays absent
  increment   add a number to a numeric attribute; an absent attribute starts at 0
  delete      remove the attribute; an absent attribute stays absent

A line applies all or nothing: if one change does not fit the value held (increment of a string,
set-add onto a number), the profile stays as it was before the line and the line is rejected.
A customer's lines apply in file order (Split routes them all to one partition, in order; the
Load strategy is logic/load/loading.py ProfileChangesLoad).

Exactly once: a profile item carries a marker of what the current upload already applied to it,
{"job", "through_line", "rejected"}, written in the same item as the attributes. A retried Load
skips the lines at or before through_line for the same job and counts them as the marker says, so
a Load that crashed after writing half its profiles does not apply an increment twice.

Every array attribute is a set (sorted when stored and read back), so the attributes' JSON alone
says which attributes are sets.
"""

from __future__ import annotations

import math
from typing import Any, TypeIs, cast

import orjson

from ingest.record_types import json_kind

PROFILE_TYPE = "profile"
# DynamoDB items are limited to 400 KB; the marker and the keys share the item with the attributes.
MAX_PROFILE_BYTES = 300 * 1024
# Upper bound of how much one change can add to the stored JSON beyond its own text (quotes, commas,
# an increment's extra digits), so the exact size is computed only when a profile nears the limit.
_CHANGE_OVERHEAD_BYTES = 64
_INT_RANGE = (-(2**63), 2**64 - 1)  # what orjson (and so the store) can hold as an integer


class _Misfit(Exception):
    """A change that does not fit the value held: the whole line is rejected with this message."""


# -- applying changes ------------------------------------------------------------------------------
def apply_changes(attributes: dict[str, Any], changes: list[dict[str, Any]]) -> dict[str, Any]:
    """The attributes after one line's changes; raises _Misfit and leaves `attributes` untouched."""
    draft = dict(attributes)  # values are never mutated in place (sets are rebuilt), so a shallow copy
    for index, change in enumerate(changes):
        op, attr = change["op"], change["attr"]
        held = draft.get(attr)
        if op == "assign":
            value = change["value"]
            draft[attr] = frozenset(value) if isinstance(value, list) else value
        elif op == "delete":
            draft.pop(attr, None)
        elif op == "increment":
            if attr not in draft:
                held = 0
            elif not _is_number(held):
                raise _Misfit(f'changes[{index}]: increment needs a number, "{attr}" holds {_kind(held)}')
            draft[attr] = _checked_sum(held, change["value"], index, attr)
        elif op in ("set-add", "set-remove"):
            if attr in draft and not isinstance(held, frozenset):
                raise _Misfit(f'changes[{index}]: {op} needs a set, "{attr}" holds {_kind(held)}')
            values = frozenset(change["value"])
            if op == "set-add":
                draft[attr] = (held or frozenset()) | values
            elif attr in draft:
                draft[attr] = cast(frozenset, held) - values  # a set: checked above
        else:  # the schema allows only the ops above
            raise _Misfit(f"changes[{index}]: unknown op {op!r}")
    return draft


def _is_number(value: Any) -> TypeIs[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _checked_sum(held: int | float, step: int | float, index: int, attr: str) -> int | float:
    total = held + step  # int + int stays an int
    if isinstance(total, int) and not _INT_RANGE[0] <= total <= _INT_RANGE[1]:
        raise _Misfit(f'changes[{index}]: increment would take "{attr}" outside the 64-bit integer range')
    if isinstance(total, float) and not math.isfinite(total):
        raise _Misfit(f'changes[{index}]: increment would take "{attr}" outside the range of a number')
    return total


def _kind(value: Any) -> str:
    """What a stored attribute holds, in the words the record validator uses; sets are frozensets."""
    return "a set" if isinstance(value, frozenset) else json_kind(value)


# -- stored shape ----------------------------------------------------------------------------------
def _set_order(value: Any) -> tuple[bool, Any]:
    return (isinstance(value, str), value)  # numbers first, then strings


def attributes_json(attributes: dict[str, Any]) -> bytes:
    """The plain JSON the records API returns: sets as sorted arrays."""
    return orjson.dumps(
        {name: sorted(value, key=_set_order) if isinstance(value, frozenset) else value
         for name, value in attributes.items()}
    )


def attributes_from_json(data: str | bytes) -> dict[str, Any]:
    return {name: frozenset(value) if isinstance(value, list) else value
            for name, value in orjson.loads(data).items()}


# -- one customer's lines --------------------------------------------------------------------------
class CustomerOutcome:
    """What one customer's lines of a chunk did: counts, rejections, and the item to write if any."""

    def __init__(self) -> None:
        self.loaded = 0
        self.rejected: list[tuple[Any, str]] = []  # (line, reason)
        self.item: tuple[str, str] | None = None  # (data JSON, marker JSON) when the profile changed


def apply_customer_lines(stored: dict[str, str] | None, lines: list[Any], job_id: str) -> CustomerOutcome:
    """Apply one customer's lines (in file order) to its stored profile item ({"data", "applied"})."""
    outcome = CustomerOutcome()
    attributes = attributes_from_json(stored["data"]) if stored else {}
    marker = orjson.loads(stored["applied"]) if stored and stored.get("applied") else None
    done_through, done_rejected = 0, {}
    if marker and marker.get("job") == job_id:  # a retry of this chunk: these lines already count
        done_through = marker["through_line"]
        done_rejected = {entry["line"]: entry["error"] for entry in marker["rejected"]}
    rejections = [{"line": line, "error": error} for line, error in done_rejected.items()]
    size_bound = len(stored["data"]) if stored else 2
    applied_now = False
    for line in lines:
        if line.number <= done_through:
            if line.number in done_rejected:
                outcome.rejected.append((line, done_rejected[line.number]))
            else:
                outcome.loaded += 1
            continue
        record = orjson.loads(line.stored)
        try:
            changed = apply_changes(attributes, record["changes"])
            size_bound += len(line.stored) + _CHANGE_OVERHEAD_BYTES * len(record["changes"])
            if size_bound > MAX_PROFILE_BYTES:
                size_bound = len(attributes_json(changed))
                if size_bound > MAX_PROFILE_BYTES:
                    raise _Misfit(f"the profile would be {size_bound} bytes, over the "
                                  f"{MAX_PROFILE_BYTES}-byte limit of a stored profile")
        except _Misfit as misfit:
            outcome.rejected.append((line, str(misfit)))
            rejections.append({"line": line.number, "error": str(misfit)})
            continue
        attributes = changed
        applied_now = True
        outcome.loaded += 1
    if applied_now:
        # Every rejection of this job is kept, so a retry reproduces the same error lines.
        marker = {"job": job_id, "through_line": lines[-1].number, "rejected": rejections}
        outcome.item = (attributes_json(attributes).decode("utf-8"), orjson.dumps(marker).decode("utf-8"))
    return outcome
