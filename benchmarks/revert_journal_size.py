"""Bytes a load keeps for a revert, per record (docs/capacity.md, "Undo a load").

The sample file goes through the real Load and Finalize code on the in-memory fakes twice: the first
load creates every key, the second replaces every key. Run from the repository root:
`PYTHONPATH=. .venv/bin/python benchmarks/revert_journal_size.py`.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from ingest.logic import revert
from tests.unit.load_world import ACCOUNT, Line, World

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "customer_record-sample.ndjson"


def sample_lines() -> list[Line]:
    lines = []
    for number, raw in enumerate(SAMPLE.read_bytes().splitlines(), 1):
        link = orjson.loads(raw).get("link", {}) if raw.strip() else {}
        if len(link) == 1:  # the sample's two bad lines are left out
            [(name, value)] = link.items()
            lines.append(Line(number, f"{name}:{value}", raw))
    return lines


def main() -> None:
    lines = sample_lines()
    world = World(window=20_000, partitions=4)
    line_bytes = sum(len(line.record) for line in lines) / len(lines)
    for name in ("all created", "all replaced"):
        outcome = world.upload(lines)
        keys = world.objects.list_keys(revert.journal_prefix(ACCOUNT, outcome.upload_id))
        total = sum(len(world.objects.read(key)) for key in keys)
        print(f"{name}: {len(lines)} records (lines of {line_bytes:.0f} B on average), {len(keys)} objects, "
              f"{total} B, {total / len(lines):.0f} B a record")


if __name__ == "__main__":
    main()
