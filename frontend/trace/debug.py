"""`aotc.debug.print`: print traced values when the compiled program runs, as jax.debug.print."""

import builtins
import json

from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.source import caller_site
from aotc.frontend.ops import debug as debug_ops
from aotc.frontend.trace.tracer import Tracer, is_tracing, to_tracer


def encode_key(fmt: str, names) -> str:
    """The format string and the keyword names, as the traced op (and IREE's trace key) keep
    them; aotc_runtime.debug decodes the same JSON."""
    return json.dumps({"aotc.debug.print": fmt, "names": list(names)})


def debug_print(fmt: str, *args, **kwargs) -> None:
    """Print `fmt.format(*args, **kwargs)` with the values the program computes, each time it
    runs: inside `aotc.jit`, `aotc.compile`d artifacts (CPU targets, through aotc_runtime),
    `aotc.interpret` and eager calls.

    Example:
        >>> @aotc.jit
        ... def f(x):
        ...     aotc.debug.print("x = {}, sum = {s}", x, s=x.sum())
        ...     return x * 2
    """
    if not isinstance(fmt, str):
        raise TracingError(f"{caller_site()}: aotc.debug.print needs a format string first, "
                           f"got {type(fmt).__name__}; write aotc.debug.print('x = {{}}', x)")
    values = [*args, *kwargs.values()]
    if not is_tracing() and not any(isinstance(v, Tracer) for v in values):
        builtins.print(debug_ops.format_values(encode_key(fmt, kwargs), values), flush=True)
        return
    try:
        tracers = [to_tracer(v) for v in values]
    except TypeError as exc:
        raise TracingError(f"{caller_site()}: aotc.debug.print prints arrays and scalars: "
                           f"{exc}") from None
    debug_ops.debug_print(encode_key(fmt, kwargs), [t.value for t in tracers])
