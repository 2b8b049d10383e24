"""Segment reductions of aotc.ops (jax.ops): segment_sum, segment_prod, segment_max, segment_min.

Each is one scatter into `num_segments` rows; ids outside [0, num_segments) are dropped, as in
JAX (negative ids too: they do not wrap).
"""

import numpy as np

from aotc.frontend.core import dtypes
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.source import caller_site
from aotc.frontend.numpy.core import asarray, broadcast_to
from aotc.frontend.numpy.indexing import IndexUpdateHelper
from aotc.frontend.numpy.math import where
from aotc.frontend.trace.tracer import Tracer

__all__ = ["segment_max", "segment_min", "segment_prod", "segment_sum"]


def _num_segments(name: str, segment_ids, num_segments) -> int:
    if num_segments is None:
        if isinstance(segment_ids, Tracer):
            raise TracingError(f"{caller_site()}: {name} of traced segment_ids needs a static "
                               "num_segments=")
        return int(np.max(segment_ids, initial=-1)) + 1
    if not isinstance(num_segments, (int, np.integer)) or num_segments < 0:
        raise TracingError(f"{caller_site()}: {name}: num_segments must be a static int >= 0, "
                           f"got {num_segments!r}")
    return int(num_segments)


def _segment(name: str, data, segment_ids, num_segments, initial, method: str, mode):
    data = asarray(data)
    ids = asarray(segment_ids)
    if ids.ndim != 1 or data.ndim < 1 or ids.shape[0] != data.shape[0]:
        raise TracingError(f"{caller_site()}: {name}: segment_ids must be 1-D with one id per row "
                           f"of data; got shapes {ids.shape} and {data.shape}")
    count = _num_segments(name, segment_ids, num_segments)
    ids = where(ids < 0, count, ids)  # negative ids are dropped, not wrapped
    start = broadcast_to(asarray(initial(data.dtype), data.dtype), (count, *data.shape[1:]))
    return getattr(IndexUpdateHelper(start)[ids], method)(data, mode=mode)


def _lowest(dtype):
    return -np.inf if dtypes.is_float(dtype) else (
        False if dtypes.is_bool(dtype) else np.iinfo(dtype).min)


def _highest(dtype):
    return np.inf if dtypes.is_float(dtype) else (
        True if dtypes.is_bool(dtype) else np.iinfo(dtype).max)


def segment_sum(data, segment_ids, num_segments=None, indices_are_sorted=False,
                unique_indices=False, bucket_size=None, mode=None):
    """Sums of data's rows by segment: out[s] = sum of data[i] where segment_ids[i] == s.

    Example:
        >>> aotc.ops.segment_sum(anp.arange(4.0), anp.array([0, 0, 1, 2]), num_segments=3)
        ... # [1.0, 2.0, 3.0]
    """
    return _segment("segment_sum", data, segment_ids, num_segments, lambda dt: 0, "add", mode)


def segment_prod(data, segment_ids, num_segments=None, indices_are_sorted=False,
                 unique_indices=False, bucket_size=None, mode=None):
    """Products of data's rows by segment (1 for an empty segment).

    Example:
        >>> aotc.ops.segment_prod(anp.arange(1.0, 5.0), anp.array([0, 0, 1, 1]), 2)   # [2, 12]
    """
    return _segment("segment_prod", data, segment_ids, num_segments, lambda dt: 1, "multiply",
                    mode)


def segment_max(data, segment_ids, num_segments=None, indices_are_sorted=False,
                unique_indices=False, bucket_size=None, mode=None):
    """Maxima of data's rows by segment (-inf, or the dtype's minimum, for an empty segment).

    Example:
        >>> aotc.ops.segment_max(anp.arange(4.0), anp.array([0, 0, 1, 1]), 2)   # [1.0, 3.0]
    """
    return _segment("segment_max", data, segment_ids, num_segments, _lowest, "max", mode)


def segment_min(data, segment_ids, num_segments=None, indices_are_sorted=False,
                unique_indices=False, bucket_size=None, mode=None):
    """Minima of data's rows by segment (inf, or the dtype's maximum, for an empty segment).

    Example:
        >>> aotc.ops.segment_min(anp.arange(4.0), anp.array([0, 0, 1, 1]), 2)   # [0.0, 2.0]
    """
    return _segment("segment_min", data, segment_ids, num_segments, _highest, "min", mode)
