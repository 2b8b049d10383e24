"""Indexing ops: stablehlo.gather and stablehlo.scatter, with numpy references following the spec.

Gather reads windows of the operand at start indices (clamped to stay in bounds); scatter combines
update windows into a copy of the operand through its update_computation region (out-of-bounds
update elements are skipped). Both take their dimension numbers as one attribute,
`#stablehlo.gather<...>` / `#stablehlo.scatter<...>`, parsed back with `dimension_numbers`.
Their JVP, transpose and batching rules sit at the end, with `scatter_for_iree` (the scatter
form IREE 3.13 lowers) and the per-lane dynamic slices that vmap of dynamic_slice uses.
"""

import re

import numpy as np

from aotc.frontend.core.emit import emit, emit1, i64_array
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.ir import ir, shape_of, tensor_type
from aotc.frontend.core.registry import defop, register
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.ops import shape as shape_ops
from aotc.frontend.ops import tensors as values
from aotc.frontend.ops.control import build_region
from aotc.frontend.ops.reduction import body_ufunc, reduce_binary
from aotc.frontend.ops.rules import deflinear, structural_jvp

GATHER_DIMS = ("offset_dims", "collapsed_slice_dims", "operand_batching_dims",
               "start_indices_batching_dims", "start_index_map")
SCATTER_DIMS = ("update_window_dims", "inserted_window_dims", "input_batching_dims",
                "scatter_indices_batching_dims", "scatter_dims_to_operand_dims")


def dimension_numbers(attr_text: str, names) -> dict:
    """Parse "#stablehlo.gather<offset_dims = [1], ..., index_vector_dim = 1>" (absent: [], 0)."""
    lists = {k: [int(d) for d in v.split(",") if d.strip()]
             for k, v in re.findall(r"(\w+) = \[([\d, ]*)\]", attr_text)}
    found = {k: lists.get(k, []) for k in names}
    vector_dim = re.search(r"index_vector_dim = (\d+)", attr_text)
    found["index_vector_dim"] = int(vector_dim[1]) if vector_dim else 0
    return found


def _dims_attr(kind: str, names, values, index_vector_dim: int) -> ir.Attribute:
    parts = [f"{name} = [{', '.join(str(int(d)) for d in dims)}]"
             for name, dims in zip(names, values) if len(dims)]
    parts.append(f"index_vector_dim = {int(index_vector_dim)}")
    return ir.Attribute.parse(f"#stablehlo.{kind}<{', '.join(parts)}>")


def _start_vectors(indices: np.ndarray, index_vector_dim: int) -> np.ndarray:
    """Start indices as batch shape + (k,): the index vector dim moved (or added) last."""
    if index_vector_dim == indices.ndim:
        return indices[..., None]
    return np.moveaxis(indices, index_vector_dim, -1)


def _batch_position(indices_dim: int, index_vector_dim: int) -> int:
    """Position among the batch dims of an indices dim (the index vector dim is not a batch dim)."""
    return indices_dim - (indices_dim > index_vector_dim)


def _operand_coordinates(full_shape, batch_dims, window_dims, operand_shape, starts, dims,
                         inserted, batching, indices_batching, to_operand, clamp_sizes=None):
    """For every position of a gather result or scatter update (shape `full_shape`), the operand
    index along each operand dim: start + batching index + window offset, as broadcastable arrays.
    """
    rank = len(full_shape)
    batch_shape = [full_shape[d] for d in batch_dims]

    def on_batch(a):  # an array over the batch dims, reshaped to broadcast over full_shape
        shape = [1] * rank
        for j, d in enumerate(batch_dims):
            shape[d] = batch_shape[j]
        return np.asarray(a).reshape(shape)

    window_operand_dims = [d for d in range(len(operand_shape))
                           if d not in inserted and d not in batching]
    coords = []
    for d, n in enumerate(operand_shape):
        coord = np.zeros([1] * rank, dtype=np.int64)
        if d in to_operand:
            start = starts[..., to_operand.index(d)].astype(np.int64)
            if clamp_sizes is not None:
                start = np.clip(start, 0, n - clamp_sizes[d])
            coord = coord + on_batch(start)
        if d in batching:
            j = _batch_position(indices_batching[batching.index(d)], dims["index_vector_dim"])
            iota = np.arange(batch_shape[j]).reshape([-1 if i == j else 1
                                                      for i in range(len(batch_shape))])
            coord = coord + on_batch(np.broadcast_to(iota, batch_shape))
        if d in window_operand_dims:
            w = window_dims[window_operand_dims.index(d)]
            coord = coord + np.arange(full_shape[w]).reshape([-1 if i == w else 1
                                                              for i in range(rank)])
        coords.append(np.broadcast_to(coord, full_shape))
    return coords


# ---- real_dynamic_slice: a static-stride slice of an array with dynamic dims ----------------


def _explicit_type(types, attrs):
    raise TypeError("this op's result type must be given by its builder")


def _real_dynamic_slice_impl(ctx, x, starts, limits, strides):
    return x[tuple(slice(int(lo), int(hi), int(st)) for lo, hi, st in zip(starts, limits, strides))]


defop("stablehlo.real_dynamic_slice", _explicit_type, _real_dynamic_slice_impl)


def real_dynamic_slice(x: ir.Value, starts: ir.Value, limits: ir.Value, strides: ir.Value,
                       shape) -> ir.Value:
    """`stablehlo.real_dynamic_slice`: starts, limits, strides are 1-D integer tensors; `shape`
    is the result's shape (None for dynamic dims)."""
    result = tensor_type(shape, ir.RankedTensorType(x.type).element_type)
    return emit1("stablehlo.real_dynamic_slice", [x, starts, limits, strides],
                 result_types=[result])


