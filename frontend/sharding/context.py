"""The mapped-context stack: which named axes the code being traced is mapped over.

shard_map pushes its mesh axes while it traces its body, pmap its axis, vmap(axis_name=) its
axis; a collective looks its axes up here, and outside every mapped context it raises a clear
error (JAX raises "unbound axis name"). Inner contexts shadow outer ones with the same name.
"""

import contextlib
import threading
from collections.abc import Iterator

from aotc.frontend.core.mesh import ShardingError
from aotc.frontend.core.source import caller_site

_STATE = threading.local()


def _stack() -> list[dict[str, int]]:
    if not hasattr(_STATE, "stack"):
        _STATE.stack = []
    return _STATE.stack


@contextlib.contextmanager
def mapped(axes: dict[str, int]) -> Iterator[None]:
    """Trace the body of a mapped computation: `axes` maps each axis name to its size."""
    _stack().append(dict(axes))
    try:
        yield
    finally:
        _stack().pop()


def axis_names(axis_name) -> tuple[str, ...]:
    """A collective's axis_name argument (a name or a tuple of names) as a tuple."""
    names = (axis_name,) if isinstance(axis_name, str) else tuple(axis_name)
    if not names or not all(isinstance(n, str) for n in names):
        raise ShardingError(f"{caller_site()}: axis_name {axis_name!r} must be a name or a "
                            "tuple of names")
    return names


def axis_size(names: tuple[str, ...], what: str) -> int:
    """The number of members of a collective over `names` (the product of their sizes)."""
    stack = _stack()
    size = 1
    for name in names:
        frame = next((f for f in reversed(stack) if name in f), None)
        if frame is None:
            bound = sorted({n for f in stack for n in f})
            where = (f"the mapped axes here are {bound}" if bound
                     else "no mapped context is active")
            raise ShardingError(
                f"{caller_site()}: {what} over axis {name!r} outside a mapped context "
                f"({where}); call it inside aotc.shard_map(..., mesh=Mesh(..., ({name!r},...))),"
                f" aotc.pmap(..., axis_name={name!r}) or aotc.vmap(..., axis_name={name!r})")
        size *= frame[name]
    return size
