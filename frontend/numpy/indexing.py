"""Indexing of traced arrays: x[...] (slices, None, Ellipsis, ints, int arrays) and x.at[...].

NumPy's rules, with JAX's choices where tracing needs one: static ints and static index arrays
are bounds-checked while tracing; traced indices wrap when negative, then clamp (reads) or drop
(updates) when out of range; boolean masks are refused (their result shape depends on values).
Static slices lower to `stablehlo.slice` (+ `reverse` for negative steps), traced scalar indices
to `dynamic_slice`, and integer-array indices to one `gather`; `x.at[...]` lowers to `scatter`.
"""

from dataclasses import dataclass

import numpy as np

from aotc.frontend.core import dtypes
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.ir import ir
from aotc.frontend.core.source import caller_site
from aotc.frontend.numpy.core import (
    asarray,
    astype,
    broadcast_shapes,
    broadcast_to,
    normalize_axis,
    shape_text,
)
from aotc.frontend.numpy.math import clip, divide, power, remainder
from aotc.frontend.numpy.math import where as select
from aotc.frontend.numpy.shape import expand_dims, ravel, reshape, squeeze
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.ops import indexing as index_ops
from aotc.frontend.ops import reduction as reduction_ops
from aotc.frontend.ops import shape as shape_ops
from aotc.frontend.trace.tracer import Tracer, constant, to_tracer

__all__ = ["take", "take_along_axis"]


@dataclass
class _Entry:
    """How one dim of the indexed array is indexed.

    kind "slice": `count` elements from `start` by `step` (count None: a full dynamic dim);
    kind "point": one static int or traced 0-d int (the dim is dropped);
    kind "array": an integer array (numpy or traced), broadcast with the other array entries.
    """

    kind: str
    start: int = 0
    count: int | None = None
    step: int = 1
    value: object = None


# ---- parsing an index into one entry per dim ---------------------------------------------------


def _mask_error() -> TracingError:
    return TracingError(
        f"{caller_site()}: boolean mask indexing gives a result whose shape depends on the mask's "
        "values, which aotc cannot trace; use anp.where(mask, x, other) to select elementwise "
        "(or integer indices)")


def _contains_tracer(items) -> bool:
    todo = [items]
    while todo:
        item = todo.pop()
        if isinstance(item, Tracer):
            return True
        if isinstance(item, (list, tuple)):
            todo.extend(item)
    return False


def _as_index_item(item):
    """Lists become arrays, 0-d numpy ints become ints; masks and floats are refused."""
    if isinstance(item, (bool, np.bool_)):
        raise _mask_error()
    if isinstance(item, (list, tuple)):
        if _contains_tracer(item):
            item = asarray(item)
        else:
            item = np.asarray(item) if len(item) else np.zeros(0, np.int32)
    if isinstance(item, np.ndarray) and item.ndim == 0:
        item = item[()]
    if isinstance(item, np.integer):
        return int(item)
    if isinstance(item, (np.ndarray, Tracer)):
        if item.dtype == np.bool_:
            raise _mask_error()
        if not dtypes.is_int(item.dtype):
            raise TracingError(f"{caller_site()}: indices must be integers, got an array of dtype "
                               f"{item.dtype}")
        return item
    if item is None or item is Ellipsis or isinstance(item, (int, slice)):
        return item
    raise TracingError(f"{caller_site()}: cannot index with {type(item).__name__} {item!r}; use "
                       "ints, "
                       "slices, None, Ellipsis or integer arrays")


def _check_static(value: np.ndarray, size: int | None, axis: int, clamp: bool = False):
    """Refuse out-of-range static indices, or with clamp=True (JAX's `x[i]`: a gather clamps)
    return them wrapped and clamped into [0, size)."""
    if size is None:
        return value
    if clamp and size:
        return np.clip(np.where(value < 0, value + size, value), 0, size - 1)
    bad = value[(value < -size) | (value >= size)]
    if bad.size:
        raise TracingError(f"{caller_site()}: index {int(bad.flat[0])} is out of bounds for axis "
                           f"{axis} with size {size}")
    return value


