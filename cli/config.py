"""Where the CLIs find the local stack: the state file `make run` writes (.local/stack.json)."""

from __future__ import annotations

import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STACK_FILE = ROOT / ".local" / "stack.json"
STACK_FILE_ENV = "INGEST_STACK_FILE"
NOT_RUNNING = "the local stack is not running: start it with `make run`"


class ConfigError(RuntimeError):
    """The CLI cannot tell where or how to talk to the service; the message says what to do."""


def stack_file(explicit: str | os.PathLike | None = None) -> Path:
    """The state file to read: an explicit path, else $INGEST_STACK_FILE, else .local/stack.json."""
    if explicit:
        return Path(explicit)
    from_env = os.environ.get(STACK_FILE_ENV)
    return Path(from_env) if from_env else DEFAULT_STACK_FILE


def read_stack_file(path: Path) -> dict | None:
    """The state `make run` wrote, or None when there is none (the local stack was never started)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        state = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc}); restart the local stack with `make run`") from exc
    if not isinstance(state, dict):
        raise ConfigError(f"{path} is not a JSON object; restart the local stack with `make run`")
    return state
