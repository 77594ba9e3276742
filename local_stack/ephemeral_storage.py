"""Lambda's /tmp, per invocation: a directory of its own, as big as the function's EphemeralStorage.

Inside a handler (and the threads it starts), `tempfile.gettempdir()` is the invocation's own
directory, so `tempfile.TemporaryDirectory()`, `NamedTemporaryFile()` and friends land there. Files
opened for writing in it through Python's `open` (the builtin, `io.open`, and so `tempfile`) count
against the function's size: a write that would take the directory past it raises OSError(ENOSPC),
as a full disk does. The count is of bytes written, so the outcome is the same on any machine.

Outside its /tmp (and /dev), opening a file for writing fails with OSError(EROFS): Lambda's file
system is read-only elsewhere.

Not counted: data written through raw descriptors (`os.write`, `os.sendfile`, `shutil.copyfile`),
which our handlers do not use.
"""

from __future__ import annotations

import builtins
import errno
import io
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

MIB = 1024 * 1024


class EphemeralStorage:
    """One invocation's /tmp: a directory and the bytes it may hold."""

    def __init__(self, root: Path, name: str, size_bytes: int):
        path = Path(root) / name
        path.mkdir(parents=True)
        self.path = path.resolve()
        self.size_bytes = size_bytes
        self.taken_bytes = 0  # space held by something else (a test's fault: "the disk is nearly full")
        self._counted = 0  # bytes written since the last scan, plus what that scan found
        self._lock = threading.Lock()

    def holds(self, path: str | os.PathLike) -> bool:
        try:
            return Path(os.path.realpath(path)).is_relative_to(self.path)
        except (TypeError, ValueError):
            return False

    def charge(self, nbytes: int, filename: str) -> None:
        """Account for a write of `nbytes`; raise ENOSPC when the directory cannot hold it."""
        with self._lock:
            if self.taken_bytes + self._counted + nbytes > self.size_bytes:
                # Files may have been deleted since: count what is really there before refusing.
                self._counted = self.used_bytes()
                if self.taken_bytes + self._counted + nbytes > self.size_bytes:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), filename)
            self._counted += nbytes

    def used_bytes(self) -> int:
        return sum(entry.stat().st_size for entry in self.path.rglob("*") if entry.is_file())

    def leftovers(self) -> list[str]:
        return sorted(str(entry.relative_to(self.path)) for entry in self.path.rglob("*") if entry.is_file())

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


class _CountedFileIO(io.FileIO):
    """A raw file whose writes are charged to an invocation's ephemeral storage first."""

    storage: EphemeralStorage

    def write(self, data: Any) -> int:
        self.storage.charge(memoryview(data).nbytes, str(self.name))
        return super().write(data)


def _counted_open(storage: EphemeralStorage, file: Any, mode: str, buffering: int, encoding: Any, errors: Any,
                  newline: Any, closefd: bool, opener: Any):
    """io.open's layering (raw file, buffer, text) over a counted raw file."""
    raw = _CountedFileIO(file, mode.replace("t", ""), closefd, opener=opener)
    raw.storage = storage
    binary = "b" in mode
    if buffering == 0:
        if not binary:
            raw.close()
            raise ValueError("can't have unbuffered text I/O")
        return raw
    line_buffering = buffering == 1 and not binary
    size = io.DEFAULT_BUFFER_SIZE if buffering in (-1, 1) else buffering
    buffered = io.BufferedRandom(raw, size) if "+" in mode else io.BufferedWriter(raw, size)
    if binary:
        return buffered
    text = io.TextIOWrapper(buffered, io.text_encoding(encoding), errors, newline, line_buffering=line_buffering)
    text.mode = mode  # type: ignore[misc]  # as io.open sets it; typeshed declares it read-only
    return text


def _no_storage() -> EphemeralStorage | None:
    return None


_current_storage: Callable[[], EphemeralStorage | None] = _no_storage


def install(current_storage: Callable[[], EphemeralStorage | None]) -> None:
    """Route tempfile's directory and file writes of the running invocation (current_storage() on
    the calling thread) to its storage. Patches tempfile and open once; later calls change the getter."""
    global _current_storage  # noqa: PLW0603 (the patched tempfile and open, once per process, read it)
    _current_storage = current_storage
    if getattr(tempfile.gettempdir, "_local_stack", False):
        return
    original_gettempdir, original_open = tempfile.gettempdir, io.open

    def gettempdir() -> str:
        storage = _current_storage()
        return str(storage.path) if storage else original_gettempdir()

    def gettempdirb() -> bytes:
        return os.fsencode(gettempdir())

    def open_(file, mode="r", buffering=-1, encoding=None, errors=None, newline=None, closefd=True, opener=None):
        storage = _current_storage()
        if storage is not None and any(flag in mode for flag in "wax+"):
            path = _path_of(file)
            if path is not None and storage.holds(path):
                return _counted_open(storage, file, mode, buffering, encoding, errors, newline, closefd, opener)
            if path is not None and not path.startswith("/dev/"):
                # Lambda's file system is read-only outside /tmp.
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), path)
        return original_open(file, mode, buffering, encoding, errors, newline, closefd, opener)

    gettempdir._local_stack = True  # type: ignore[attr-defined]
    tempfile.gettempdir, tempfile.gettempdirb = gettempdir, gettempdirb
    io.open = builtins.open = open_


def _path_of(file: Any) -> str | None:
    if isinstance(file, int):  # tempfile opens a descriptor it created
        try:
            return os.readlink(f"/proc/self/fd/{file}")
        except OSError:
            return None
    try:
        return os.fsdecode(file)
    except TypeError:
        return None