def _slice_entry(item: slice, size: int | None, axis: int) -> _Entry:
    if size is None:
        if item != slice(None):
            raise TracingError(f"{caller_site()}: slicing dynamic axis {axis} with {item} is not "
                               "supported; only ':' keeps a dynamic axis")
        return _Entry("slice")
    start, stop, step = item.indices(size)
    return _Entry("slice", start, len(range(start, stop, step)), step)


def _parse(x: Tracer, index, clamp: bool = False) -> tuple[Tracer, list[_Entry]]:
    """x with a size-1 dim inserted for each None, and one entry per dim of that array."""
    items = [_as_index_item(item) for item in (index if isinstance(index, tuple) else (index,))]
    ellipses = [i for i, item in enumerate(items) if item is Ellipsis]
    if len(ellipses) > 1:
        raise TracingError(f"{caller_site()}: an index can only have a single ellipsis ('...')")
    used = sum(item is not None and item is not Ellipsis for item in items)
    if used > x.ndim:
        raise TracingError(f"{caller_site()}: too many indices for array: array of shape "
                           f"{shape_text(x.shape)} is {x.ndim}-dimensional, but {used} were "
                           "indexed")
    fill = [slice(None)] * (x.ndim - used)
    if ellipses:
        at = ellipses[0]
        items = items[:at] + fill + items[at + 1:]
    else:
        items = items + fill
    new_axes = [i for i, item in enumerate(items) if item is None]
    if new_axes:
        x = expand_dims(x, new_axes)
    has_array = any(isinstance(item, (np.ndarray, Tracer)) and item.ndim for item in items)
    entries = []
    for position, (item, size) in enumerate(zip(items, x.shape)):
        axis = position - sum(a < position for a in new_axes)  # x's own axis, for messages
        if item is None:
            entries.append(_Entry("slice", 0, 1, 1))
        elif isinstance(item, slice):
            entries.append(_slice_entry(item, size, axis))
        elif isinstance(item, int):
            item = int(_check_static(np.asarray(item), size, axis, clamp))
            value = item % size if size is not None else item
            entries.append(_Entry("array" if has_array else "point", value=value))
        elif isinstance(item, np.ndarray):
            item = _check_static(item, size, axis, clamp)
            wrapped = item if size is None else np.where(item < 0, item + size, item)
            entries.append(_Entry("array", value=wrapped))
        else:
            entries.append(_Entry("array" if has_array else "point", value=item))
    return x, entries


def _index_tensor(value, x: Tracer, axis: int) -> Tracer:
    """An int32 traced index for `axis` of x; traced negative indices wrap like JAX."""
    if not isinstance(value, Tracer):
        if np.any(np.asarray(value) < 0):  # a static negative index on a dynamic axis
            value = to_tracer(np.asarray(value, np.int32))
        else:
            return constant(np.asarray(value, np.int32))
    index = astype(value, dtypes.int32)
    if dtypes.is_unsigned(value.dtype):
        return index
    size = x.shape[axis]
    size = (Tracer(shape_ops.get_dimension_size(x.value, axis)) if size is None
            else constant(np.int32(size)))
    return select(index < 0, index + size, index)


def _array_entries(entries) -> tuple[list[int], tuple, int]:
    """Axes indexed by arrays, their broadcast shape, and where its dims go in the result."""
    axes = [a for a, e in enumerate(entries) if e.kind == "array"]
    if not axes:
        return [], (), 0
    shape = broadcast_shapes("indexing", *[np.shape(entries[a].value) for a in axes])
    contiguous = axes == list(range(axes[0], axes[-1] + 1))
    return axes, shape, axes[0] if contiguous else 0


def _array_columns(x: Tracer, entries, axes, shape, batch_shape, batch_dims) -> list:
    """The int32 index arrays of `axes`, broadcast to `shape` and placed on `batch_dims` of
    `batch_shape`, each with a trailing dim of 1 to stack them along."""
    like = [e.value for e in entries if isinstance(e.value, Tracer)]
    columns = []
    for axis in axes:
        index = broadcast_to(_index_tensor(entries[axis].value, x, axis), shape, like=like)
        if list(batch_shape) == list(shape):  # expand_dims keeps dynamic dims
            columns.append(expand_dims(index, -1).value)
        else:
            columns.append(shape_ops.broadcast_in_dim(index.value, (*batch_shape, 1),
                                                      batch_dims))
    return columns


