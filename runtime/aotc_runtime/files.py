"""Writing files atomically: readers see the old file or the whole new one, never a part."""

import os
import tempfile
from collections.abc import Callable


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
