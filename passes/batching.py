"""Vectorization on StableHLO: `vmap(module, "f", in_axes)` adds the batched form of a function.

The new function takes each argument with an extra axis at in_axes[i] (None: not batched) and
returns each output with the batch axis at out_axes[i]. Inside, every batched value carries its
batch dimension first; each op's BATCH rule (beside the op in frontend/ops/) maps its operands,
some batched, to its batched results. The walk, with calls inlined on the fly, is the shared
Walker's. Ops without a rule raise MissingRuleError; nothing falls back to a Python loop.
"""

from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.ir import clone_remapped, ir, shape_of, tensor_type, uses_any
from aotc.frontend.ops import spmd as spmd_ops
from aotc.frontend.ops import tensors as values
from aotc.passes import functions as util
from aotc.passes.walker import RuleContext, Walker


class BatchContext(RuleContext):
    """What a BATCH rule sees: the source op, its attributes, the batch size, the walker."""

    def __init__(self, op: ir.Operation, walker: "BatchWalker"):
        super().__init__(op, walker)
        self.size = walker.size

    def batched_types(self, flags=None) -> list[ir.Type]:
        """The source op's result types, with the batch dim where flags say (default: all)."""
        flags = flags or [True] * len(self.op.results)
        return [values.with_batch(r.type, self.size) if f else r.type
                for r, f in zip(self.op.results, flags)]


class BatchWalker(Walker):
    """Re-emits a block's ops batched, at the current insertion point. A source value becomes
    (value, batched flag); a batched value carries its batch dimension first."""

    table = "batch"

    def __init__(self, module, size: int, axis_name: str | None = None):
        super().__init__(module)
        self.size = size
        self.axis_name = axis_name  # the collectives over this name run across the batch lanes
        self.batched: set = set()

    def bind(self, source: ir.Value, value) -> None:
        self.env[source], flag = value
        if flag:
            self.batched.add(source)
        else:
            self.batched.discard(source)

    def read(self, source: ir.Value):
        return self.env[source], source in self.batched

    def get(self, v: ir.Value) -> ir.Value:
        return self.env[v]

    def is_batched(self, v: ir.Value) -> bool:
        return v in self.batched

    def batch_block(self, block: ir.Block, args, flags):
        """Batch a block; returns (mapped terminator operands, their batched flags)."""
        outs = self.run_block(block, list(zip(args, flags)))
        return [v for v, _ in outs], [f for _, f in outs]

    def _over_batch_axis(self, op: ir.Operation) -> bool:
        """A collective over this vmap's axis_name depends on the lanes even when its operand
        does not (axis_index, psum of an unbatched value)."""
        return (self.axis_name is not None and spmd_ops.is_collective(op)
                and self.axis_name in spmd_ops.collective_config(op)["axes"])

    def visit(self, op: ir.Operation) -> list:
        if not uses_any(op, self.batched) and not self._over_batch_axis(op):
            return [(r, False) for r in clone_remapped(op, self.env).results]
        operands = [self.read(v) for v in op.operands]
        outs, flags = self.apply(self.rule(op), op, BatchContext(op, self),
                                 [v for v, _ in operands], [f for _, f in operands])
        return list(zip(outs, flags))


def _insert_axis(t: ir.Type, axis: int, size: int) -> ir.RankedTensorType:
    shape = list(shape_of(t))
    shape.insert(axis, size)
    return tensor_type(shape, values.element(t))


def _place_output(v: ir.Value, batched: bool, axis, size: int, what: str) -> ir.Value:
    """An output with its batch dim (first inside the pass) moved to `axis` (None: unbatched)."""
    if axis is None:
        if batched:
            raise TracingError(f"vmap: {what} depends on the mapped axis, but its out_axes is "
                               "None; give it an axis, or compute it from unmapped arguments "
                               "only")
        return v
    if not batched:
        v = values.broadcast_batch(v, size)
    rank = len(shape_of(v))
    if not -rank <= axis < rank:
        raise TracingError(f"vmap: out_axes {axis} is out of range for {what}, of rank "
                           f"{rank - 1} before batching")
    return values.move_axis(v, 0, axis % rank) if axis % rank else v


def vmap(module, fn_name: str, in_axes, axis_size: int, out_axes=0, *,
         name: str | None = None, private: bool = False, out_names=None,
         axis_name: str | None = None) -> str:
    """Add the batched form of `fn_name`; returns the new function's name.

    in_axes: one int or None per argument (negative ints count from the end of the batched
    argument). out_axes: an int or None for all outputs, or one per output. out_names: how
    error messages call the outputs (default: "output 0 of 'f'", ...). axis_name: the name the
    collectives of the function (`@aotc.collective`, e.g. aotc.lax.psum(x, axis_name)) use for
    the batch axis; they then run across the batch lanes.
    """
    fn = util.find_function(module, fn_name)
    ftype = util.function_type(fn)
    inputs, results = list(ftype.inputs), list(ftype.results)
    if len(in_axes) != len(inputs):
        raise TracingError(f"vmap: {len(in_axes)} in_axes for {len(inputs)} arguments of "
                           f"'{fn_name}'")
    axes = []
    for i, (t, axis) in enumerate(zip(inputs, in_axes)):
        if axis is None:
            axes.append(None)
            continue
        rank = len(shape_of(t)) + 1
        if not -rank <= axis < rank:
            raise TracingError(f"vmap: in_axes {axis} is out of range for argument {i} of "
                               f"rank {rank - 1}")
        axes.append(axis % rank)
    if not isinstance(out_axes, (list, tuple)):
        out_axes = [out_axes] * len(results)
    if len(out_axes) != len(results):
        raise TracingError(f"vmap: {len(out_axes)} out_axes for {len(results)} outputs of "
                           f"'{fn_name}'")
    name = name or util.fresh_name(module, f"{fn_name}_vmap")
    with util.module_op(module).context, fn.location:
        arg_types = [t if a is None else _insert_axis(t, a, axis_size)
                     for t, a in zip(inputs, axes)]
        new_fn, entry = util.new_function(module, name, arg_types, private, fn.location)
        try:
            with ir.InsertionPoint(entry):
                args = [a if axis in (None, 0) else values.move_axis(a, axis, 0)
                        for a, axis in zip(entry.arguments, axes)]
                walker = BatchWalker(module, axis_size, axis_name)
                outs, flags = walker.batch_block(util.entry_block(fn), args,
                                                 [a is not None for a in axes])
                names = out_names or [f"output {k} of '{fn_name}'" for k in range(len(outs))]
                final = [_place_output(v, batched, axis, axis_size, what)
                         for v, batched, axis, what in zip(outs, flags, out_axes, names)]
                util.finish_function(new_fn, final)
        except Exception:
            new_fn.operation.erase()  # leave the module as it was
            raise
    util.verify_after(new_fn, "batching (vmap)")
    return name