# ---- gather ------------------------------------------------------------------------------------


def _gather_shape(operand_shape, indices_shape, dims, slice_sizes) -> list:
    ivd = dims["index_vector_dim"]
    batch = [n for i, n in enumerate(indices_shape) if i != ivd]
    skipped = set(dims["collapsed_slice_dims"]) | set(dims["operand_batching_dims"])
    offsets = [slice_sizes[d] for d in range(len(operand_shape)) if d not in skipped]
    rank = len(batch) + len(offsets)
    batch_iter, offset_iter = iter(batch), iter(offsets)
    return [next(offset_iter) if p in dims["offset_dims"] else next(batch_iter)
            for p in range(rank)]


def _gather_type(types, attrs):
    dims = dimension_numbers(attrs.text("dimension_numbers"), GATHER_DIMS)
    shape = _gather_shape(shape_of(types[0]), shape_of(types[1]), dims,
                          attrs.ints("slice_sizes"))
    return [tensor_type(shape, ir.RankedTensorType(types[0]).element_type)]


def _gather_impl(ctx, operand, indices):
    dims = dimension_numbers(ctx.attrs.text("dimension_numbers"), GATHER_DIMS)
    slice_sizes = ctx.attrs.ints("slice_sizes")
    shape = _gather_shape(operand.shape, indices.shape, dims, slice_sizes)
    offset_dims = dims["offset_dims"]
    batch_dims = [d for d in range(len(shape)) if d not in offset_dims]
    starts = _start_vectors(indices, dims["index_vector_dim"])
    coords = _operand_coordinates(
        shape, batch_dims, offset_dims, operand.shape, starts, dims,
        dims["collapsed_slice_dims"], dims["operand_batching_dims"],
        dims["start_indices_batching_dims"], dims["start_index_map"], clamp_sizes=slice_sizes)
    return operand[tuple(coords)] if operand.ndim else np.broadcast_to(operand, shape)


defop("stablehlo.gather", _gather_type, _gather_impl)


def gather(operand: ir.Value, indices: ir.Value, offset_dims, collapsed_slice_dims,
           start_index_map, index_vector_dim: int, slice_sizes, operand_batching_dims=(),
           start_indices_batching_dims=(), indices_are_sorted: bool = False) -> ir.Value:
    """`stablehlo.gather`: windows of `slice_sizes` of operand at the start indices in `indices`.

    Example (rows 2 and 0 of a (3, 4) x, indices of shape (2, 1)):
        gather(x, idx, offset_dims=[1], collapsed_slice_dims=[0], start_index_map=[0],
               index_vector_dim=1, slice_sizes=[1, 4])
    """
    attr = _dims_attr("gather", GATHER_DIMS, [offset_dims, collapsed_slice_dims,
                                              operand_batching_dims, start_indices_batching_dims,
                                              start_index_map], index_vector_dim)
    return emit1("stablehlo.gather", [operand, indices], {
        "dimension_numbers": attr,
        "slice_sizes": i64_array(slice_sizes),
        "indices_are_sorted": ir.BoolAttr.get(indices_are_sorted),
    })


# ---- scatter -----------------------------------------------------------------------------------


