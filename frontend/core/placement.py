"""The placement table: which per-device blocks a global value of the live trace already has.

shard_map outputs (and sharded function arguments) are assembled into global values from their
blocks; a later split of the same value with the same mesh and spec reuses those blocks instead
of slicing the assembled value (whose concatenate is then dead, and IREE drops it). Entries are
per thread and dropped when a trace starts (`forget`, called by trace() like symbolic.forget),
because ir.Values of freed modules hash like new values that reuse their addresses. Blocks are
reused only at an insertion point in the block where they were emitted (they dominate it).
"""

import threading

from aotc.frontend.core.ir import ir

_STATE = threading.local()


def _table() -> dict:
    if not hasattr(_STATE, "table"):
        _STATE.table = {}
    return _STATE.table


def forget() -> None:
    """Drop every entry (a new trace starts)."""
    _STATE.table = {}


def remember(value: ir.Value, mesh, spec, blocks) -> None:
    """Record that `value` (global) has per-device `blocks` under (mesh, normalized spec),
    emitted in the current insertion block."""
    block = ir.InsertionPoint.current.block
    _table()[value] = (mesh, tuple(spec), list(blocks), block)


def blocks_of(value: ir.Value, mesh, spec) -> list | None:
    """The recorded blocks of `value` under (mesh, spec), when they can be used here."""
    entry = _table().get(value)
    if entry is None:
        return None
    known_mesh, known_spec, blocks, block = entry
    if known_mesh != mesh or known_spec != tuple(spec):
        return None
    return blocks if ir.InsertionPoint.current.block == block else None