# ---- x[index] ----------------------------------------------------------------------------------


def _static_slices(x: Tracer, entries) -> Tracer:
    """Apply the slice entries and static points: one reverse (negative steps), then one slice."""
    flips = [a for a, e in enumerate(entries) if e.kind == "slice" and e.step < 0 and e.count
             and e.count > 1]
    starts, limits, strides, shape = [], [], [], []
    for axis, (e, size) in enumerate(zip(entries, x.shape)):
        if e.kind == "slice" and e.count is not None:
            low = size - 1 - e.start if axis in flips else e.start if e.count else 0
            step = abs(e.step) if e.count > 1 else 1
            starts.append(low)
            limits.append(low + (e.count - 1) * step + 1 if e.count else 0)
            strides.append(step)
            shape.append(e.count)
        elif e.kind == "point" and isinstance(e.value, int):
            starts.append(e.value)
            limits.append(e.value + 1)
            strides.append(1)
            shape.append(1)
        else:
            starts.append(0)
            limits.append(size)
            strides.append(1)
            shape.append(size)
    value = shape_ops.reverse(x.value, flips)
    if shape != list(x.shape) or strides != [1] * x.ndim:
        if None in x.shape:
            value = _dynamic_shape_slice(x, value, starts, limits, strides, shape)
        else:
            value = shape_ops.slice(value, starts, limits, strides)
    return Tracer(value, x.weak_type)


def _dynamic_shape_slice(x: Tracer, value: ir.Value, starts, limits, strides, shape) -> ir.Value:
    """real_dynamic_slice of an array with dynamic axes: a limit of None is the axis' size and a
    negative start (a point) counts from it."""
    low, high = [], []
    for axis, (start, limit) in enumerate(zip(starts, limits)):
        if x.shape[axis] is None and (limit is None or start < 0):
            size = Tracer(shape_ops.get_dimension_size(x.value, axis))
            low.append(size + start if start < 0 else constant(np.int32(start)))
            high.append(size if limit is None else low[-1] + 1)
        else:
            low.append(constant(np.int32(start)))
            high.append(constant(np.int32(limit)))

    def vector(scalars):
        return shape_ops.concatenate([shape_ops.reshape(t.value, (1,)) for t in scalars], 0)

    step = constant(np.asarray(strides, np.int32)).value
    return index_ops.real_dynamic_slice(value, vector(low), vector(high), step, shape)


def _drop_axes(x: Tracer, axes) -> Tracer:
    """Remove size-1 axes. With dynamic dims this is a one-element max reduction, as IREE 3.13
    cannot compile stablehlo.dynamic_reshape."""
    if None not in x.shape:
        return squeeze(x, axes)
    dt = x.dtype
    lowest = (False if dt == np.bool_ else -np.inf if dtypes.is_float(dt)
              else np.iinfo(dt).min)
    combine = ew.or_ if dt == np.bool_ else ew.maximum
    init = constant(np.asarray(lowest, dt)).value
    return Tracer(reduction_ops.reduce_binary(x.value, init, axes, combine), x.weak_type)


def _dynamic_points(x: Tracer, entries) -> Tracer:
    """dynamic_slice of size 1 at the traced scalar indices."""
    traced = [a for a, e in enumerate(entries) if e.kind == "point" and isinstance(e.value,
                                                                                    Tracer)]
    if not traced:
        return x
    if None in x.shape:
        raise TracingError(f"{caller_site()}: a traced scalar index into an array of dynamic shape "
                           f"{shape_text(x.shape)} is not supported")
    starts = [_index_tensor(entries[a].value, x, a).value if a in traced
              else constant(np.int32(0)).value for a in range(x.ndim)]
    sizes = [1 if a in traced else n for a, n in enumerate(x.shape)]
    return Tracer(shape_ops.dynamic_slice(x.value, starts, sizes), x.weak_type)


