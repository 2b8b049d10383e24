"""A persistent cache of compiled programs, shared by every process of a user: a second
process's first `aotc.jit` or `aotc.compile` of the same program skips IREE.

    AOTC_CACHE_DIR=/path       where entries live (default: $XDG_CACHE_HOME/aotc, ~/.cache/aotc)
    AOTC_CACHE=0               (or off / false / no) no cache at all: every compile runs IREE
    AOTC_CACHE_MAX_BYTES=N     size cap (default 1 GiB); least recently used entries go first

The key is the SHA-256 of everything the compiled bytes depend on: the module text, the
target and the whole IREE flag list (preset included), whether bounds legalization runs,
aotc's version and a fingerprint of the aotc code that rewrites the text before IREE sees it
(so a source-tree edit never serves a stale program), the IREE compiler's version, and for
`-cpu=host` targets this CPU's feature flags (a cache on a shared home folder then never hands
a program to a CPU that lacks its features).

Entries are `<key>.vmfb` files: a header (magic, payload length, SHA-256 of the payload) and
the .vmfb bytes. Writers fill a temporary file in the same folder, fsync it and rename it into
place, so concurrent processes only ever see whole entries; a reader that finds a short or
corrupt entry treats it as a miss and deletes it. A hit refreshes the entry's mtime, which is
what eviction orders by.
"""

import functools
import hashlib
import os
import struct
import time
import warnings

import iree.compiler.version as iree_version

import aotc.frontend.core as core_package
import aotc.frontend.ops as ops_package
import aotc.passes as passes_package
from aotc.frontend.core.errors import CompileError
from aotc.frontend.core.version import VERSION
from aotc_runtime.cpu import host_flags
from aotc_runtime.files import write_atomic

MAGIC = b"AOTCVMFB"
FORMAT = 1
_HEADER = struct.Struct("<8sIQ32s")  # magic, format, payload length, SHA-256 of the payload
DEFAULT_MAX_BYTES = 1 << 30
_OFF = {"0", "off", "false", "no"}
_STALE_TEMP_SECONDS = 3600  # a temporary file this old belongs to a writer that died
_HERE = os.path.dirname(os.path.abspath(__file__))


def enabled() -> bool:
    """False when AOTC_CACHE is 0 / off / false / no."""
    return os.environ.get("AOTC_CACHE", "1").strip().lower() not in _OFF


def directory() -> str:
    """The cache folder: AOTC_CACHE_DIR, else $XDG_CACHE_HOME/aotc, else ~/.cache/aotc."""
    explicit = os.environ.get("AOTC_CACHE_DIR")
    if explicit:
        return os.path.abspath(os.path.expanduser(explicit))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "aotc")


def max_bytes() -> int:
    """The size cap, AOTC_CACHE_MAX_BYTES (default 1 GiB)."""
    text = os.environ.get("AOTC_CACHE_MAX_BYTES", "").strip()
    if not text:
        return DEFAULT_MAX_BYTES
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise CompileError(f"AOTC_CACHE_MAX_BYTES={text!r} is not a byte count; set it to a "
                           "whole number such as 1073741824 (1 GiB), or unset it")
    return value


@functools.cache
def _code_fingerprint() -> str:
    """Digest of (path, size, mtime) of the aotc code between the traced text and IREE: the
    core, the op rules (bounds rules live there), the passes, and all of tools/ (compile,
    targets, the flag policy and the module rewrites it runs before IREE)."""
    roots = [os.path.dirname(p.__file__) for p in (core_package, ops_package, passes_package)]
    files = []
    for root in [_HERE, *roots]:
        files += sorted(os.path.join(root, f) for f in os.listdir(root) if f.endswith(".py"))
    digest = hashlib.sha256()
    for path in files:
        try:
            st = os.stat(path)
        except OSError:
            continue
        digest.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def key(text: str, flags, bounds: bool = True, target: str = "") -> str:
    """The cache key of compiling text for target with this full IREE flag list (aotc's
    rewrites before IREE may depend on the target name as well as on the flags)."""
    digest = hashlib.sha256()
    parts = [f"aotc-cache {FORMAT}", VERSION, iree_version.VERSION, _code_fingerprint(),
             f"bounds={bool(bounds)}", f"target={target}", *flags]
    if any(f.endswith("-cpu=host") for f in flags):
        parts.append(" ".join(sorted(host_flags() or ())))
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    digest.update(text.encode())
    return digest.hexdigest()


def _path(folder: str, entry_key: str) -> str:
    return os.path.join(folder, f"{entry_key}.vmfb")


def get(entry_key: str) -> bytes | None:
    """The cached bytes, or None on a miss (a corrupt entry is deleted and is a miss)."""
    if not enabled():
        return None
    path = _path(directory(), entry_key)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    payload = _payload(data)
    if payload is None:
        _remove(path)
        return None
    try:
        os.utime(path)  # most recently used
    except OSError:
        pass
    return payload


def _payload(data: bytes) -> bytes | None:
    if len(data) < _HEADER.size:
        return None
    magic, fmt, length, checksum = _HEADER.unpack_from(data)
    payload = data[_HEADER.size:]
    if magic != MAGIC or fmt != FORMAT or length != len(payload):
        return None
    return payload if hashlib.sha256(payload).digest() == checksum else None


def put(entry_key: str, payload: bytes) -> None:
    """Store payload under entry_key (atomically), then evict down to the size cap. A cache
    that cannot be written warns once and compiling goes on without it."""
    if not enabled():
        return
    folder = directory()
    cap = max_bytes()
    if len(payload) + _HEADER.size > cap:
        return
    header = _HEADER.pack(MAGIC, FORMAT, len(payload), hashlib.sha256(payload).digest())
    try:
        os.makedirs(folder, exist_ok=True)
        write_atomic(_path(folder, entry_key), header + payload)
    except OSError as exc:
        _warn_unwritable(folder, exc)
        return
    evict(folder, cap, keep=_path(folder, entry_key))


@functools.cache
def _warn_unwritable(folder: str, exc: OSError) -> None:
    warnings.warn(f"aotc: cannot write the compilation cache in {folder} "
                  f"({exc.strerror or exc}); compiling without it. Set AOTC_CACHE_DIR to a "
                  "writable folder, or AOTC_CACHE=0", stacklevel=3)


def evict(folder: str, cap: int, keep: str | None = None) -> None:
    """Delete least recently used entries (oldest mtime first) until the folder's entries
    total at most cap bytes, and temporary files of writers that died long ago."""
    entries, total, now = [], 0, time.time()
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        path = os.path.join(folder, name)
        try:
            st = os.stat(path)
        except OSError:
            continue  # another process removed it
        if name.endswith(".tmp"):
            if now - st.st_mtime > _STALE_TEMP_SECONDS:
                _remove(path)
        elif name.endswith(".vmfb"):
            entries.append((st.st_mtime, path, st.st_size))
            total += st.st_size
    for _, path, size in sorted(entries):
        if total <= cap:
            break
        if path != keep:
            _remove(path)
            total -= size


def size() -> tuple[int, int]:
    """(entries, bytes) in the cache folder."""
    folder = directory()
    try:
        paths = [os.path.join(folder, n) for n in os.listdir(folder) if n.endswith(".vmfb")]
    except OSError:
        return 0, 0
    sizes = [os.path.getsize(p) for p in paths if os.path.isfile(p)]
    return len(sizes), sum(sizes)


def clear() -> None:
    """Delete every entry."""
    evict(directory(), 0)


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
