"""Each step's Lambda limits (memory, timeout, /tmp), read from the synthesized template (cdk.out).

A step's function is found by its handler, `ingest.handlers.workflow.<entry>`: the first entry of the
step's candidates the template has. The later candidates are the functions of the workflow before
issue 12 (one Split over the whole file, one Load per chunk), so the bench runs against whichever
template is synthesized; the report names the function whose limits it used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

HANDLER_PREFIX = "ingest.handlers.workflow."
DEFAULT_EPHEMERAL_MB = 512  # Lambda's default /tmp when the template sets none

STEP_HANDLERS: dict[str, tuple[str, ...]] = {
    "Inspect": ("inspect",),
    "Scan": ("scan_range", "scan", "split"),
    "PlanSplit": ("plan_split", "split"),
    "Decompress": ("decompress", "split"),
    "InflateMembers": ("inflate_members", "decompress", "split"),
    "JoinMembers": ("join_members", "plan_split", "split"),
    "Split": ("split_range", "split"),
    "PlanLoad": ("plan_load", "check_error_budget", "split"),
    "Load": ("load_partition", "load"),
    "Finalize": ("finalize",),
}


@dataclass(frozen=True)
class FunctionLimits:
    function: str  # the template's logical id
    handler: str
    memory_mb: int
    timeout_s: int
    ephemeral_mb: int

    @property
    def vcpu(self) -> float:
        from benchmarks.scale.figures import LAMBDA_MB_PER_VCPU

        return min(1.0, self.memory_mb / LAMBDA_MB_PER_VCPU.value)  # above 1,769 MB: more vCPUs, one thread here


def functions_of(template: dict) -> dict[str, FunctionLimits]:
    """Workflow functions of a template by handler entry."""
    found = {}
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Lambda::Function":
            continue
        props = resource.get("Properties", {})
        handler = props.get("Handler", "")
        if not handler.startswith(HANDLER_PREFIX):
            continue
        entry = handler.removeprefix(HANDLER_PREFIX)
        found[entry] = FunctionLimits(
            function=logical_id, handler=handler, memory_mb=int(props.get("MemorySize", 128)),
            timeout_s=int(props.get("Timeout", 3)),
            ephemeral_mb=int(props.get("EphemeralStorage", {}).get("Size", DEFAULT_EPHEMERAL_MB)))
    return found


def step_limits(template_path: Path) -> dict[str, FunctionLimits]:
    template = json.loads(Path(template_path).read_text())
    functions = functions_of(template)
    limits = {}
    for step, candidates in STEP_HANDLERS.items():
        entry = next((name for name in candidates if name in functions), None)
        if entry is None:
            raise LookupError(f"{template_path}: no workflow function for {step} (handlers tried: {candidates})")
        limits[step] = functions[entry]
    return limits
