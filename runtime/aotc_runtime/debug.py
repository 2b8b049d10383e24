"""The debug sink: prints what `aotc.debug.print` traced into a program (IREE's
flow.tensor.trace), each time the program runs on a CPU device."""

import json
import sys

import numpy as np
from iree import runtime as rt


def _array(view) -> np.ndarray:
    dtype = rt.HalElementType.map_to_dtype(view.element_type)
    array = np.array(view.map().asarray(tuple(view.shape), np.dtype(dtype)))
    return array[()] if array.ndim == 0 else array


def _print(key: str, views) -> None:
    try:
        spec = json.loads(key)
        fmt, names = spec["aotc.debug.print"], spec["names"]
    except (ValueError, KeyError, TypeError):
        fmt, names = key + " {}", []  # a trace that aotc did not write
    arrays = [_array(v) for v in views]
    positional = arrays[:len(arrays) - len(names)]
    keywords = dict(zip(names, arrays[len(positional):]))
    try:
        line = fmt.format(*positional, **keywords)
    except (IndexError, KeyError, ValueError) as exc:
        line = f"aotc.debug.print could not format {fmt!r}: {exc}"
    print(line, file=sys.stdout, flush=True)


SINK = rt.HalModuleDebugSink(_print)
