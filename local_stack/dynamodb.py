"""Two ways moto's DynamoDB differs from DynamoDB that our workloads hit, corrected here.

**Atomicity.** DynamoDB requests are atomic per item; moto's are not. moto applies an UpdateItem to
the stored item in place, one action at a time, after evaluating its condition on that same live
item, and serves requests from many threads at once (the API, every workflow step and Map iteration
share the process). So a GetItem could see a job's new `status` with its old `stats`, and two
conditional writes could both pass their conditions before either wrote (two uploads both holding
one dataset). DynamoDB never allows either. One lock around moto's DynamoDB request handler restores
that: each request runs alone, as if DynamoDB had serialized it. moto is bound by the GIL anyway, so
the lock costs little throughput. It is not first come, first served: a request marked interactive
(`priority.PRIORITY_HEADER`, sent by the API's functions) goes before every waiting background one,
since on AWS a status GET never waits for other clients' writes (local_stack/priority.py). There is
one lock per moto server (by the port it serves), like the priority policy: the local stack's server
and a test's own server in the same process neither wait for nor count each other's requests (they
serve different tables).

**Query cost.** A Query on a table (not an index) costs DynamoDB what the partition holds; moto
collects and sorts every item of the table first (`Table.all_items()` inside `Table.query`), so
locally a Query's cost grew with everything ever loaded: a clear's per-shard queries, and every
request waiting behind them on the lock above, slowed down as the suite's records piled up. The
query below hands moto's own query code only the queried partition's items; everything after that
(sort, pagination, key conditions, filters, projections) is moto's. Index queries are left as they
are (they must look at every item).
"""

from __future__ import annotations

import contextlib
import inspect
import threading
from collections.abc import Iterator
from typing import Any

from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler

from local_stack.priority import INTERACTIVE, PRIORITY_HEADER

_original_call_action = DynamoHandler.call_action
_original_query = Table.query
_QUERY_SIGNATURE = inspect.signature(_original_query)


class PriorityLock:
    """A reentrant lock whose waiting interactive holders go before its waiting background ones
    (each class in no particular order, as with any lock)."""

    def __init__(self) -> None:
        self._changed = threading.Condition(threading.Lock())
        self._owner: int | None = None
        self._depth = 0
        self.interactive_waiting = 0
        self.background_waiting = 0

    @contextlib.contextmanager
    def holding(self, interactive: bool) -> Iterator[None]:
        me = threading.get_ident()
        with self._changed:
            if self._owner == me:  # moto calling back into DynamoDB within a request
                self._depth += 1
            else:
                self._wait_for_turn(interactive)
                self._owner, self._depth = me, 1
        try:
            yield
        finally:
            with self._changed:
                self._depth -= 1
                if self._depth == 0:
                    self._owner = None
                    self._changed.notify_all()  # each waiter checks whether it is its turn

    def _wait_for_turn(self, interactive: bool) -> None:
        if interactive:
            self.interactive_waiting += 1
            try:
                while self._owner is not None:
                    self._changed.wait()
            finally:
                self.interactive_waiting -= 1
        else:
            self.background_waiting += 1
            try:
                while self._owner is not None or self.interactive_waiting:
                    self._changed.wait()
            finally:
                self.background_waiting -= 1


_locks: dict[int, PriorityLock] = {}
_locks_changing = threading.Lock()


def requests_lock(server_port: int) -> PriorityLock:
    """The lock every DynamoDB request to the moto server on `server_port` holds while it is served."""
    lock = _locks.get(server_port)
    if lock is None:
        with _locks_changing:
            lock = _locks.setdefault(server_port, PriorityLock())
    return lock


def _serialized_call_action(self):
    interactive = self.headers.get(PRIORITY_HEADER) == INTERACTIVE
    with requests_lock(int(self.normalized_request.environ["SERVER_PORT"])).holding(interactive):
        return _original_call_action(self)


class _OnePartition:
    """Stands in for a table inside moto's query: `all_items()` yields the one partition asked for."""

    def __init__(self, table: Table, hash_key: Any):
        self._table = table
        self._partition = table.items.get(hash_key)  # .get: never create an empty partition

    def all_items(self) -> list:
        if self._partition is None:
            return []
        if self._table.range_key_attr:
            return list(self._partition.values())
        return [self._partition]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)


def _partition_query(self: Table, *args: Any, **kwargs: Any):
    asked = _QUERY_SIGNATURE.bind(self, *args, **kwargs).arguments
    if asked.get("index_name") or asked.get("hash_key") is None:
        return _original_query(self, *args, **kwargs)
    # A stand-in with the table's attributes, not a Table: moto's query reads only attributes.
    return _original_query(_OnePartition(self, asked["hash_key"]), *args, **kwargs)  # type: ignore[arg-type]


def install() -> None:
    """Serialize every DynamoDB API request the embedded moto serves, and make a table Query cost
    what its partition holds (idempotent)."""
    DynamoHandler.call_action = _serialized_call_action  # type: ignore[method-assign]  # moto's seams
    Table.query = _partition_query  # type: ignore[method-assign]