def getitem(x, index) -> Tracer:
    """`x[index]` with NumPy's indexing rules (basic and integer-array indexing).

    Example:
        >>> x[1:, ::-1], x[..., None], x[anp.array([2, 0])], x[rows, cols], x[i]   # i traced
    """
    x = to_tracer(x)
    x, entries = _parse(x, index, clamp=True)  # static out-of-range indices clamp, as in JAX
    if any(e.kind == "array" for e in entries):
        return _gather(x, entries)
    x = _dynamic_points(_static_slices(x, entries), entries)
    points = [a for a, e in enumerate(entries) if e.kind == "point"]
    return _drop_axes(x, points) if points else x


def _result_layout(entries) -> list:
    """Where each dim of x[index] comes from: ("axis", a) for a slice, ("batch", j) for arrays."""
    _, shape, position = _array_entries(entries)
    layout = [("axis", a) for a, e in enumerate(entries) if e.kind == "slice"]
    return layout[:position] + [("batch", j) for j in range(len(shape))] + layout[position:]


@dataclass
class _Plan:
    """x[index] as windows (slices read or written whole) and indexed axes (the rest)."""

    layout: list  # see _result_layout
    shape: list  # the shape of x[index]
    window: list  # positions in `layout` of the window slices
    window_axes: list  # their axes of x
    indexed: list  # axes of x read through the index tensor
    low: list  # per axis of x: where its window starts (0 for indexed axes)
    box: list  # per axis of x: the window's size (the full size for indexed axes)


def _plan(x: Tracer, entries, reversed_windows: bool) -> _Plan:
    """Slices with step 1 (and -1 when reversed_windows) become windows; other slices, points
    and arrays are indexed (strided slices through an iota of their own)."""
    shape_b = _array_entries(entries)[1]
    layout = _result_layout(entries)
    shape = [shape_b[j] if kind == "batch" else entries[j].count for kind, j in layout]
    steps = (1, -1) if reversed_windows else (1,)
    window = [p for p, (kind, a) in enumerate(layout) if kind == "axis" and (
        entries[a].count is None or entries[a].count <= 1 or entries[a].step in steps)]
    window_axes = [layout[p][1] for p in window]
    low, box = [0] * x.ndim, list(x.shape)
    for a in window_axes:
        e = entries[a]
        if e.count is not None:
            low[a] = e.start if e.step > 0 or e.count == 0 else e.start - e.count + 1
            box[a] = e.count
    indexed = [a for a in range(x.ndim) if a not in window_axes]
    return _Plan(layout, shape, window, window_axes, indexed, low, box)


def _index_vectors(x: Tracer, entries, plan: _Plan, batch_dims, batch_shape) -> ir.Value:
    """The int32 start indices of plan.indexed axes: batch_shape + (len(plan.indexed),)."""
    axes, shape, _ = _array_entries(entries)
    column_shape = (*batch_shape, 1)
    columns = {}
    for axis in plan.indexed:
        e = entries[axis]
        if e.kind == "point":
            value = _index_tensor(e.value, x, axis).value
            columns[axis] = shape_ops.broadcast_in_dim(value, column_shape, [])
        elif e.kind == "slice":
            iota = constant(np.arange(e.count, dtype=np.int32) * e.step + e.start).value
            dim = batch_dims.index(plan.layout.index(("axis", axis)))
            columns[axis] = shape_ops.broadcast_in_dim(iota, column_shape, [dim])
    array_dims = [batch_dims.index(plan.layout.index(("batch", j))) for j in range(len(shape))]
    columns.update(zip(axes, _array_columns(x, entries, axes, shape, batch_shape, array_dims)))
    return shape_ops.concatenate([columns[a] for a in plan.indexed], len(batch_shape))


