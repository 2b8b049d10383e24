"""Source locations: the user's file:line for every traced op and error message."""

import os
import re
import sys
import threading

from aotc.frontend.core.ir import ir

# ---- locations: every traced op carries the user's file:line ----------------------------------

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_AOTC_DIRS = tuple(
    _ROOT + os.sep + d + os.sep
    for d in ("frontend", "passes", "tools", "aotc")
)


def user_frame():
    """The innermost Python frame outside aotc itself: the user's call site."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_AOTC_DIRS):
        frame = frame.f_back
    return frame


def caller_site() -> str:
    """'file.py:12' of the user's call site, for error messages."""
    frame = user_frame()
    return f"{frame.f_code.co_filename}:{frame.f_lineno}" if frame else "<unknown>"


_LOCATION = threading.local()


class at_location:
    """Make `emit` use `loc` (a pass re-emitting an op keeps the op's own location)."""

    def __init__(self, loc: ir.Location):
        self.loc = loc

    def __enter__(self):
        self.saved = getattr(_LOCATION, "loc", None)
        _LOCATION.loc = self.loc

    def __exit__(self, *exc):
        _LOCATION.loc = self.saved


def user_location() -> ir.Location:
    override = getattr(_LOCATION, "loc", None)
    if override is not None:
        return override
    frame = user_frame()
    if frame is None:
        return ir.Location.unknown()
    col = 0
    for i, pos in enumerate(frame.f_code.co_positions()):
        if i == frame.f_lasti // 2:
            col = (pos[2] or 0) + 1
            break
    return ir.Location.file(frame.f_code.co_filename, frame.f_lineno, col)


def location_text(loc: ir.Location) -> str:
    """'file.py:12:5' from an MLIR location (empty when unknown)."""
    match = re.search(r'"([^"]+)":(\d+):(\d+)', str(loc))
    return f"{match[1]}:{match[2]}:{match[3]}" if match else ""
