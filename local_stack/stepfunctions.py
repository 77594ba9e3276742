"""Where moto's Step Functions interpreter differs from AWS in ways our workflows would notice.

- States.DataLimitExceeded (a state's input or output, or a task's result, over 256 KiB) and
  States.Runtime are terminal on AWS: `States.ALL` (and `States.TaskFailed`) in a Retry or Catch
  does not match them, only their own name does. moto's ErrorEqualsDecl lets States.ALL match
  everything; we make it match as AWS documents.
- An execution works for its state machine's role: the calls the interpreter makes for it (invoking
  the task functions, reading a Distributed Map's ItemReader object) are checked against that role
  by local_stack/access_guard.py, as the functions' calls are against theirs.
- moto's interpreter makes a new boto3 client for every task it runs (`boto_client_for`): ~5 ms of
  CPU and a new connection each, 5 % of the process's samples under 6 concurrent jobs (py-spy). Here
  each (region, service, port) has one client, as a Step Functions service keeps its connections.
- moto's interpreter parses a JSONPath (`InputPath`, `OutputPath`, `ResultPath`, a `Parameters`
  field's `.$` value...) every time a state uses it: jsonpath_ng builds a new parser for each (6 ms of
  CPU, against 7 us to apply the parsed path), for every state of every Map iteration. Here each path
  text is parsed once per process; a parsed path is never changed by applying it, and a path that
  does not parse is refused every time (a failure is not remembered).
- moto's interpreter parses the whole state machine definition (ANTLR, in Python) for every
  execution it starts: ~120 ms of CPU for our load workflow, each job. Here each definition text is
  parsed once per process and its program shared by the executions of it, as a Map's iterations share
  the parsed states already: evaluating a program changes nothing in it but each state's heap key
  (below), and each execution has its own heap.
- moto keeps each state's retry count in the execution's heap under the state's `heap_key`, which it
  makes on first use without a lock. A Distributed Map's iterations share the parsed states and run in
  threads: two iterations failing at once could each make a key, one overwriting the other's, and that
  iteration's count restarted (a Split tried 4 times under MaxAttempts 2; seen under CPU load). Here the
  first key stored is the one every thread gets (dict.setdefault, atomic).
- moto appends the thread of every execution, Map iteration and Parallel branch to a module list
  (`TMP_THREADS`) that it never reads nor empties: a stack that runs for a day keeps every thread it
  ever ran (hundreds a job). Here each execution, as it ends, drops the threads that have ended.
- How a failed Lambda task is named needs no change: moto's interpreter takes the error from the
  function's `errorType` (a handler's exception class, or `Sandbox.Timedout` when the local Lambda
  runtime ends an invocation at its timeout), as Step Functions does.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from moto.core.models import botocore_stubber
from moto.settings import moto_server_port
from moto.stepfunctions.parser.asl.component import eval_component
from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import ErrorEqualsDecl
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval import resource_eval_s3
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import boto_client, json_path
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.utils import TMP_THREADS

from local_stack.thread_context import Principal, working_for

PARSED_JSON_PATHS = 1024  # distinct path texts remembered per parser (our workflows use a few dozen)
PARSED_DEFINITIONS = 32  # state machine definitions remembered (the stack has a handful)
TERMINAL_ERRORS = (StatesErrorName(typ=StatesErrorNameType.StatesStatesDataLimitExceeded),
                   StatesErrorName(typ=StatesErrorNameType.StatesRuntime))


_clients: dict[tuple, Any] = {}
_clients_lock = threading.Lock()


def client_for(region: str, service: str, state_credentials: Any = None) -> Any:
    """moto's `boto_client_for`, one client per region, service and server (clients are thread-safe).
    moto ignores `state_credentials` too."""
    key = (region, service, moto_server_port(), botocore_stubber.enabled)
    with _clients_lock:
        if key not in _clients:
            _clients[key] = boto_client.boto_client_for(region, service, state_credentials)
        return _clients[key]


_HEAP_KEY = "_EvalComponent__heap_key"  # moto's private name for it (class attribute: None)


def _heap_key(component) -> str:
    """moto's EvalComponent.heap_key, made once per component whichever thread asks first."""
    key = component.__dict__.get(_HEAP_KEY)
    if key is None:  # a losing thread's uid is dropped: setdefault answers the one stored first
        key = component.__dict__.setdefault(_HEAP_KEY, eval_component.long_uid())
    return key


_programs: dict[str, Any] = {}  # definition text -> its parsed program, oldest first
_programs_lock = threading.Lock()


def _parsed_program(worker: ExecutionWorker) -> Any:
    """moto's ExecutionWorker._get_evaluation_entrypoint, parsing each definition text once: executions
    started together wait for the one parse (the lock) rather than each making their own."""
    definition = worker._evaluation_details.state_machine_details.definition
    with _programs_lock:
        program = _programs.get(definition)
        if program is None:  # a definition that does not parse raises, and is tried again next time
            program = _programs[definition] = AmazonStateLanguageParser.parse(definition)[0]
            if len(_programs) > PARSED_DEFINITIONS:
                del _programs[next(iter(_programs))]
        return program


def forget_ended_threads() -> None:
    """Keep only the live threads in moto's TMP_THREADS (nothing reads it: a thread appended while
    this runs and dropped by it is lost to no one)."""
    TMP_THREADS[:] = [thread for thread in TMP_THREADS if thread.is_alive()]


def install() -> None:
    """Make States.ALL and States.TaskFailed leave terminal errors alone, run executions as their
    state machine's role, reuse the interpreter's clients, parse each definition and each JSONPath once
    and make each state's heap key once (idempotent)."""
    # The modules that make the clients our workflows use (task invocations, a Distributed Map's reader).
    lambda_eval_utils.boto_client_for = client_for  # moto's seam
    resource_eval_s3.boto_client_for = client_for
    modules: tuple[Any, ...] = (json_path, result_path)
    for module in modules:  # each imports its own jsonpath_ng parser as `parse`
        if not hasattr(module.parse, "cache_info"):
            module.parse = functools.lru_cache(maxsize=PARSED_JSON_PATHS)(module.parse)
    original = ErrorEqualsDecl._eval_body
    if getattr(original, "_local_stack", False):
        return
    execution_logic = ExecutionWorker._execution_logic

    def _execution_logic(worker) -> None:
        details = worker._evaluation_details
        machine = Principal(details.state_machine_details.name, details.execution_details.role_arn, "state machine")
        try:
            with working_for(machine):
                execution_logic(worker)
        finally:
            forget_ended_threads()

    ExecutionWorker._execution_logic = _execution_logic  # type: ignore[method-assign]  # moto's seam
    ExecutionWorker._get_evaluation_entrypoint = _parsed_program  # type: ignore[method-assign,assignment]  # moto's seam

    def _eval_body(self, env) -> None:
        error_name = env.stack[-1]
        if error_name in TERMINAL_ERRORS and error_name not in self.error_names:
            env.stack.pop()
            env.stack.append(False)  # a wildcard does not match it; a different name never did
            return
        original(self, env)

    _eval_body._local_stack = True  # type: ignore[attr-defined]
    ErrorEqualsDecl._eval_body = _eval_body  # type: ignore[method-assign]  # moto's seam
    eval_component.EvalComponent.heap_key = property(_heap_key)  # type: ignore[method-assign,assignment]