def _gather(x: Tracer, entries) -> Tracer:
    """Integer-array indexing as one gather; unit-step slices are sliced first and read whole
    (IREE 3.13 miscompiles a gather of a reversed, strided slice, so those are indexed)."""
    plan = _plan(x, entries, reversed_windows=False)
    if any(x.shape[a] is None for a in plan.window_axes):
        raise TracingError(f"{caller_site()}: gathering from an array of dynamic shape "
                           f"{shape_text(x.shape)} needs the dynamic axes to be indexed")
    box = [_Entry("slice", lo, n, 1) for lo, n in zip(plan.low, plan.box)]
    region = _static_slices(x, box)
    batch_dims = [p for p in range(len(plan.layout)) if p not in plan.window]
    batch_shape = [plan.shape[p] for p in batch_dims]
    indices = _index_vectors(region, entries, plan, batch_dims, batch_shape)
    value = index_ops.gather(region.value, indices, offset_dims=plan.window,
                             collapsed_slice_dims=plan.indexed, start_index_map=plan.indexed,
                             index_vector_dim=len(batch_shape),
                             slice_sizes=[1 if a in plan.indexed else n
                                          for a, n in enumerate(plan.box)])
    return Tracer(value, x.weak_type)


# ---- x.at[index].set(v) and friends ------------------------------------------------------------


def _scatter(x, index, values, combine) -> Tracer:
    """x.at[index] combined with values, as one scatter.

    Windows are scattered whole; points, arrays and strided slices go through the index tensor,
    whose batch dims are the other dims of the update. IREE 3.13 needs windows that start at 0,
    so the windows' bounding box is sliced out, scattered into, and put back.
    """
    x = to_tracer(x)
    original_shape = x.shape
    x, entries = _parse(x, index)
    if None in x.shape:
        raise TracingError(f"{caller_site()}: x.at[...] on an array of dynamic shape "
                           f"{shape_text(x.shape)} is not supported")
    plan = _plan(x, entries, reversed_windows=True)
    update = broadcast_to(astype(values, x.dtype), plan.shape).value
    update = shape_ops.reverse(update, [p for p in plan.window
                                        if entries[plan.layout[p][1]].step < 0])
    sliced = plan.box != list(x.shape)
    region = x.value
    if sliced:
        region = shape_ops.slice(region, plan.low, [lo + n for lo, n in zip(plan.low, plan.box)])
    if not plan.indexed:
        region = combine(region, update)
    else:
        batch_dims = [p for p in range(len(plan.layout)) if p not in plan.window]
        batch_shape = [plan.shape[p] for p in batch_dims]
        indices = _index_vectors(x, entries, plan, batch_dims, batch_shape)
        dims = {"update_window_dims": plan.window, "inserted_window_dims": plan.indexed,
                "input_batching_dims": [], "scatter_indices_batching_dims": [],
                "scatter_dims_to_operand_dims": plan.indexed,
                "index_vector_dim": len(batch_shape)}
        region = index_ops.scatter_for_iree(region, indices, update, dims, combine)
    if sliced:
        starts = [constant(np.int32(lo)).value for lo in plan.low]
        region = shape_ops.dynamic_update_slice(x.value, region, starts)
    out = Tracer(region, x.weak_type)
    return reshape(out, original_shape) if out.shape != original_shape else out


# ---- JAX's index modes: 'fill', 'clip', 'drop', 'promise_in_bounds' ------------------------

MODES = (None, "fill", "clip", "drop", "promise_in_bounds")


def _index_items(x: Tracer, index) -> list:
    """index's items with Ellipsis expanded, each as (item, the axis of x it indexes or None)."""
    items = [_as_index_item(item) for item in (index if isinstance(index, tuple) else (index,))]
    used = sum(item is not None and item is not Ellipsis for item in items)
    at = next((i for i, item in enumerate(items) if item is Ellipsis), len(items))
    items = items[:at] + [slice(None)] * (x.ndim - used) + items[at + 1:]
    out, axis = [], 0
    for item in items:
        out.append((item, None if item is None else axis))
        axis += item is not None
    return out


def _is_integer_index(item) -> bool:
    return isinstance(item, (int, np.ndarray, Tracer))


def _clipped(x: Tracer, items) -> tuple:
    """The index with every integer index wrapped when negative and clamped into its axis."""
    out = []
    for item, axis in items:
        size = None if axis is None else x.shape[axis]
        if _is_integer_index(item) and size is not None:
            if isinstance(item, Tracer):
                item = clip(select(item < 0, item + size, item), 0, size - 1)
            else:
                item = np.clip(np.where(np.asarray(item) < 0, item + size, item), 0, size - 1)
        out.append(item)
    return tuple(out)