def _scatter_type(types, attrs):
    return list(types[: (len(types) - 1) // 2])


def _returns_update(region: ir.Region) -> bool:
    """Whether a scatter body just returns its update argument (x.at[...].set)."""
    block = region.blocks[0]
    ops = list(block.operations)
    return len(ops) == 1 and list(ops[0].operands) == [block.arguments[1]]


def _scatter_impl(ctx, *operands):
    n = (len(operands) - 1) // 2
    inputs, indices, updates = operands[:n], operands[n], operands[n + 1:]
    dims = dimension_numbers(ctx.attrs.text("scatter_dimension_numbers"), SCATTER_DIMS)
    window_dims = dims["update_window_dims"]
    shape = updates[0].shape
    scatter_dims = [d for d in range(len(shape)) if d not in window_dims]
    starts = _start_vectors(indices, dims["index_vector_dim"])
    coords = _operand_coordinates(
        shape, scatter_dims, window_dims, inputs[0].shape, starts, dims,
        dims["inserted_window_dims"], dims["input_batching_dims"],
        dims["scatter_indices_batching_dims"], dims["scatter_dims_to_operand_dims"])
    valid = np.ones(shape, dtype=bool)
    for coord, size in zip(coords, inputs[0].shape):
        valid &= (coord >= 0) & (coord < size)
    where = tuple(c[valid] for c in coords)
    values = [u[valid] for u in updates]
    results = [np.array(x, dtype=ctx.result_dtype(i)) for i, x in enumerate(inputs)]
    ufunc = body_ufunc(ctx.region(0)) if n == 1 else None
    if n == 1 and _returns_update(ctx.region(0)):
        results[0][where] = values[0]
    elif ufunc is not None:
        if results[0].dtype == np.bool_ and ufunc in (np.bitwise_and, np.bitwise_or):
            ufunc = np.logical_and if ufunc is np.bitwise_and else np.logical_or
        ufunc.at(results[0], where, values[0].astype(results[0].dtype))
    else:
        for k in range(len(values[0])):
            point = tuple(c[k] for c in where)
            combined = ctx.run_region(0, *[r[point] for r in results], *[v[k] for v in values])
            for r, c in zip(results, combined):
                r[point] = c
    return results


defop("stablehlo.scatter", _scatter_type, _scatter_impl)


def scatter(operand: ir.Value, indices: ir.Value, updates: ir.Value, update_window_dims,
            inserted_window_dims, scatter_dims_to_operand_dims, index_vector_dim: int, combine,
            input_batching_dims=(), scatter_indices_batching_dims=(),
            indices_are_sorted: bool = False, unique_indices: bool = False) -> ir.Value:
    """`stablehlo.scatter` of one operand; combine(current, update) -> new value (scalar tensors).

    Example (add rows u[0], u[1] at rows idx[0], idx[1] of x; duplicates accumulate):
        scatter(x, idx, u, update_window_dims=[1], inserted_window_dims=[0],
                scatter_dims_to_operand_dims=[0], index_vector_dim=1, combine=ew.add)
    """
    attr = _dims_attr("scatter", SCATTER_DIMS, [update_window_dims, inserted_window_dims,
                                                input_batching_dims,
                                                scatter_indices_batching_dims,
                                                scatter_dims_to_operand_dims], index_vector_dim)
    op = emit("stablehlo.scatter", [operand, indices, updates], {
        "scatter_dimension_numbers": attr,
        "indices_are_sorted": ir.BoolAttr.get(indices_are_sorted),
        "unique_indices": ir.BoolAttr.get(unique_indices),
    }, result_types=[operand.type], regions=1)
    scalar = tensor_type((), ir.RankedTensorType(operand.type).element_type)
    build_region(op.regions[0], [scalar, scalar], lambda current, update: [combine(current,
                                                                                   update)])
    return op.result


def set_update(current: ir.Value, update: ir.Value) -> ir.Value:
    """The combine of a scatter that overwrites (x.at[...].set)."""
    return update


# ---- dynamic_slice / dynamic_update_slice with one start per batch lane (vmap) ----------------


def _lane_starts(starts, starts_batched, size: int) -> list[ir.Value]:
    """Each start as an i32 vector of `size`: one start per batch lane."""
    i32 = ir.IntegerType.get_signless(32)
    lanes = []
    for start, batched in zip(starts, starts_batched):
        start = ew.convert(start, i32)
        lanes.append(start if batched else shape_ops.broadcast_in_dim(start, (size,), []))
    return lanes


def _stack_columns(columns, shape) -> ir.Value:
    """Same-shaped i32 arrays stacked along a new last dim."""
    return shape_ops.concatenate([shape_ops.reshape(c, (*shape, 1)) for c in columns], len(shape))


def batched_dynamic_slice(x: ir.Value, x_batched: bool, starts, starts_batched, slice_sizes,
                          size: int) -> ir.Value:
    """dynamic_slice of each batch lane at its own starts, as one gather: (size, *slice_sizes).

    x has a leading batch dim when x_batched; each start is 0-d, or (size,) when batched. Starts
    are clamped into range like dynamic_slice's (gather clamps the same way).
    """
    i32 = ir.IntegerType.get_signless(32)
    columns = _lane_starts(starts, starts_batched, size)
    lead = [shape_ops.iota((size,), 0, i32)] if x_batched else []
    k, n = len(slice_sizes), len(lead)
    return gather(x, _stack_columns(lead + columns, (size,)), offset_dims=list(range(1, k + 1)),
                  collapsed_slice_dims=list(range(n)), start_index_map=list(range(n + k)),
                  index_vector_dim=1, slice_sizes=[1] * n + list(slice_sizes))


def batched_dynamic_update_slice(x: ir.Value, update: ir.Value, starts, starts_batched,
                                 size: int) -> ir.Value:
    """dynamic_update_slice of each batch lane at its own starts (x and update batched first).

    Starts are clamped so the update fits, like dynamic_update_slice's; the update is then
    scattered element by element (the scatter form IREE compiles for any rank).
    """
    i32 = ir.IntegerType.get_signless(32)
    x_shape, u_shape = shape_of(x), shape_of(update)
    columns = [shape_ops.iota(u_shape, 0, i32)]
    for d, start in enumerate(_lane_starts(starts, starts_batched, size), start=1):
        lo = shape_ops.constant(np.int32(0))
        hi = shape_ops.constant(np.int32(x_shape[d] - u_shape[d]))
        start = shape_ops.broadcast_in_dim(ew.clamp(lo, start, hi), u_shape, [0])
        columns.append(ew.add(start, shape_ops.iota(u_shape, d, i32)))
    rank = len(u_shape)
    return scatter(x, _stack_columns(columns, u_shape), update, update_window_dims=[],
                   inserted_window_dims=list(range(rank)),
                   scatter_dims_to_operand_dims=list(range(rank)), index_vector_dim=rank,
                   combine=set_update)


# ---- scatter in the form IREE 3.13 compiles ----------------------------------------------------


def _inverse(permutation) -> list[int]:
    return [permutation.index(i) for i in range(len(permutation))]


def scatter_for_iree(operand: ir.Value, indices: ir.Value, updates: ir.Value, dims: dict,
                     combine) -> ir.Value:
    """`scatter` with `dims` (SCATTER_DIMS + index_vector_dim) rewritten into the form IREE 3.13
    lowers: indexed dims leading, update batch dims first, index vector last.

    Applies when the indexed dims are exactly the inserted ones (no window offsets, no batching
    dims); other scatters are emitted as given.
    """
    inserted, to_operand = dims["inserted_window_dims"], dims["scatter_dims_to_operand_dims"]
    if dims["input_batching_dims"] or sorted(inserted) != sorted(to_operand):
        return scatter(operand, indices, updates, combine=combine, **dims)
    rank, k = len(shape_of(operand)), len(to_operand)
    permutation = list(to_operand) + [d for d in range(rank) if d not in inserted]
    window = dims["update_window_dims"]
    update_shape, index_shape = shape_of(updates), list(shape_of(indices))
    update_batch = [d for d in range(len(update_shape)) if d not in window]
    updates = shape_ops.transpose(updates, update_batch + window)
    vector_dim = dims["index_vector_dim"]
    if vector_dim == len(index_shape):
        index_shape.append(1)
        indices = shape_ops.reshape(indices, index_shape)
    batch = [d for d in range(len(index_shape)) if d != vector_dim]
    indices = shape_ops.transpose(indices, [*batch, vector_dim])
    if not update_batch:  # IREE wants at least one batch dim
        indices = shape_ops.reshape(indices, (1, k))
        updates = shape_ops.reshape(updates, (1, *shape_of(updates)))
    nb = max(len(update_batch), 1)
    out = scatter(shape_ops.transpose(operand, permutation), indices, updates,
                  update_window_dims=list(range(nb, nb + len(window))),
                  inserted_window_dims=list(range(k)), scatter_dims_to_operand_dims=list(range(k)),
                  index_vector_dim=nb, combine=combine)
    return shape_ops.transpose(out, _inverse(permutation))


# ---- autodiff rules ----------------------------------------------------------------------------

_COMBINE_OF_BODY = {"stablehlo.add": ew.add, "stablehlo.multiply": ew.multiply,
                    "stablehlo.maximum": ew.maximum, "stablehlo.minimum": ew.minimum,
                    "stablehlo.and": ew.and_, "stablehlo.or": ew.or_, "stablehlo.xor": ew.xor}


def _combine_of(ctx):
    """The builder of a scatter's update_computation: set, or one binary op."""
    region = ctx.op.regions[0]
    if _returns_update(region):
        return set_update
    if body_ufunc(region) is not None:
        return _COMBINE_OF_BODY[next(iter(region.blocks[0].operations)).operation.name]
    raise TracingError(f"{ctx.location}: this transform supports scatters whose body is one "
                       "binary op or returns the update (x.at[...].set/add/multiply/min/max)")


def _gather_dims(ctx) -> dict:
    return dimension_numbers(ctx.attrs.text("dimension_numbers"), GATHER_DIMS)


def _scatter_dims(ctx) -> dict:
    return dimension_numbers(ctx.attrs.text("scatter_dimension_numbers"), SCATTER_DIMS)


def _as_scatter_dims(dims: dict) -> dict:
    """Gather dimension numbers as the scatter that writes back where the gather read."""
    return {"update_window_dims": dims["offset_dims"],
            "inserted_window_dims": dims["collapsed_slice_dims"],
            "input_batching_dims": dims["operand_batching_dims"],
            "scatter_indices_batching_dims": dims["start_indices_batching_dims"],
            "scatter_dims_to_operand_dims": dims["start_index_map"],
            "index_vector_dim": dims["index_vector_dim"]}


def _highest_starts(indices: ir.Value, operand_shape, index_map, sizes, vector_dim):
    """The largest in-bounds start of each index component, shaped like `indices`."""
    shape = shape_of(indices)
    high = [operand_shape[d] - sizes[d] for d in index_map]
    high = shape_ops.constant(np.asarray(high if vector_dim < len(shape) else high[0]))
    return shape_ops.broadcast_in_dim(ew.convert(high, values.element(indices)), shape,
                                      [vector_dim] if vector_dim < len(shape) else [])


def _clamped_starts(indices: ir.Value, operand_shape, dims: dict, slice_sizes) -> ir.Value:
    """Start indices clamped the way gather clamps them, so a scatter writes where it read."""
    high = _highest_starts(indices, operand_shape, dims["start_index_map"], slice_sizes,
                           dims["index_vector_dim"])
    return ew.clamp(values.zeros_like(indices), indices, high)


def _drop_out_of_bounds(gathered: ir.Value, indices: ir.Value, operand_shape, dims: dict,
                        sizes) -> ir.Value:
    """Zero the windows a scatter skipped: those whose start is out of bounds."""
    vector_dim = dims["index_vector_dim"]
    high = _highest_starts(indices, operand_shape, dims["scatter_dims_to_operand_dims"], sizes,
                           vector_dim)
    valid = ew.and_(ew.compare("GE", indices, values.zeros_like(indices)),
                    ew.compare("LE", indices, high))
    if vector_dim < len(shape_of(indices)):
        valid = reduce_binary(valid, shape_ops.constant(np.True_), [vector_dim], ew.and_)
    shape, window = shape_of(gathered), dims["update_window_dims"]
    batch = [d for d in range(len(shape)) if d not in window]
    valid = shape_ops.broadcast_in_dim(valid, shape, batch)
    return ew.select(valid, gathered, values.zeros_like(gathered))


def _gather_transpose(ctx, cts, operands):
    dims, sizes = _gather_dims(ctx), ctx.attrs.ints("slice_sizes")
    operand_shape = shape_of(ctx.operand_types[0])
    if None in operand_shape:
        raise TracingError(f"{ctx.location}: reverse-mode through a gather from an array of "
                           "dynamic shape is not supported")
    indices = _clamped_starts(operands[1], operand_shape, dims, sizes)
    zeros = values.zeros_like(ctx.operand_types[0])
    return [scatter_for_iree(zeros, indices, cts[0], _as_scatter_dims(dims), ew.add), None]


def _scatter_windows(v: ir.Value, indices: ir.Value, dims: dict, update_type: ir.Type):
    """The gather that reads, from v (shaped like the scatter's operand), the window each update
    of the scatter writes: shaped like the updates. Returns (windows, slice sizes)."""
    update_shape = shape_of(update_type)
    windows = iter(update_shape[d] for d in dims["update_window_dims"])
    skipped = set(dims["inserted_window_dims"]) | set(dims["input_batching_dims"])
    sizes = [1 if d in skipped else next(windows) for d in range(len(shape_of(v)))]
    read = gather(v, indices, offset_dims=dims["update_window_dims"],
                  collapsed_slice_dims=dims["inserted_window_dims"],
                  start_index_map=dims["scatter_dims_to_operand_dims"],
                  index_vector_dim=dims["index_vector_dim"], slice_sizes=sizes,
                  operand_batching_dims=dims["input_batching_dims"],
                  start_indices_batching_dims=dims["scatter_indices_batching_dims"])
    return read, sizes


def _scatter_extremal_tangent(ctx, x, indices, u, x_dot, u_dot):
    """JAX's _scatter_extremal_jvp (scatter min/max): where several values tie for the result,
    operand and winning updates share its tangent equally."""
    dims, out = _scatter_dims(ctx), ctx.results[0]
    windows = lambda v: _scatter_windows(v, indices, dims, u.type)[0]
    count = lambda flags: windows(scatter_for_iree(values.zeros_like(x), indices, ew.select(
        flags, values.full_like(u, 1), values.zeros_like(u)), dims, ew.add))
    target = windows(out)
    won, kept = ew.compare("EQ", u, target), ew.compare("EQ", windows(x), target)
    winners = count(won)
    references = count(values.full_like(u, True, ir.IntegerType.get_signless(1)))
    one = values.full_like(u, 1)
    shared = ew.divide(one, ew.add(winners, one))
    update_coefficient = ew.select(won, ew.select(kept, shared, ew.divide(one, winners)),
                                   values.zeros_like(u))
    operand_coefficient = ew.divide(ew.subtract(ew.select(kept, shared, values.zeros_like(u)),
                                                one), references)
    updates = ew.add(ew.multiply(windows(x_dot), operand_coefficient),
                     ew.multiply(u_dot, update_coefficient))
    return scatter_for_iree(x_dot, indices, updates, dims, ew.add)


def _scatter_product_tangent(ctx, x, indices, u, x_dot, u_dot):
    """d(x * prod u_i) = x_dot * prod u_i + x * sum_i u_dot_i * prod_{k != i} u_k per position,
    with the products of the others exact when some u are zero (JAX refuses duplicate indices
    here; this is the same formula, which also covers them)."""
    dims = _scatter_dims(ctx)
    windows = lambda v: _scatter_windows(v, indices, dims, u.type)[0]
    out = ctx.op.clone()  # scatter-multiply of x_dot by the same updates
    out.operation.operands[0] = x_dot
    tangent = out.results[0]
    zero, one = values.zeros_like(u), values.full_like(u, 1)
    is_zero = ew.compare("EQ", u, zero)
    nonzero_product = windows(scatter_for_iree(values.full_like(x, 1), indices,
                                               ew.select(is_zero, one, u), dims, ew.multiply))
    zeros = windows(scatter_for_iree(values.zeros_like(x), indices,
                                     ew.select(is_zero, one, zero), dims, ew.add))
    others = ew.select(is_zero,
                       ew.select(ew.compare("EQ", zeros, one), nonzero_product, zero),
                       ew.select(ew.compare("EQ", zeros, zero),
                                 ew.divide(nonzero_product, ew.select(is_zero, one, u)), zero))
    from_updates = scatter_for_iree(values.zeros_like(x), indices, ew.multiply(u_dot, others),
                                    dims, ew.add)
    return ew.add(tangent, ew.multiply(x, from_updates))


def _scatter_jvp(ctx, primals, tangents):
    combine = _combine_of(ctx)
    if combine in (ew.add, set_update):
        return structural_jvp(0, 2)(ctx, primals, tangents)
    if combine not in (ew.multiply, ew.minimum, ew.maximum):
        raise TracingError(f"{ctx.location}: differentiating a scatter that combines with "
                           f"{ctx.op.regions[0].blocks[0].operations[0].name} is not supported")
    (x, indices, u), (x_dot, _, u_dot) = primals, tangents
    if values.is_zero(x_dot) and values.is_zero(u_dot):
        return [values.Zero.of(ctx.results[0])]
    x_dot, u_dot = values.instantiate(x_dot, x), values.instantiate(u_dot, u)
    rule = _scatter_product_tangent if combine is ew.multiply else _scatter_extremal_tangent
    return [rule(ctx, x, indices, u, x_dot, u_dot)]


def _scatter_transpose(ctx, cts, operands):
    ct, indices, dims = cts[0], operands[1], _scatter_dims(ctx)
    combine = _combine_of(ctx)
    operand_ct = update_ct = None
    if ctx.linear[0]:  # add passes ct through; set zeroes what it overwrote
        if combine is ew.multiply:  # the tangent scatter-multiplied by fixed updates
            operand_ct = values.clone_with(ctx.op, [ct, indices, operands[2]],
                                           [ct.type]).result
        else:
            operand_ct = ct if combine is ew.add else scatter_for_iree(
                ct, indices, values.zeros_like(ctx.operand_types[2]), dims, set_update)
    if ctx.linear[2]:
        update_ct, sizes = _scatter_windows(ct, indices, dims, ctx.operand_types[2])
        update_ct = _drop_out_of_bounds(update_ct, indices, shape_of(ct), dims, sizes)
    return [operand_ct, None, update_ct]


def _known_entries(v: ir.Value) -> list:
    """Entries of a 1-D index vector built from constants (an int each), or from the sizes of
    dims (("size", dim)); None for an entry computed otherwise."""
    owner = v.owner.operation if isinstance(v, ir.OpResult) else None
    name = owner.name if owner is not None else ""
    if name == "stablehlo.constant":
        return [int(d) for d in np.asarray(ir.DenseElementsAttr(owner.attributes["value"]))
                .reshape(-1)]
    if name == "stablehlo.reshape":
        return _known_entries(owner.operands[0])
    if name == "stablehlo.get_dimension_size":
        return [("size", ir.IntegerAttr(owner.attributes["dimension"]).value)]
    if name == "stablehlo.concatenate":
        return [e for part in owner.operands for e in _known_entries(part)]
    return [None] * max(1, *shape_of(v)[:1])


def _real_dynamic_slice_transpose(ctx, cts, operands):
    # ct spread out by the strides, then padded with zeros to the operand's extent
    ct, starts = cts[0], operands[1]
    strides = _known_entries(operands[3])
    if None in strides or any(isinstance(s, tuple) for s in strides):
        raise TracingError(f"{ctx.location}: reverse mode through a real_dynamic_slice needs "
                           "constant strides")
    zero = values.scalar(0, values.element(ct))
    rank, interior = len(strides), [s - 1 for s in strides]
    operand = ctx.operand_types[0]
    lows, limits = _known_entries(starts), _known_entries(operands[2])
    highs = []  # a static pad when starts are constants and dynamic dims are taken whole
    for d, (n, k, lo, hi, st) in enumerate(zip(shape_of(operand), shape_of(ct), lows, limits,
                                                strides)):
        if n is not None and k is not None and isinstance(lo, int):
            highs.append(n - lo - ((k - 1) * st + 1 if k else 0))
        elif n is None and k is None and lo == 0 and hi == ("size", d) and st == 1:
            highs.append(0)
        else:
            break
    if len(highs) == rank:  # one pad: IREE 3.13 miscompiled an edge pad of an interior pad
        return [shape_ops.pad(ct, zero, lows, highs, interior), None, None, None]
    spread = shape_ops.pad(ct, zero, [0] * rank, [0] * rank, interior) if any(interior) else ct
    zeros = values.zeros_like(ctx.like(0) if None in shape_of(operand) else operand)
    starts = [shape_ops.reshape(shape_ops.slice(starts, [d], [d + 1]), ()) for d in range(rank)]
    return [shape_ops.dynamic_update_slice(zeros, spread, starts), None, None, None]


deflinear("stablehlo.gather", _gather_transpose, operands=(0,))
deflinear("stablehlo.real_dynamic_slice", _real_dynamic_slice_transpose, operands=(0,))
register("jvp", "stablehlo.scatter", _scatter_jvp)
register("transpose", "stablehlo.scatter", _scatter_transpose)


# ---- batching rules (batch dimension first) ----------------------------------------------------


def _shifted(dims) -> list[int]:
    return [d + 1 for d in dims]


def _with_lane_index(indices: ir.Value, vector_dim: int) -> tuple[ir.Value, int]:
    """Batched indices with the lane number prepended to every index vector; the vector dim."""
    shape = list(shape_of(indices))
    if vector_dim == len(shape):
        shape.append(1)
        indices = shape_ops.reshape(indices, shape)
    lane_shape = list(shape)
    lane_shape[vector_dim] = 1
    lane = shape_ops.iota(lane_shape, 0, values.element(indices))
    return shape_ops.concatenate([lane, indices], vector_dim), vector_dim


def _gather_batch(ctx, operands, batched):
    (x, indices), (x_batched, indices_batched) = operands, batched
    dims, sizes = _gather_dims(ctx), ctx.attrs.ints("slice_sizes")
    offset = _shifted(dims["offset_dims"])
    if not indices_batched:  # the lane dim is one more window, read whole, first in the result
        return [gather(x, indices, offset_dims=[0, *offset],
                       collapsed_slice_dims=_shifted(dims["collapsed_slice_dims"]),
                       start_index_map=_shifted(dims["start_index_map"]),
                       index_vector_dim=dims["index_vector_dim"], slice_sizes=[ctx.size, *sizes],
                       operand_batching_dims=_shifted(dims["operand_batching_dims"]),
                       start_indices_batching_dims=dims["start_indices_batching_dims"])], [True]
    vector_dim = dims["index_vector_dim"] + 1
    if not x_batched:  # the lane dim of the indices is the first batch dim of the result
        return [gather(x, indices, offset_dims=offset,
                       collapsed_slice_dims=dims["collapsed_slice_dims"],
                       start_index_map=dims["start_index_map"], index_vector_dim=vector_dim,
                       slice_sizes=sizes, operand_batching_dims=dims["operand_batching_dims"],
                       start_indices_batching_dims=_shifted(
                           dims["start_indices_batching_dims"]))], [True]
    indices, vector_dim = _with_lane_index(indices, vector_dim)
    return [gather(x, indices, offset_dims=offset,
                   collapsed_slice_dims=[0, *_shifted(dims["collapsed_slice_dims"])],
                   start_index_map=[0, *_shifted(dims["start_index_map"])],
                   index_vector_dim=vector_dim, slice_sizes=[1, *sizes],
                   operand_batching_dims=_shifted(dims["operand_batching_dims"]),
                   start_indices_batching_dims=_shifted(
                       dims["start_indices_batching_dims"]))], [True]


def _scatter_batch(ctx, operands, batched):
    x, indices, updates = operands
    x = x if batched[0] else values.broadcast_batch(x, ctx.size)
    updates = updates if batched[2] else values.broadcast_batch(updates, ctx.size)
    dims, combine = _scatter_dims(ctx), _combine_of(ctx)
    new = {"update_window_dims": _shifted(dims["update_window_dims"]),
           "inserted_window_dims": _shifted(dims["inserted_window_dims"]),
           "input_batching_dims": _shifted(dims["input_batching_dims"]),
           "scatter_indices_batching_dims": dims["scatter_indices_batching_dims"],
           "scatter_dims_to_operand_dims": _shifted(dims["scatter_dims_to_operand_dims"]),
           "index_vector_dim": dims["index_vector_dim"]}
    if not batched[1]:  # the lane dim is one more window, written whole
        new["update_window_dims"] = [0, *new["update_window_dims"]]
    else:  # every index vector also names its lane
        indices, new["index_vector_dim"] = _with_lane_index(indices,
                                                            dims["index_vector_dim"] + 1)
        new["inserted_window_dims"] = [0, *new["inserted_window_dims"]]
        new["scatter_dims_to_operand_dims"] = [0, *new["scatter_dims_to_operand_dims"]]
        new["scatter_indices_batching_dims"] = _shifted(dims["scatter_indices_batching_dims"])
    return [scatter_for_iree(x, indices, updates, new, combine)], [True]


def _real_dynamic_slice_batch(ctx, operands, batched):
    x, bounds = operands[0], operands[1:]
    if any(batched[1:]):
        raise TracingError(f"{ctx.location}: vmap of a slice whose bounds depend on the mapped "
                           "axis is not supported (each lane would have its own shape); use "
                           "lax.dynamic_slice with a fixed size")
    lane = [0, ctx.size, 1]  # the batch dim is read whole: start 0, limit size, stride 1
    bounds = [shape_ops.concatenate([shape_ops.reshape(values.scalar(first, values.element(v)),
                                                       (1,)), v], 0)
              for first, v in zip(lane, bounds)]
    shape = (ctx.size, *shape_of(ctx.op.results[0]))
    return [real_dynamic_slice(x, *bounds, shape)], [True]


register("batch", "stablehlo.gather", _gather_batch)
register("batch", "stablehlo.real_dynamic_slice", _real_dynamic_slice_batch)
register("batch", "stablehlo.scatter", _scatter_batch)


# ---- dims (aotc.passes.dims) ----


def _real_dynamic_slice_dims(ctx):
    starts, limits, strides = ctx.content(1), ctx.content(2), ctx.content(3)
    if None in (starts, limits, strides):
        return [None]
    return [[limit if start == 0 and stride == 1 else None
             for start, limit, stride in zip(starts, limits, strides)]]


register("dims", "stablehlo.real_dynamic_slice", _real_dynamic_slice_dims)
register("dims", "stablehlo.scatter",  # results are the inputs, updated
         lambda ctx: [ctx.dims(i) for i in range(len(ctx.op.results))])


# ---- bounds legalization (aotc.passes.bounds): what IREE 3.13 does not enforce ----------------


def _index_bounds(indices: ir.Value, x: ir.Value, index_map, sizes, vector_dim: int):
    """The largest in-bounds start of each index component, shaped like `indices`; None when
    `indices` is a constant already in range. sizes[d]: the window size along operand dim d."""
    element = values.element(indices)
    highs = [shape_ops.start_bound(x, d, sizes[d], element) for d in index_map]
    shape = shape_of(indices)
    implicit = vector_dim == len(shape)
    if all(isinstance(h, int) for h in highs):
        known = shape_ops.constant_ints(indices)
        high = np.asarray(highs, _numpy_dtype(element))
        if known is not None and np.all(known >= 0) and np.all(
                np.moveaxis(known[..., None] if implicit else known, vector_dim, -1) <= high):
            return None
        high = shape_ops.constant(high[0] if implicit else high)
    elif implicit:
        high = highs[0]
    else:
        high = shape_ops.concatenate([shape_ops.reshape(
            values.scalar(h, element) if isinstance(h, int) else h, (1,)) for h in highs], 0)
    dims = [] if implicit else [vector_dim]
    if None in shape:
        return shape_ops.broadcast_in_dim(high, shape, dims, values.shape_tensor_of(indices))
    return shape_ops.broadcast_in_dim(high, shape, dims)


def _numpy_dtype(element: ir.Type) -> np.dtype:
    from aotc.frontend.core import dtypes

    return np.dtype(dtypes.from_mlir(element))


def _broadcast_like(v: ir.Value, like: ir.Value, dims) -> ir.Value:
    shape = shape_of(like)
    if None in shape:
        return shape_ops.broadcast_in_dim(v, shape, dims, values.shape_tensor_of(like))
    return shape_ops.broadcast_in_dim(v, shape, dims)


def _gather_bounds(ctx, operands):
    # StableHLO clamps each start into [0, operand_dim - slice_size]; IREE reads out of bounds
    x, indices = operands
    dims = _gather_dims(ctx)
    high = _index_bounds(indices, x, dims["start_index_map"], ctx.attrs.ints("slice_sizes"),
                         dims["index_vector_dim"])
    if high is None or not dims["start_index_map"]:
        return None
    clamped = ew.clamp(values.zeros_like(indices), indices, high)
    return list(values.clone_with(ctx.op, [x, clamped], ctx.result_types).results)


def _scatter_window_sizes(x: ir.Value, updates: ir.Value, dims: dict) -> list:
    """The update window's size along each operand dim (1 on inserted and batching dims)."""
    skipped = set(dims["inserted_window_dims"]) | set(dims["input_batching_dims"])
    windows = iter(dims["update_window_dims"])
    return [1 if d in skipped else shape_ops.window_size(updates, next(windows))
            for d in range(len(shape_of(x)))]


_DROPPED_UPDATE = {  # the update that leaves an element as it is, by combiner
    np.add: lambda dt: -0.0 if np.issubdtype(dt, np.floating) else 0,
    np.multiply: lambda dt: 1,
    np.maximum: lambda dt: -np.inf if np.issubdtype(dt, np.floating) else (
        False if dt == np.bool_ else np.iinfo(dt).min),
    np.minimum: lambda dt: np.inf if np.issubdtype(dt, np.floating) else (
        True if dt == np.bool_ else np.iinfo(dt).max),
    np.bitwise_and: lambda dt: True if dt == np.bool_ else np.iinfo(dt).max if np.issubdtype(
        dt, np.unsignedinteger) else -1,
    np.bitwise_or: lambda dt: 0,
    np.bitwise_xor: lambda dt: 0,
}


def _neutral_update(region: ir.Region, element: ir.Type):
    """The update a single-op scatter body ignores (0 for add, -inf for max, ...), or None."""
    ufunc, dt = body_ufunc(region), _numpy_dtype(element)
    if ufunc not in _DROPPED_UPDATE or not (np.issubdtype(dt, np.number) or dt == np.bool_):
        return None
    if np.issubdtype(dt, np.complexfloating) and ufunc not in (np.add, np.multiply):
        return None
    return _DROPPED_UPDATE[ufunc](dt)


def _scatter_bounds(ctx, operands):
    # XLA (and so JAX's .at[]) drops a whole update window that is not inside the operand;
    # IREE writes it anyway (into the next batch lane with input_batching_dims)
    n = (len(operands) - 1) // 2
    inputs, indices, updates = operands[:n], operands[n], operands[n + 1:]
    dims, x = _scatter_dims(ctx), operands[0]
    to_operand, vector_dim = dims["scatter_dims_to_operand_dims"], dims["index_vector_dim"]
    high = _index_bounds(indices, x, to_operand, _scatter_window_sizes(x, updates[0], dims),
                         vector_dim) if to_operand else None
    if high is None:
        return None
    zero = values.zeros_like(indices)
    clamped = ew.clamp(zero, indices, high)
    valid = ew.and_(ew.compare("GE", indices, zero), ew.compare("LE", indices, high))
    if vector_dim < len(shape_of(indices)):
        valid = reduce_binary(valid, shape_ops.constant(np.True_), [vector_dim], ew.and_)
    window = dims["update_window_dims"]
    update_batch = [d for d in range(len(shape_of(updates[0]))) if d not in window]
    neutral = _neutral_update(ctx.op.regions[0], values.element(x)) if n == 1 else None
    if neutral is not None:  # in-range index, update that changes nothing
        kept = ew.select(_broadcast_like(valid, updates[0], update_batch), updates[0],
                         values.full_like(updates[0], neutral))
        return list(values.clone_with(ctx.op, [x, clamped, kept], ctx.result_types).results)
    return _scatter_into_spare(ctx, inputs, indices, clamped, valid, updates)


def _scatter_into_spare(ctx, inputs, indices, clamped, valid, updates):
    """Any other scatter (set, other bodies, several operands): dropped windows write into a
    spare window padded onto the operands past their first indexed dim, then sliced off."""
    dims, x = _scatter_dims(ctx), inputs[0]
    shape, first = shape_of(x), dims["scatter_dims_to_operand_dims"][0]
    spare = _scatter_window_sizes(x, updates[0], dims)[first]
    if None in shape or not isinstance(spare, int):
        return None  # dynamic shapes: left as traced (see the pass's docstring)
    element, vector_dim = values.element(indices), dims["index_vector_dim"]
    if shape[first] > np.iinfo(_numpy_dtype(element)).max:
        element = ir.IntegerType.get_signless(32)
        clamped = ew.convert(clamped, element)
    index_shape = shape_of(indices)
    if vector_dim == len(index_shape):
        past_end = values.full_like(clamped, shape[first], element)
    else:
        k = index_shape[vector_dim]
        is_first = _broadcast_like(shape_ops.constant(np.arange(k) == 0), clamped, [vector_dim])
        past_end = ew.select(is_first, values.full_like(clamped, shape[first], element), clamped)
        valid = _broadcast_like(valid, clamped,
                                [d for d in range(len(index_shape)) if d != vector_dim])
    moved = ew.select(valid, clamped, past_end)
    high = [spare if d == first else 0 for d in range(len(shape))]
    padded = [shape_ops.pad(v, values.scalar(0, values.element(v)), [0] * len(shape), high)
              for v in inputs]
    new = values.clone_with(ctx.op, [*padded, moved, *updates], [p.type for p in padded])
    return [shape_ops.slice(r, [0] * len(shape), shape) for r in new.results]


register("bounds", "stablehlo.gather", _gather_bounds)
register("bounds", "stablehlo.scatter", _scatter_bounds)
