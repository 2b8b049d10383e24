"""Files: atomic writes (readers see the old file or the whole new one, never a part), and
reading only regular files (a FIFO would block the reader, a device would never end)."""

import os
import stat
import tempfile
from collections.abc import Callable


class NotARegularFile(OSError):
    """path exists but is a directory, FIFO, socket or device: `kind` says which."""

    def __init__(self, path: str, kind: str):
        super().__init__(f"{path}: is {kind}, not a regular file")
        self.kind = kind


def _kind(mode: int) -> str | None:
    """None for a regular file, else what mode describes ('a directory', 'a FIFO ...')."""
    if stat.S_ISREG(mode):
        return None
    for test, kind in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return kind
    return "not a regular file"


def check_regular(path: str) -> None:
    """Raise NotARegularFile (or FileNotFoundError, OSError) unless path is a regular file."""
    kind = _kind(os.stat(path).st_mode)
    if kind is not None:
        raise NotARegularFile(path, kind)


def read_regular(path: str) -> bytes:
    """The bytes of a regular file; NotARegularFile for anything else, without blocking.

    The file is checked before it is opened (opening a device can have effects) and again on
    the open descriptor (O_NONBLOCK: a FIFO swapped in between does not block the open).
    """
    check_regular(path)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        kind = _kind(os.fstat(fd).st_mode)
        if kind is not None:
            raise NotARegularFile(path, kind)
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read()
    finally:
        os.close(fd)


def replace_atomically(path, write: Callable[[str], None]) -> None:
    """Call write(tmp) to fill a temporary file beside path, then rename it over path.

    On any failure the temporary file is removed and the error propagates; path is untouched.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_atomic(path, data: bytes) -> None:
    """Write bytes to path atomically (flushed to disk before the rename)."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    replace_atomically(path, write)