def _out_of_range(x: Tracer, item, axis) -> bool:
    if not isinstance(item, (int, np.ndarray)) or axis is None or x.shape[axis] is None:
        return False
    size = x.shape[axis]
    return bool(np.any((np.asarray(item) < -size) | (np.asarray(item) >= size)))


def _default_fill(dtype: np.dtype):
    """JAX's fill for out-of-range reads: NaN, the smallest signed or largest unsigned int, True."""
    if dtypes.is_bool(dtype):
        return True
    if dtypes.is_int(dtype):
        info = np.iinfo(dtype)
        return info.min if info.min < 0 else info.max
    return np.nan


def _get_filled(x: Tracer, index, fill_value) -> Tracer:
    """x[index] where every integer index is in [-size, size), fill_value elsewhere."""
    items = _index_items(x, index)
    out = getitem(x, _clipped(x, items))
    arrays = [p for p, (item, _) in enumerate(items) if _is_integer_index(item)]
    valid = None
    for p in arrays:
        item, axis = items[p]
        size = x.shape[axis]
        if size is None:
            continue
        ok = (item >= -size) & (item < size)
        valid = ok if valid is None else valid & ok
    if valid is None:
        return out
    valid = asarray(valid)
    if valid.ndim:  # the broadcast index dims sit where NumPy puts them
        adjacent = arrays == list(range(arrays[0], arrays[-1] + 1))
        before = arrays[0] if adjacent else 0
        after = out.ndim - before - valid.ndim
        valid = reshape(valid, (1,) * before + valid.shape + (1,) * after)
    fill = _default_fill(out.dtype) if fill_value is None else fill_value
    return select(valid, out, asarray(fill, out.dtype))


def _check_mode(mode) -> None:
    if mode not in MODES:
        raise TracingError(f"{caller_site()}: index mode must be one of {MODES[1:]} or None, got "
                           f"{mode!r}")


class _IndexUpdateRef:
    """`x.at[index]`: the functional updates of JAX (each returns a new array).

    mode: reads clamp out-of-range indices by default ('clip', 'promise_in_bounds'), or give
    fill_value with 'fill'; updates drop them by default ('drop', 'fill', 'promise_in_bounds'),
    static ones too, or clamp them with 'clip'.
    """

    def __init__(self, x, index):
        self.x, self.index = x, index

    def get(self, mode=None, fill_value=None, **_) -> Tracer:
        """x[index]; mode='fill' gives fill_value (NaN, or an int's extreme) out of range."""
        _check_mode(mode)
        if mode == "fill":
            return _get_filled(to_tracer(self.x), self.index, fill_value)
        return getitem(self.x, self.index)

    def _update(self, values, combine, mode) -> Tracer:
        _check_mode(mode)
        x = to_tracer(self.x)
        items = _index_items(x, self.index)
        if mode == "clip":
            index = _clipped(x, items)
        else:  # static out-of-range indices become traced ones, which the scatter drops
            index = tuple(asarray(item) if _out_of_range(x, item, axis) else item
                          for item, axis in items)
        return _scatter(x, index, values, combine)

    def _scaled(self, values, mode) -> Tracer:
        """ones with x[index] multiplied by values, as JAX builds divide and power."""
        x = to_tracer(self.x)
        # a dense constant: IREE 3.13 scattered into a broadcast of 1 shared by two scatters
        ones = constant(np.ones(x.shape, x.dtype))
        return _IndexUpdateRef(ones, self.index)._update(values, ew.multiply, mode)

    def set(self, values, mode=None, **_) -> Tracer:
        """A copy of x with x[index] = values (broadcast and cast to x's dtype)."""
        return self._update(values, index_ops.set_update, mode)

    def add(self, values, mode=None, **_) -> Tracer:
        """A copy of x with values added at index; repeated indices accumulate (np.add.at)."""
        return self._update(values, ew.add, mode)

    def multiply(self, values, mode=None, **_) -> Tracer:
        """A copy of x with x[index] multiplied by values; repeated indices accumulate."""
        return self._update(values, ew.multiply, mode)

    def divide(self, values, mode=None, **_) -> Tracer:
        """A copy of x with x[index] divided by values (x must be inexact, as in JAX)."""
        return divide(self.x, self._scaled(values, mode))

    def power(self, values, mode=None, **_) -> Tracer:
        """A copy of x with x[index] raised to values."""
        return power(self.x, self._scaled(values, mode))

    def min(self, values, mode=None, **_) -> Tracer:
        """A copy of x with x[index] = minimum(x[index], values)."""
        return self._update(values, ew.minimum, mode)

    def max(self, values, mode=None, **_) -> Tracer:
        """A copy of x with x[index] = maximum(x[index], values)."""
        return self._update(values, ew.maximum, mode)

    mul = multiply


