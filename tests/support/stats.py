"""A finished upload's line counts without what it changed in the dataset (created, replaced), for
tests about lines: those two depend on what the dataset held before, and tests/e2e/test_load_workflow.py
asserts them where that is known."""

from __future__ import annotations

CHANGES = ("created", "replaced")


def line_counts(stats: dict) -> dict:
    return {name: value for name, value in stats.items() if name not in CHANGES}
