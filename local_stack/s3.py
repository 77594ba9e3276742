"""moto's S3 ListObjects looks at every key of the bucket; S3 answers a prefix from its index.

moto's `S3Backend.list_objects` (which ListObjectsV2 calls) copies the bucket's whole key store and
tests each name against the prefix, so a listing's cost grows with everything the bucket holds:
every upload ever kept under `uploads/`, and every work file of the jobs running at once. The load
workflow lists a prefix in each Load, Split and Finalize (`ObjectStore.list_keys`), so locally a
small job slowed down as the bucket filled (measured: 11 ms a listing of 5 keys, 83 ms once 50,000
other keys were in the bucket; docs/local_stack.md "Staying fast as data grows").

Here each bucket's key store keeps its names sorted (updated where moto adds or removes a name:
`__setitem__`, `setlist`, `pop`), and a listing with a prefix hands moto's own list_objects a
bucket whose keys are only the names under that prefix; everything after that (delimiters,
delete markers, order, pagination) is moto's. A listing without a prefix is left as it is.
"""

from __future__ import annotations

import bisect
import inspect
import threading
from collections.abc import Iterator
from typing import Any

from moto.s3.models import FakeTableStorageBucket, S3Backend
from moto.s3.utils import _VersionedKeyStore

_lock = threading.RLock()  # one for all stores: each hold is a bisect and a list insert
_INDEX = "_local_stack_sorted_names"
_original_list_objects = S3Backend.list_objects
_LIST_SIGNATURE = inspect.signature(_original_list_objects)
_original_setitem = _VersionedKeyStore.__setitem__
_original_setlist = _VersionedKeyStore.setlist
_original_pop = _VersionedKeyStore.pop


def _sorted_names(store: _VersionedKeyStore) -> list[str]:
    """The store's names, sorted; built on first use from what it holds (callers hold _lock)."""
    names = store.__dict__.get(_INDEX)
    if names is None:
        names = store.__dict__[_INDEX] = sorted(dict.keys(store))
    return names


def _added(store: _VersionedKeyStore, name: str) -> None:
    with _lock:
        names = _sorted_names(store)
        at = bisect.bisect_left(names, name)
        if at == len(names) or names[at] != name:
            names.insert(at, name)


def _removed(store: _VersionedKeyStore, name: str) -> None:
    with _lock:
        names = _sorted_names(store)
        at = bisect.bisect_left(names, name)
        if at < len(names) and names[at] == name and name not in store:
            del names[at]


def _setitem(self: _VersionedKeyStore, key: str, value: Any) -> None:
    _original_setitem(self, key, value)
    _added(self, key)


def _setlist(self: _VersionedKeyStore, key: Any, list_: Any) -> None:
    _original_setlist(self, key, list_)
    _added(self, key)


def _pop(self: _VersionedKeyStore, key: str) -> None:
    try:
        _original_pop(self, key)
    finally:
        _removed(self, key)


def names_under(store: _VersionedKeyStore, prefix: str) -> list[str]:
    """The store's names that start with prefix, in order, from its sorted index."""
    with _lock:
        names = _sorted_names(store)
        start = bisect.bisect_left(names, prefix)
        end = start
        while end < len(names) and names[end].startswith(prefix):
            end += 1
        return names[start:end]


class _KeysUnder:
    """Stands in for a bucket's key store inside moto's list_objects: `items()` yields the names under
    one prefix with their latest version, as the store's own items() does for every name."""

    def __init__(self, store: _VersionedKeyStore, prefix: str):
        self._store, self._names = store, names_under(store, prefix)

    def items(self) -> Iterator[tuple[str, Any]]:
        for name in self._names:
            versions = dict.get(self._store, name)
            if versions:
                yield name, versions[-1]


class _BucketUnder:
    """A bucket whose `keys` are those under one prefix; every other attribute is the bucket's."""

    def __init__(self, bucket: Any, prefix: str):
        self._bucket = bucket
        self.keys = _KeysUnder(bucket.keys, prefix)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._bucket, name)


def _prefix_list_objects(self: S3Backend, *args: Any, **kwargs: Any):
    asked = _LIST_SIGNATURE.bind(self, *args, **kwargs).arguments
    bucket, prefix = asked.get("bucket"), asked.get("prefix")
    if not prefix or isinstance(bucket, FakeTableStorageBucket) or not isinstance(
            getattr(bucket, "keys", None), _VersionedKeyStore):
        return _original_list_objects(self, *args, **kwargs)
    asked["bucket"] = _BucketUnder(bucket, prefix)
    return _original_list_objects(**asked)


def install() -> None:
    """Make an S3 listing with a prefix cost what the prefix holds (idempotent)."""
    _VersionedKeyStore.__setitem__ = _setitem  # type: ignore[method-assign]  # moto's seams
    _VersionedKeyStore.setlist = _setlist  # type: ignore[method-assign]
    _VersionedKeyStore.pop = _pop  # type: ignore[method-assign]
    S3Backend.list_objects = _prefix_list_objects  # type: ignore[method-assign]