class IndexUpdateHelper:
    """`x.at[index].set(v)`, `.add(v)`, `.multiply(v)`, `.min(v)`, `.max(v)`, `.get()`.

    Example:
        >>> y = x.at[1:, 0].set(0.0)          # x itself is unchanged
        >>> counts = anp.zeros(5).at[labels].add(1.0)
    """

    def __init__(self, x):
        self.x = x

    def __getitem__(self, index) -> _IndexUpdateRef:
        return _IndexUpdateRef(self.x, index)


# ---- aotc.numpy functions ----------------------------------------------------------------------


def take(a, indices, axis=None, out=None, mode=None, unique_indices=False,
         indices_are_sorted=False, fill_value=None) -> Tracer:
    """Elements of `a` at `indices` along `axis` (the flattened array when None), as jnp.take.

    mode None or "fill" (JAX's default) wraps negative indices and gives fill_value (NaN, or an
    int's extreme) out of range; "clip" clamps every index into range, "wrap" takes indices
    modulo the axis size, "promise_in_bounds" clamps as x[i] does.

    Example:
        >>> anp.take(x, anp.array([2, 0]), axis=1)
    """
    a = to_tracer(a)
    if axis is None:
        a, axis = ravel(a), 0
    axis = normalize_axis("take", axis, a.ndim)
    size = a.shape[axis]
    if mode in ("clip", "wrap"):
        if size is None:
            raise TracingError(f"{caller_site()}: take with mode={mode!r} needs a static axis size")
        if isinstance(indices, Tracer):
            indices = clip(indices, 0, size - 1) if mode == "clip" else remainder(indices, size)
        else:
            indices = np.asarray(indices)
            indices = np.clip(indices, 0, size - 1) if mode == "clip" else indices % size
    elif mode in (None, "fill"):
        return _get_filled(a, (slice(None),) * axis + (indices,), fill_value)
    elif mode != "promise_in_bounds":
        raise TracingError(f"{caller_site()}: take: mode must be None, 'fill', 'clip', 'wrap' or "
                           f"'promise_in_bounds', got {mode!r}")
    return getitem(a, (slice(None),) * axis + (indices,))


def take_along_axis(arr, indices, axis=-1, mode=None, fill_value=None) -> Tracer:
    """result[..., j, ...] = arr[..., indices[..., j, ...], ...] along `axis`, as jnp's.

    Out-of-range indices give fill_value (NaN, or an int's extreme) by default, as in JAX;
    mode="clip" or "promise_in_bounds" clamps them instead.

    Example:
        >>> anp.take_along_axis(x, anp.argsort(x, axis=1), axis=1)
    """
    arr = to_tracer(arr)
    if axis is None:
        arr, axis = ravel(arr), 0
    axis = normalize_axis("take_along_axis", axis, arr.ndim)
    if np.ndim(indices) != arr.ndim:
        raise TracingError(f"{caller_site()}: take_along_axis: indices of rank {np.ndim(indices)} "
                           f"must have the rank of arr, {arr.ndim}")
    index = tuple(
        indices if d == axis
        else np.arange(n).reshape([-1 if i == d else 1 for i in range(arr.ndim)])
        for d, n in enumerate(arr.shape))
    if mode in (None, "fill"):
        return _get_filled(arr, index, fill_value)
    _check_mode(mode)
    return getitem(arr, index)
