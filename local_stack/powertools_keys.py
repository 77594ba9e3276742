"""Powertools log keys per invocation, in the local stack.

On AWS a sandbox runs one invocation at a time, so the keys a handler's Logger appends for the whole
process (`inject_lambda_context`'s function_name and request id, our `upload_id` and `step`) are that
invocation's. Here every handler runs in one process and shares one Logger, so concurrent invocations
overwrote each other's keys: a Revert partition's lines said they came from the API function.

The Powertools formatter keeps those keys in one dict, `log_format`. install() makes that attribute
per invocation (thread_context.current_invocation(), which the threads a handler starts inherit): inside
an invocation it reads as that invocation's own keys over the process's (a ChainMap: appends go to the
invocation's layer), and an assignment (clear_state) replaces only that layer. Outside any invocation,
and while a Logger or formatter is being made (a handler module's `logger = Logger(...)` runs in the
invocation that first imports it), it is the process's dict, as before.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections import ChainMap
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from local_stack.thread_context import current_invocation

_SHARED, _LAYERS = "_local_stack_shared_keys", "_local_stack_invocation_keys"
_making = threading.local()  # depth: this thread is inside Logger.__init__ or the formatter's


def _for_the_process() -> bool:
    """True when keys read or set now are the process's: outside invocations, or while making a Logger."""
    return current_invocation() is None or getattr(_making, "depth", 0) > 0


def _making_keys_for_the_process(init: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(init)
    def making(self: Any, *args: Any, **kwargs: Any) -> None:
        _making.depth = getattr(_making, "depth", 0) + 1
        try:
            init(self, *args, **kwargs)
        finally:
            _making.depth -= 1

    making._local_stack = True  # type: ignore[attr-defined]
    return making


class _KeysPerInvocation:
    """The data descriptor standing for LambdaPowertoolsFormatter.log_format."""

    def __get__(self, formatter: Any, owner: type | None = None) -> Any:
        if formatter is None:
            return self
        shared = formatter.__dict__.get(_SHARED)
        if shared is None:  # made before install(): its keys are the process's
            shared = formatter.__dict__[_SHARED] = formatter.__dict__.get("log_format", {})
        if _for_the_process():
            return shared
        invocation = current_invocation()
        layers = formatter.__dict__.setdefault(_LAYERS, weakref.WeakKeyDictionary())
        layer = layers.get(invocation)
        if layer is None:
            layer = layers[invocation] = {}
        return ChainMap(layer, shared)

    def __set__(self, formatter: Any, keys: dict) -> None:
        if _for_the_process():
            formatter.__dict__[_SHARED] = keys
        else:
            formatter.__dict__.setdefault(_LAYERS, weakref.WeakKeyDictionary())[current_invocation()] = keys


def install() -> None:
    """Make every Powertools formatter's keys per invocation from now on (idempotent). Formatters made
    before keep theirs in the process-wide dict they were given, which this reads as the shared one."""
    current = LambdaPowertoolsFormatter.__dict__.get("log_format")
    if isinstance(current, _KeysPerInvocation):
        return
    LambdaPowertoolsFormatter.log_format = _KeysPerInvocation()  # type: ignore[assignment]  # the seam
    for made in (Logger, LambdaPowertoolsFormatter):
        if not getattr(made.__init__, "_local_stack", False):
            made.__init__ = _making_keys_for_the_process(made.__init__)  # type: ignore[method-assign]
